"""Storage: engines for SQLite and PostgreSQL, the shared metadata, Alembic migrations."""
