"""Alembic configured in code (no ini file) so the installed package migrates itself;
``hpf.schema.upgrade`` runs it."""

from __future__ import annotations

from alembic.config import Config
from sqlalchemy import Engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", "hpf.db:migrations")
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ini interpolation
    return config
