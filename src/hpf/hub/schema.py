"""The hub's schema and ``hpf hub upgrade``: its own Alembic migrations, apart from the center's."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from hpf.db.engine import write_transaction


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", "hpf.hub:migrations")
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the hub's database to ``revision``."""
    with write_transaction(engine) as conn:
        config = alembic_config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
