"""Index definitions (pg_get_indexdef) are fetched only for the indexes a selected check
may print, yet every finding that shows one still shows the server's own text."""

from __future__ import annotations

from perfcheck import checklist
from perfcheck.collectors.postgres.collector import PostgresCollector
from perfcheck.config import DEFAULTS

from helpers import check, perfcheck

SCHEMA = """
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int, status text, note text);
INSERT INTO orders (customer_id, status, note) SELECT g % 500, 'paid', 'n' || g FROM generate_series(1, 20000) g;
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE INDEX orders_customer_copy ON orders (customer_id);
CREATE TABLE customers (id bigserial PRIMARY KEY, name text);
INSERT INTO customers (name) SELECT 'c' || (g % 10) FROM generate_series(1, 100) g;
ANALYZE;
"""
INVALID = "CREATE UNIQUE INDEX CONCURRENTLY customers_name_key ON customers (name)"  # fails: duplicate names
INDEX_CHECKS = ("db.unused_indexes", "db.duplicate_indexes", "db.invalid_indexes")


def _plant(database) -> dict[str, str]:
    with database.connect() as conn:
        conn.execute(SCHEMA)
        try:
            conn.execute(INVALID)
        except Exception:
            pass  # leaves customers_name_key INVALID, as a failed concurrent build does
        # orders' primary key is scanned (the one index here that no check prints)
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT * FROM orders WHERE id = 7").fetchall()
    rows = database.execute("SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'i' AND n.nspname = 'public'")
    return dict(rows)


def _definitions(database, check_ids) -> dict[str, str | None]:
    collector = PostgresCollector(database.url, DEFAULTS["postgres"], [])
    collector.thresholds = {c: {**checklist.meta(c).thresholds, "min_size_bytes": 0} if c == "db.unused_indexes"
                            else dict(checklist.meta(c).thresholds) for c in check_ids}
    rows = collector.gather({"postgres.indexes"})["postgres.indexes"]
    return {row["name"]: row["definition"] for row in rows}


def test_definitions_printed_by_the_index_checks_are_the_servers(database, tmp_path):
    truth = _plant(database)
    config = tmp_path / "perfcheck.yaml"
    config.write_text("checks:\n  db.unused_indexes:\n    thresholds: {min_size_bytes: 0}\n")
    run = perfcheck("audit", "--db", database.url, "--config", str(config), "--format", "json",
                    *[arg for c in INDEX_CHECKS for arg in ("--only", c)])
    assert run.code in (0, 1), run.err
    report = run.json
    invalid = check(report, "db.invalid_indexes")["findings"]
    assert [f["evidence"]["definition"] for f in invalid] == [truth["customers_name_key"]]
    duplicate = check(report, "db.duplicate_indexes")["findings"]
    assert len(duplicate) == 1, duplicate
    shown = {duplicate[0]["evidence"]["definition"], duplicate[0]["evidence"]["covered_by_definition"]}
    assert shown == {truth["orders_customer_idx"], truth["orders_customer_copy"]}
    unused = {f["object"]: f["evidence"]["definition"] for f in check(report, "db.unused_indexes")["findings"]}
    assert unused["public.orders_status_idx"] == truth["orders_status_idx"]
    assert all(definition == truth[name.split(".")[1]] for name, definition in unused.items())


def test_definitions_only_for_indexes_a_selected_check_may_print(database):
    truth = _plant(database)
    found = _definitions(database, INDEX_CHECKS)
    # scanned, valid, alone on its leading column: no index check prints orders_pkey
    assert found["orders_pkey"] is None
    for name in ("customers_name_key", "orders_status_idx", "orders_customer_idx", "orders_customer_copy"):
        assert found[name] == truth[name], name
    # only db.invalid_indexes selected: only the invalid index's definition is fetched
    only_invalid = _definitions(database, ["db.invalid_indexes"])
    assert {name for name, definition in only_invalid.items() if definition} == {"customers_name_key"}
    assert only_invalid["customers_name_key"] == truth["customers_name_key"]
