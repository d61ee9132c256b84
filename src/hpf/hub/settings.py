"""The hub's settings, read once from the environment (``HPF_*``) by the hub's entry points.

The same names as the center's where they mean the same thing: ``HPF_DATABASE_URL`` (default the
SQLite file ``hpf-data/hub.sqlite3``), ``HPF_ENV``, ``HPF_MESSAGE_KEY_FILE`` (the hub's SM2 key
pairs, ``hpf hub keygen``); the hub's own: ``HPF_HUB_CODE`` (its 6-digit code in the envelopes,
default ``000000``), ``HPF_HUB_NAME``, ``HPF_MESSAGE_WINDOW_SECONDS`` (±300), ``HPF_DELIVER_EVERY_SECONDS`` (the worker's idle pause) and
``HPF_DELIVER_BACKOFF_SECONDS`` (the first retry's wait); the national warehouse (decision 0039):
``HPF_WAREHOUSE_DIR`` (default ``hpf-data/warehouse``), ``HPF_WAREHOUSE_ENGINE`` (``duckdb``, the
default, or ``spark``) and ``HPF_SPARK_MASTER`` (``local[2]``, or a cluster's ``spark://host:7077``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hpf.messages.protocol import WINDOW_SECONDS

DEFAULT_HUB_DATABASE = Path("hpf-data") / "hub.sqlite3"
DEFAULT_WAREHOUSE = Path("hpf-data") / "warehouse"


@dataclass(frozen=True)
class HubSettings:
    database_url: str
    env: str = "production"
    hub_code: str = "000000"
    hub_name: str = "全国住房公积金异地转移接续平台"
    key_file: str | None = None
    window_seconds: int = WINDOW_SECONDS
    max_body_bytes: int = 4 * 1024 * 1024
    deliver_every_seconds: float = 1.0  # the delivery worker's pause when nothing is due
    deliver_backoff_seconds: float = 1.0  # the first retry's wait, doubled each time (≤ 5 min)
    # The national warehouse (decision 0039): where the reports' Parquet files are kept, the
    # engine that answers (duckdb | spark) and, for spark, the cluster's master URL.
    warehouse_dir: Path = DEFAULT_WAREHOUSE
    warehouse_engine: str = "duckdb"
    spark_master: str = "local[2]"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> HubSettings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("HPF_DATABASE_URL") or f"sqlite:///{DEFAULT_HUB_DATABASE}",
            env=env.get("HPF_ENV") or "production",
            hub_code=env.get("HPF_HUB_CODE") or "000000",
            hub_name=env.get("HPF_HUB_NAME") or "全国住房公积金异地转移接续平台",
            key_file=env.get("HPF_MESSAGE_KEY_FILE") or None,
            window_seconds=int(env.get("HPF_MESSAGE_WINDOW_SECONDS") or WINDOW_SECONDS),
            deliver_every_seconds=float(env.get("HPF_DELIVER_EVERY_SECONDS") or 1.0),
            deliver_backoff_seconds=float(env.get("HPF_DELIVER_BACKOFF_SECONDS") or 1.0),
            warehouse_dir=Path(env.get("HPF_WAREHOUSE_DIR") or DEFAULT_WAREHOUSE),
            warehouse_engine=env.get("HPF_WAREHOUSE_ENGINE") or "duckdb",
            spark_master=env.get("HPF_SPARK_MASTER") or "local[2]",
        )
