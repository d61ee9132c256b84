"""The center's data warehouse (B5, decision 0037): a star schema in DuckDB beside the database,
built by month from the business packages' published reads (``build.py``), with member tags and
thematic data sets; the managers' dashboards over it (``dashboards.py``, ``pages.py``).

Personal data stays pseudonymised: a member is a keyed pseudonym, never a name, an ID number or
the account's own id."""
