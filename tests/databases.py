"""A fresh database per test, of the kind the fixture is parametrised with (SQLite or PostgreSQL).

Shared by the center's ``engine`` fixture (tests/conftest.py) and the hub's (tests/hub): a SQLite
file in the test's folder, or a database of the session's PostgreSQL cluster, dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from hpf.db.engine import make_engine
from hpf.db.testing import PgCluster

_numbers = itertools.count()


def fresh_database(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    *,
    stem: str,
    migrate: Callable[[Engine], None],
    template: str | None = None,
) -> Iterator[Engine]:
    """``request.param`` is ``sqlite`` or ``postgresql``; a PostgreSQL database is copied from
    ``template`` when one is given (already migrated), else created empty and migrated."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/{stem}.sqlite3")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = f"{stem}{os.getpid()}_{next(_numbers)}"
    admin = make_engine(cluster.url())
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")))
    engine = make_engine(cluster.url(name))
    if template is None:
        migrate(engine)
    yield engine
    engine.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # FORCE: a served app's audit sink may still hold its connection for a few idle seconds.
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()
