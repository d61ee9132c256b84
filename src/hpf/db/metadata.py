"""The one SQLAlchemy ``MetaData`` every capability's ``tables.py`` registers on.

A naming convention makes constraint names stable, so Alembic migrations are the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, MetaData, Numeric
from sqlalchemy.dialects import sqlite

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT on PostgreSQL.
Id = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
# Amounts in fen.
Fen = BigInteger
# Ratios such as 0.12 (NUMERIC(4,2) in the data standard; four places allow 0.075 steps).
Ratio = Numeric(6, 4, asdecimal=True)
