"""The one SQLAlchemy ``MetaData`` every capability's ``tables.py`` registers on.

A naming convention makes constraint names stable, so Alembic migrations are the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Dialect, MetaData, Numeric, TypeDecorator
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


class UtcDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that always gives back an aware UTC ``datetime``.

    Every stamp the platform stores is UTC (``Clock.now()``). PostgreSQL returns it with its
    zone; SQLite stores text without an offset and returned a naive ``datetime``, which the API
    then printed without a zone (a client in UTC+8 read it 8 hours off), and each reader had to
    remember to add UTC. Here an aware value is stored as UTC and every value read is aware UTC,
    on both engines. The column type in the database (and so in the migrations) is unchanged.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:  # naive values are taken to be UTC already
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
