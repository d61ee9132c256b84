"""``hpf db upgrade``: Alembic migrations, then the reference data the code ships.

Alembic is configured in code (no ini file) so the installed package migrates itself.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from hpf.db.engine import write_transaction


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", "hpf.db:migrations")
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ini interpolation
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` and sync shipped reference data (chart, sequences)."""
    from hpf.accounts.service import ensure_sequences
    from hpf.ledger.service import sync_chart

    with write_transaction(engine) as conn:
        config = alembic_config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        sync_chart(conn)
        ensure_sequences(conn)
