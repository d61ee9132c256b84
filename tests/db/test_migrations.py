"""The models and the migrations describe the same schema, on both engines."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hpf.schema import metadata


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path):
    from hpf.db.engine import make_engine

    eng = make_engine(f"sqlite:///{tmp_path}/x/y.sqlite3")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
