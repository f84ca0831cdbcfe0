"""Foreign keys of partitioned tables on a real PostgreSQL (issue 12): a lookup reads each
leaf partition's own index, so a key indexed on every partition but not on the parent is
served; one indexed on some partitions names the others. Every printed fix is run, in
order, on this throwaway database, and the audit after it is clean."""

from __future__ import annotations

import psycopg
import pytest

from helpers import check, perfcheck

SCHEMA = """
CREATE TABLE customers (id bigint PRIMARY KEY);
INSERT INTO customers SELECT g FROM generate_series(1, 200) g;
-- Healthy look-alike: no index on the parent, one on each leaf, one leaf created apart (its
-- column numbers differ from the parent's) and one leaf a level down.
CREATE TABLE orders (id bigint, at date, customer_id bigint REFERENCES customers) PARTITION BY RANGE (at);
CREATE TABLE orders_2025 PARTITION OF orders FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE orders_2026 (note text, customer_id bigint, at date, id bigint);
ALTER TABLE orders_2026 DROP COLUMN note;
ALTER TABLE orders ATTACH PARTITION orders_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE orders_2027 PARTITION OF orders FOR VALUES FROM ('2027-01-01') TO ('2028-01-01') PARTITION BY RANGE (at);
CREATE TABLE orders_2027_h1 PARTITION OF orders_2027 FOR VALUES FROM ('2027-01-01') TO ('2027-07-01');
CREATE TABLE orders_2027_h2 PARTITION OF orders_2027 FOR VALUES FROM ('2027-07-01') TO ('2028-01-01');
INSERT INTO orders SELECT g, date '2025-01-01' + (g % 1090), g % 200 + 1 FROM generate_series(1, 60000) g;
CREATE INDEX orders_2025_customer ON orders_2025 (customer_id);
CREATE INDEX orders_2026_customer ON orders_2026 (customer_id, id);
CREATE INDEX orders_2027_h1_customer ON orders_2027_h1 (customer_id);
CREATE INDEX orders_2027_h2_customer ON orders_2027_h2 USING hash (customer_id);
-- Planted: indexed on one partition of two.
CREATE TABLE payments (id bigint, at date, customer_id bigint REFERENCES customers) PARTITION BY RANGE (at);
CREATE TABLE payments_2025 PARTITION OF payments FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE payments_2026 PARTITION OF payments FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO payments SELECT g, date '2025-01-01' + (g % 700), g % 200 + 1 FROM generate_series(1, 6000) g;
CREATE INDEX payments_2025_customer ON payments_2025 (customer_id);
-- Planted: no index anywhere, two levels of partitions.
CREATE TABLE refunds (id bigint, at date, customer_id bigint REFERENCES customers) PARTITION BY RANGE (at);
CREATE TABLE refunds_2025 PARTITION OF refunds FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE refunds_2026 PARTITION OF refunds FOR VALUES FROM ('2026-01-01') TO ('2027-01-01') PARTITION BY LIST (customer_id);
CREATE TABLE refunds_2026_a PARTITION OF refunds_2026 FOR VALUES IN (1, 2, 3);
CREATE TABLE refunds_2026_rest PARTITION OF refunds_2026 DEFAULT;
INSERT INTO refunds SELECT g, date '2025-01-01' + (g % 700), g % 200 + 1 FROM generate_series(1, 6000) g;
ANALYZE;
"""

# The leaves' indexes are ~1 MB; none was ever scanned.
CONFIG = "checks:\n  db.unused_indexes:\n    thresholds: {min_size_bytes: 8192}\n"


def audit(database, tmp_path) -> dict:
    config = tmp_path / "perfcheck.yaml"
    config.write_text(CONFIG)
    run = perfcheck("audit", "--db", database.url, "--config", str(config), "--only", "db.fk_indexes",
                    "--only", "db.unused_indexes", "--format", "json")
    assert run.code in (0, 1), run.err
    return run.json


def fk_findings(report) -> dict[str, dict]:
    return {f["evidence"]["constraint"]: f for f in check(report, "db.fk_indexes")["findings"]}


def run_fix(database, fix: str) -> None:
    """Each statement on its own, in autocommit: CONCURRENTLY cannot run in a transaction."""
    with psycopg.connect(database.url, autocommit=True) as conn:
        for statement in fix.split("\n"):
            conn.execute(statement)


@pytest.fixture
def partitioned(database):
    database.execute(SCHEMA)
    return database


def test_partitioned_foreign_keys_judged_per_leaf(partitioned, tmp_path):
    database = partitioned
    report = audit(database, tmp_path)
    fks = fk_findings(report)
    # Served on every leaf (a btree leading with it, a hash, a leaf attached with other
    # column numbers, a leaf a level down): the lookup uses them, as EXPLAIN shows.
    assert "orders_customer_id_fkey" not in fks, fks.get("orders_customer_id_fkey")
    with psycopg.connect(database.url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT 1 FROM orders WHERE customer_id = 7"))
    for name in ("orders_2025_customer", "orders_2026_customer", "orders_2027_h1_customer", "orders_2027_h2_customer"):
        assert name in plan, plan
    assert check(report, "db.fk_indexes")["metrics"]["served_per_partition"] == 1
    # Some leaves only: the others named, each given its index (CONCURRENTLY, safe).
    some = fks["payments_customer_id_fkey"]
    assert some["evidence"]["partitions_without_index"] == ["public.payments_2026"]
    assert "1 of 2 partitions of public.payments" in some["message"] and "public.payments_2026" in some["message"]
    assert some["fix"] == "CREATE INDEX CONCURRENTLY IF NOT EXISTS payments_2026_customer_id_idx ON public.payments_2026 (customer_id);"
    assert some["fix_applicability"] == "safe" and some["severity"] == "warn"
    # None anywhere: ON ONLY each partitioned table, CONCURRENTLY each leaf, attach, deepest first.
    none = fks["refunds_customer_id_fkey"]
    assert none["severity"] == "warn" and "writes are not blocked" in none["message"]
    steps = none["fix"].split("\n")
    assert steps[0] == "CREATE INDEX IF NOT EXISTS refunds_customer_id_idx ON ONLY public.refunds (customer_id);"
    assert not any("CONCURRENTLY" in s and "ON ONLY" in s for s in steps)
    assert {s.split(" ON ")[1] for s in steps if "CONCURRENTLY" in s} == {
        "public.refunds_2025 (customer_id);", "public.refunds_2026_a (customer_id);", "public.refunds_2026_rest (customer_id);"}
    assert steps[-1] == "ALTER INDEX public.refunds_customer_id_idx ATTACH PARTITION public.refunds_2026_customer_id_idx;"
    assert len(fks) == 2, list(fks)
    # A leaf's own index that serves a foreign key is never "unused" (an unrelated one is).
    unused = {f["object"] for f in check(report, "db.unused_indexes")["findings"]}
    assert not unused & {"public.orders_2025_customer", "public.orders_2026_customer",
                         "public.orders_2027_h1_customer", "public.orders_2027_h2_customer", "public.payments_2025_customer"}

    for finding in (some, none):
        run_fix(database, finding["fix"])
    with psycopg.connect(database.url) as conn:
        valid = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'refunds_customer_id_idx'::regclass").fetchone()[0]
    assert valid, "the parent's index stays invalid until every partition's is attached"
    after = audit(database, tmp_path)
    assert check(after, "db.fk_indexes")["status"] == "pass", check(after, "db.fk_indexes")


def test_an_unrelated_leaf_index_is_still_unused(partitioned, tmp_path):
    database = partitioned
    database.execute("CREATE INDEX orders_2025_id ON orders_2025 (id)")
    report = audit(database, tmp_path)
    unused = {f["object"] for f in check(report, "db.unused_indexes")["findings"]}
    assert "public.orders_2025_id" in unused
    assert "public.orders_2025_customer" not in unused
