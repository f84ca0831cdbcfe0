"""Database objects judged as pg-index-health and EXPLAIN judge them (issue 12), on a real
PostgreSQL, every fix run on the object it names: in a rolled-back transaction, or for real
on this throwaway database when it cannot run in one (CONCURRENTLY)."""

from __future__ import annotations

import psycopg
import pytest

from helpers import check, perfcheck

SCHEMA = """
CREATE TABLE authors (id bigint PRIMARY KEY);
INSERT INTO authors SELECT g FROM generate_series(1, 100) g;
CREATE TABLE posts (id bigserial PRIMARY KEY, author_id bigint REFERENCES authors, editor_id bigint REFERENCES authors,
                    reviewer_id bigint REFERENCES authors, body text);
INSERT INTO posts (author_id, editor_id, reviewer_id) SELECT g % 100 + 1, g % 100 + 1, g % 100 + 1 FROM generate_series(1, 3000) g;
CREATE INDEX posts_author_nn ON posts (author_id) WHERE author_id IS NOT NULL;
CREATE INDEX posts_editor_some ON posts (editor_id) WHERE id > 1000;
CREATE INDEX posts_reviewer_hash ON posts USING hash (reviewer_id);
CREATE INDEX posts_reviewer_btree ON posts (reviewer_id, id);
CREATE INDEX posts_lower_body ON posts (lower(body));
CREATE INDEX posts_body ON posts (body);
CREATE INDEX posts_body_copy ON posts (body);
CREATE TABLE regions (country text, code text, PRIMARY KEY (country, code));
INSERT INTO regions SELECT 'c' || (g % 10), 'r' || g FROM generate_series(1, 100) g;
CREATE TABLE shops (id bigserial PRIMARY KEY, country text, code text, FOREIGN KEY (country, code) REFERENCES regions);
INSERT INTO shops (country, code) SELECT 'c' || (g % 10), 'r' || (g % 100 + 1) FROM generate_series(1, 3000) g
  WHERE ('c' || (g % 10), 'r' || (g % 100 + 1)) IN (SELECT country, code FROM regions);
INSERT INTO shops (country, code) SELECT country, code FROM regions, generate_series(1, 30);
CREATE INDEX shops_country ON shops (country);
CREATE TABLE events (id bigint, at date, author_id bigint REFERENCES authors, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events SELECT g, date '2025-01-01' + (g % 700), g % 100 + 1 FROM generate_series(1, 3000) g;
CREATE INDEX events_author_a ON events (author_id);
CREATE INDEX events_author_b ON events (author_id);
CREATE TABLE event_notes (id bigserial PRIMARY KEY, event_id bigint, event_at date,
                          FOREIGN KEY (event_id, event_at) REFERENCES events (id, at));
INSERT INTO event_notes (event_id, event_at) SELECT id, at FROM events;
ANALYZE;
"""


@pytest.fixture
def objects(database):
    database.execute(SCHEMA)
    database.execute("CREATE INDEX posts_body_pattern ON posts (body text_pattern_ops)")  # serves LIKE 'x%'
    with pytest.raises(psycopg.errors.UniqueViolation):  # leaves an INVALID index behind
        database.execute("CREATE UNIQUE INDEX CONCURRENTLY posts_editor_unique ON posts (editor_id)")
    database.execute("CREATE INDEX CONCURRENTLY posts_editor_again ON posts (editor_id) WHERE id > 1000")
    run = perfcheck("audit", "--db", database.url, "--only", "db.fk_indexes", "--only", "db.duplicate_indexes",
                    "--format", "json")
    assert run.code in (0, 1), run.err
    return database, run.json


def by_object(report, check_id):
    return {f["object"]: f for f in check(report, check_id)["findings"]}


def rolled_back(database, statement: str) -> None:
    """The fix runs on the object it names (then is undone)."""
    with psycopg.connect(database.url) as conn:
        conn.execute(statement)
        conn.rollback()


def test_foreign_keys_as_the_lookup_sees_them(objects):
    database, report = objects
    fks = {f["evidence"]["constraint"]: f for f in check(report, "db.fk_indexes")["findings"]}
    # A partial index on `author_id IS NOT NULL` serves `WHERE author_id = $1` (EXPLAIN agrees).
    assert "posts_author_id_fkey" not in fks
    with psycopg.connect(database.url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT 1 FROM posts WHERE author_id = 7"))
    assert "posts_author_nn" in plan, plan
    # A partial index that doesn't serve every lookup, or an INVALID one: still reported
    # (perfcheck was right there).
    assert "posts_editor_id_fkey" in fks
    # The hash and the btree both serve reviewer_id.
    assert "posts_reviewer_id_fkey" not in fks
    # Partly served: no "scan ~N rows", named the index that serves the first column.
    partly = fks["shops_country_code_fkey"]
    assert "scan ~" not in partly["message"] and partly["evidence"]["partly_served_by"] == "public.shops_country"
    assert partly["severity"] == "warn"
    # The FK to a partitioned table, once, not again per partition (PostgreSQL's internal copies).
    notes = [f for f in check(report, "db.fk_indexes")["findings"] if f["object"] == "public.event_notes"]
    assert len(notes) == 1, notes
    # The partitioned table's own FK is served by its partitioned index.
    assert "events_author_id_fkey" not in fks
    for finding in fks.values():
        statement = finding["fix"]
        if "CONCURRENTLY" in statement:
            with psycopg.connect(database.url, autocommit=True) as conn:
                conn.execute(statement)  # for real: CONCURRENTLY cannot run in a transaction
        else:
            rolled_back(database, statement)


def test_duplicates_as_drop_index_sees_them(objects):
    database, report = objects
    found = by_object(report, "db.duplicate_indexes")
    # On the partitioned parent: one finding, a plain DROP INDEX (CONCURRENTLY is refused there);
    # the partitions' parts of those indexes are not reported again.
    events = [name for name in found if name.startswith("public.events")]
    assert len(events) == 1, list(found)
    assert found[events[0]]["fix"].startswith("DROP INDEX IF EXISTS public.events_author_")
    rolled_back(database, found[events[0]]["fix"])
    # A hash index made redundant by a btree leading with its column.
    assert found["public.posts_reviewer_hash"]["evidence"]["kind"] == "hash"
    assert found["public.posts_reviewer_hash"]["evidence"]["covered_by"] == "public.posts_reviewer_btree"
    # Expression and operator-class indexes are not duplicates of column indexes; an INVALID
    # index is db.invalid_indexes' (not a duplicate). Two identical partial indexes are.
    assert not {"public.posts_lower_body", "public.posts_body_pattern", "public.posts_editor_unique"} & found.keys()
    assert found["public.posts_editor_again"]["evidence"]["covered_by"] == "public.posts_editor_some"
    assert {"public.posts_reviewer_hash", "public.posts_body_copy"} <= found.keys()
    assert len(found) == 4, list(found)
    for name in ("public.posts_reviewer_hash", "public.posts_body_copy", "public.posts_editor_again"):
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute(found[name]["fix"])  # DROP INDEX CONCURRENTLY, for real, on this throwaway database
            assert conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is None
