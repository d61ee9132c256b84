"""A synthetic national month for the warehouse's bench and the Spark test (decision 0039).

``build(directory, centers=340, rows=17_000_000)`` writes, set-based in DuckDB (no Python loop
over rows), the Parquet files a month of reports would leave: the member-level data set of every
center (sizes skewed like real cities: a few large, many small; about 2 % of the persons also
hold an account in another center) and each center's indicators — those the annual report reads
computed from the center's own members, so that the figures agree, and filler codes up to about
70 figures a center like a real report. Files are partitioned by center and month
(``PARTITION_BY``); :func:`files` lists them for :class:`hpf.hub.warehouse.Warehouse`.
Deterministic: the same arguments write the same data.
"""

from __future__ import annotations

from pathlib import Path

from hpf.hub.warehouse import CurrentFiles

PROVINCES = (
    "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江", "安徽", "福建",
    "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州", "云南", "西藏",
    "陕西", "甘肃", "青海", "宁夏", "新疆",
)  # fmt: skip
MONTH = "2026-11"


def center_codes(centers: int) -> list[tuple[str, str, str]]:
    """(code, name, province) of each synthetic center."""
    return [
        (f"{100000 + i:06d}", f"第{i + 1}号住房公积金管理中心", PROVINCES[i % len(PROVINCES)])
        for i in range(centers)
    ]


def build(
    directory: Path,
    *,
    centers: int = 340,
    rows: int = 17_000_000,
    month: str = MONTH,
    threads: int | None = None,
) -> CurrentFiles:
    """Write the month under ``directory`` (kept: a second call with the same arguments reuses it)."""
    import duckdb

    stamp = directory / f"built-v2-{centers}-{rows}-{month}"
    if not stamp.exists():
        directory.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(":memory:")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        # Center sizes: weight (i+1)^-0.8 (Zipf-like), scaled to ``rows``; cumulative bounds.
        con.execute(
            f"""
            CREATE TABLE c AS
            WITH w AS (SELECT i, POWER(i + 1, -0.8) AS w FROM range({centers}) t(i)),
                 s AS (SELECT i, CAST(FLOOR(w / SUM(w) OVER () * {rows}) AS BIGINT) + 1 AS n FROM w)
            SELECT i, printf('%06d', 100000 + i) AS code, n,
                   SUM(n) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS first
            FROM s
            """
        )
        con.execute("UPDATE c SET first = 0 WHERE first IS NULL")
        members = directory / "members"
        con.execute(
            f"""
            COPY (
              SELECT c.code AS center_code, '{month}' AS period,
                     sha256(CAST(p AS VARCHAR)) AS person, CAST(hash(p) >> 1 AS BIGINT) AS person_key,
                     CASE WHEN hash(g) % 10 < 7 THEN '01' WHEN hash(g) % 10 < 9 THEN '02' ELSE '06' END AS state,
                     hash(g + 1) % 100 = 0 AS opened,
                     CASE WHEN hash(g) % 10 < 7 THEN CAST(20000 + hash(g + 2) % 300000 AS BIGINT) ELSE 0 END AS paid_fen,
                     CASE WHEN hash(g + 3) % 200 = 0 THEN CAST(hash(g + 4) % 500000 AS BIGINT) ELSE 0 END AS back_paid_fen,
                     CASE WHEN hash(g + 5) % 40 = 0 THEN CAST(100000 + hash(g + 6) % 5000000 AS BIGINT) ELSE 0 END AS withdrawn_fen,
                     CAST(CASE WHEN hash(g + 5) % 40 = 0 THEN 1 ELSE 0 END AS BIGINT) AS withdrawals,
                     CASE WHEN hash(g + 7) % 500 = 0 THEN CAST(hash(g + 8) % 3000000 AS BIGINT) ELSE 0 END AS transfer_in_fen,
                     CASE WHEN hash(g + 9) % 500 = 0 THEN CAST(hash(g + 10) % 3000000 AS BIGINT) ELSE 0 END AS transfer_out_fen,
                     CAST(0 AS BIGINT) AS interest_fen,
                     CAST(hash(g + 11) % 20000000 AS BIGINT) AS balance_fen,
                     CASE WHEN hash(g + 12) % 12 = 0 THEN CAST(10000000 + hash(g + 13) % 90000000 AS BIGINT) ELSE 0 END AS loan_fen,
                     CASE WHEN hash(g + 12) % 12 = 0 AND hash(g + 14) % 100 = 0 THEN CAST(hash(g + 15) % 500000 AS BIGINT) ELSE 0 END AS overdue_fen
              FROM c, LATERAL (SELECT c.first + k AS g, CASE WHEN hash((c.first + k) * 31) % 50 = 0
                                    THEN ((c.first + k) * 7919) % {rows} ELSE c.first + k END AS p FROM range(c.n) r(k))
            ) TO '{members}' (FORMAT parquet, PARTITION_BY (center_code, period), WRITE_PARTITION_COLUMNS true, COMPRESSION zstd, OVERWRITE_OR_IGNORE)
            """
        )
        indicators = directory / "indicators"
        sums = {
            "0301008101": "SUM(balance_fen)", "0301007201": "SUM(paid_fen + back_paid_fen)",
            "0301007301": "SUM(back_paid_fen)", "0301007601": "SUM(withdrawn_fen)",
            "0301003201": "COUNT(*) FILTER (WHERE paid_fen > 0)", "0301003901": "COUNT(*) FILTER (WHERE withdrawals > 0)",
            "0302000801": "SUM(loan_fen)", "0302000902": "SUM(overdue_fen)", "0301005101": "COUNT(*)",
            "0301010101": "SUM(balance_fen) * 16 // 10", "0301010701": "SUM(balance_fen) * 6 // 10",
            "9901000001": "SUM(balance_fen) // 1000", "0301000202": "COUNT(*) // 20 + 1",
            "0301003206": "COUNT(*) FILTER (WHERE paid_fen > 0)", "0302000101": "SUM(loan_fen) // 100",
        }  # fmt: skip
        figures = " UNION ALL ".join(
            f"SELECT center_code, period, '{code}' AS code, '' AS dim, CAST({expr} AS DECIMAL(20,4)) AS value "
            f"FROM read_parquet('{members}/*/*/*.parquet', hive_partitioning = false) GROUP BY center_code, period"
            for code, expr in sums.items()
        )
        filler = (
            f"SELECT c.code AS center_code, '{month}' AS period, printf('03019%05d', f) AS code, '' AS dim, "
            "CAST(hash(c.i * 100 + f) % 100000 AS DECIMAL(20,4)) AS value FROM c, range(55) t(f)"
        )
        con.execute(
            f"COPY ({figures} UNION ALL {filler}) TO '{indicators}' "
            "(FORMAT parquet, PARTITION_BY (center_code, period), WRITE_PARTITION_COLUMNS true, OVERWRITE_OR_IGNORE)"
        )
        con.close()
        stamp.touch()
    return files(directory, centers)


def files(directory: Path, centers: int) -> CurrentFiles:
    return CurrentFiles(
        indicators=sorted(str(p) for p in (directory / "indicators").rglob("*.parquet")),
        members=sorted(str(p) for p in (directory / "members").rglob("*.parquet")),
        centers=center_codes(centers),
    )
