"""Alembic environment: migrations run on the connection handed in by ``hpf.schema.upgrade``."""

from __future__ import annotations

from alembic import context

from hpf.db.engine import make_engine
from hpf.schema import metadata

config = context.config


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
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
