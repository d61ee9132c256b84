"""The same SQL on Apache Spark (``local[2]``) gives the national figures DuckDB gives (decision
0039), on a small synthetic month of the warehouse. Needs the extra ``spark`` and Java 17
(``.ci/run`` installs both)."""

from __future__ import annotations

import os

import pytest

from hpf.hub import national, synthetic
from hpf.hub.warehouse import Warehouse

pytestmark = pytest.mark.slow


def test_spark_local_answers_every_national_statement_as_duckdb_does(tmp_path):
    pytest.importorskip("pyspark", reason="the optional extra 'spark' is not installed")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    files = synthetic.build(tmp_path / "month", centers=8, rows=4000)
    sqls = national.statements(synthetic.MONTH)
    duck = Warehouse(files)
    try:
        expected = {name: duck.query(sql) for name, sql in sqls.items()}
    finally:
        duck.close()
    assert len(expected["annual_center"]) == 8 and expected["member_persons"][0][0] > 0
    spark = Warehouse(files, engine="spark", spark_master="local[2]")
    for name, sql in sqls.items():
        assert national.normalise(spark.query(sql)) == national.normalise(expected[name]), name
