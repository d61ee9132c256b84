"""The warehouse's star schema in DuckDB (decision 0037): dimensions, facts, member tags,
thematic data sets and the build's own bookkeeping. Money is integer fen (BIGINT) throughout."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import duckdb

WAREHOUSE_FILE = "warehouse.duckdb"
SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS wh_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS build_month (month VARCHAR PRIMARY KEY, built_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS build_run (
    run INTEGER PRIMARY KEY, started_at TIMESTAMP NOT NULL, as_of DATE NOT NULL,
    months VARCHAR NOT NULL, seconds DOUBLE NOT NULL);

-- dimensions (the large ones without a key index: DuckDB loads and rewrites them faster
-- without one; the build writes each key once)
CREATE TABLE IF NOT EXISTS dim_date (
    day DATE PRIMARY KEY, month VARCHAR NOT NULL, year INTEGER NOT NULL, quarter INTEGER NOT NULL,
    month_end DATE NOT NULL);
CREATE TABLE IF NOT EXISTS dim_member (
    member_key VARCHAR NOT NULL, employer_key BIGINT NOT NULL, gender VARCHAR, age_band VARCHAR NOT NULL,
    income_band VARCHAR NOT NULL, deposit_years_band VARCHAR NOT NULL, state VARCHAR NOT NULL,
    as_of DATE NOT NULL);
CREATE TABLE IF NOT EXISTS dim_employer (
    employer_key BIGINT NOT NULL, employer_type VARCHAR NOT NULL, sector VARCHAR NOT NULL,
    size_band VARCHAR NOT NULL, region VARCHAR NOT NULL, members INTEGER NOT NULL, state VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS dim_reason (code VARCHAR PRIMARY KEY, name_zh VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS dim_business_type (code VARCHAR PRIMARY KEY, name_zh VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS dim_employer_type (code VARCHAR PRIMARY KEY, name_zh VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS dim_channel (code VARCHAR PRIMARY KEY, name_zh VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS dim_region (code VARCHAR PRIMARY KEY, name_zh VARCHAR NOT NULL);

-- facts (member_key: the keyed pseudonym of dim_member)
CREATE TABLE IF NOT EXISTS fact_member_movement (
    month VARCHAR NOT NULL, member_key VARCHAR NOT NULL, employer_key BIGINT NOT NULL,
    business_type VARCHAR NOT NULL, amount_fen BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS fact_withdrawal (
    month VARCHAR NOT NULL, day DATE NOT NULL, withdrawal_key BIGINT NOT NULL, member_key VARCHAR NOT NULL,
    employer_key BIGINT NOT NULL, reason VARCHAR NOT NULL, closes_account BOOLEAN NOT NULL,
    amount_fen BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS fact_loan_movement (
    month VARCHAR NOT NULL, day DATE NOT NULL, loan_key BIGINT NOT NULL, member_key VARCHAR NOT NULL,
    employer_key BIGINT NOT NULL, kind VARCHAR NOT NULL, amount_fen BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS fact_loan_snapshot (
    month VARCHAR NOT NULL, loan_key BIGINT NOT NULL, member_key VARCHAR NOT NULL, employer_key BIGINT NOT NULL,
    state VARCHAR NOT NULL, principal_fen BIGINT NOT NULL, outstanding_fen BIGINT NOT NULL,
    overdue_principal_fen BIGINT NOT NULL, days_past_due INTEGER NOT NULL, classification VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS fact_service (
    month VARCHAR NOT NULL, day DATE NOT NULL, application_key BIGINT NOT NULL, item_code VARCHAR NOT NULL,
    channel VARCHAR NOT NULL, state VARCHAR NOT NULL, member_key VARCHAR, employer_key BIGINT);
CREATE TABLE IF NOT EXISTS fact_balance (
    month VARCHAR NOT NULL, member_key VARCHAR NOT NULL, employer_key BIGINT NOT NULL,
    balance_fen BIGINT NOT NULL);

-- member tags and their written definitions
CREATE TABLE IF NOT EXISTS tag_definition (
    tag VARCHAR PRIMARY KEY, name_zh VARCHAR NOT NULL, definition_zh VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS member_tag (
    member_key VARCHAR NOT NULL, tag VARCHAR NOT NULL, as_of DATE NOT NULL);
"""

# The contributions among the ledger's business types (归集和提取业务类型): 汇缴, 补缴.
CONTRIBUTION_TYPES = ("01", "02")

CHANNEL_ZH = {"online": "网上办理", "counter": "柜台办理"}

# 统一社会信用代码 first character: the registering authority, the employer's sector here.
SECTOR_ZH = {
    "1": "机构编制登记",
    "2": "外交登记",
    "3": "司法行政登记",
    "4": "文化登记",
    "5": "民政登记",
    "6": "旅游登记",
    "7": "宗教登记",
    "8": "工会登记",
    "9": "市场监管登记",
    "A": "军队编制登记",
    "N": "农业登记",
    "Y": "其他登记",
}


@cache
def region_names() -> dict[str, str]:
    """行政区划 codes of the regions the center's employers are registered in, with names."""
    data: dict[str, str] = json.loads((Path(__file__).parent / "regions.json").read_text("utf-8"))
    return data


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse file, its schema created if new (never in read-only mode)."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(DDL)
    con.execute(
        "INSERT INTO wh_meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [str(SCHEMA_VERSION)]
    )
    return con
