"""The models and the migrations describe the same schema, on both engines."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hpf.db.schema import metadata

# Tables whose module other tests import (so they sit in the shared metadata) but whose
# revision is not written yet: hpf.security.audit's, added after the auth-wiring merge.
NOT_YET_MIGRATED = frozenset({"audit_log", "audit_head"})


def _migrated(obj, name, type_, reflected, compare_to):
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", None) not in NOT_YET_MIGRATED


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _migrated})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path):
    from hpf.db.engine import make_engine

    eng = make_engine(f"sqlite:///{tmp_path}/x/y.sqlite3")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
