"""Alembic environment of the hub's database (``hpf.hub.schema.upgrade`` runs it)."""

from __future__ import annotations

from alembic import context

from hpf.db.engine import make_engine
from hpf.hub.tables import hub_metadata

config = context.config
VERSION_TABLE = "hub_alembic_version"


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run_on(conn)


def _run_on(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=hub_metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
