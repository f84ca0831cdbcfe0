"""Index methods beyond btree, on real PostgreSQL with HypoPG: GIN for JSONB containment and
array operators (HypoPG 1.3 cannot simulate it: the advice is labelled unverified), BRIN for
an append-only time column of a very large table (verified with HypoPG). And the look-alikes
that must not get them."""

from __future__ import annotations

import pytest
from advisor_schema import HYPOPG, scratch_session

from perfcheck.advisor import Options, analyse
from perfcheck.advisor.ddl import statements

SCHEMA = r"""
SELECT setseed(0.31);
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE docs (id int PRIMARY KEY, payload jsonb NOT NULL, tags int[] NOT NULL);
INSERT INTO docs SELECT g, jsonb_build_object('kind', 'k' || (g % 500), 'n', g), ARRAY[g % 997, g % 1009]
  FROM generate_series(1, 60000) g;
-- The same data, already served by a jsonb_path_ops GIN index.
CREATE TABLE indexed_docs (id int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO indexed_docs SELECT id, payload FROM docs;
CREATE INDEX indexed_docs_payload_idx ON indexed_docs USING gin (payload jsonb_path_ops);
CREATE TABLE few_docs (id int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO few_docs SELECT g, jsonb_build_object('kind', 'k' || g) FROM generate_series(1, 500) g;
-- Append-only readings: rows in the order of their time (correlation 1), and the same rows shuffled.
CREATE TABLE readings (id int NOT NULL, sensor int NOT NULL, at timestamptz NOT NULL);
INSERT INTO readings SELECT g, g % 100, now() - (1200000 - g) * interval '1 minute'
  FROM generate_series(1, 1200000) g;
CREATE TABLE shuffled (id int NOT NULL, sensor int NOT NULL, at timestamptz NOT NULL);
INSERT INTO shuffled SELECT * FROM readings ORDER BY random();
"""


@pytest.fixture(scope="module")
def session(pg_server, hypopg):
    yield from scratch_session(pg_server, "methods", SCHEMA)


def advise(session, *queries, rows_per_call=5.0, calls=100, mean_ms=20.0, **options):
    rows = [{"queryid": 100 + n, "query": q, "calls": calls, "rows": int(calls * rows_per_call),
             "total_ms": calls * mean_ms} for n, q in enumerate(queries)]
    return analyse(session, rows, HYPOPG, Options.from_thresholds(options))


def test_gin_jsonb_path_ops_for_containment_only(session):
    advice = advise(session, "SELECT id FROM docs WHERE payload @> $1")
    [rec] = advice.recommendations
    assert (rec.method, rec.keys) == ("gin", ["payload jsonb_path_ops"])
    assert rec.verified is False and "HypoPG cannot simulate GIN" in rec.unverified_reason
    assert [s.cost_after for s in rec.statements] == [None]
    assert statements(rec) == [f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {rec.name} ON public.docs "
                               "USING gin (payload jsonb_path_ops)"]
    assert rec.to_dict()["unverified_reason"] == rec.unverified_reason


def test_gin_jsonb_ops_when_key_existence_is_asked_too(session):
    advice = advise(session, "SELECT id FROM docs WHERE payload @> $1", "SELECT id FROM docs WHERE payload ? $1")
    [rec] = advice.recommendations
    assert (rec.method, rec.keys) == ("gin", ["payload"])  # jsonb_ops, the default: it answers `?`
    assert sorted(s.queryid for s in rec.statements) == [100, 101]


def test_gin_for_array_overlap_and_containment(session):
    advice = advise(session, "SELECT id FROM docs WHERE tags && $1", "SELECT id FROM docs WHERE $1 <@ tags")
    [rec] = advice.recommendations
    assert (rec.method, rec.keys, rec.verified) == ("gin", ["tags"], False)


def test_no_gin_where_a_gin_index_already_serves(session):
    assert advise(session, "SELECT id FROM indexed_docs WHERE payload @> $1").recommendations == []


def test_gin_jsonb_ops_where_the_existing_path_ops_index_cannot_answer(session):
    """jsonb_path_ops serves only @>: key existence still scans the table."""
    [rec] = advise(session, "SELECT id FROM indexed_docs WHERE payload ?| $1").recommendations
    assert (rec.table, rec.method, rec.keys) == ("indexed_docs", "gin", ["payload"])


def test_no_gin_on_a_small_table_or_when_another_index_serves(session):
    assert advise(session, "SELECT id FROM few_docs WHERE payload @> $1").recommendations == []
    assert advise(session, "SELECT id FROM docs WHERE id = $1 AND payload @> $2", rows_per_call=1).recommendations == []


def test_no_gin_when_the_statement_returns_most_of_the_table(session):
    """40,000 of 60,000 rows per call: a scan is the right plan, no index is advised."""
    assert advise(session, "SELECT id FROM docs WHERE payload ? $1", rows_per_call=40000).recommendations == []


def test_no_gin_for_jsonb_equality(session):
    """`payload = $1` is a btree's job (and verified as one), never GIN's."""
    recs = advise(session, "SELECT id FROM docs WHERE payload = $1", rows_per_call=1).recommendations
    assert [r.method for r in recs] == ["btree"] and all(r.verified for r in recs)


RECENT = "SELECT id, sensor FROM {} WHERE at > now() - $1::interval"


def test_brin_for_an_append_only_time_column(session):
    advice = advise(session, RECENT.format("readings"), rows_per_call=60)
    [rec] = advice.recommendations
    assert (rec.method, rec.keys, rec.verified) == ("brin", ["at"], True)
    for use in rec.statements:
        assert use.cost_after < 0.7 * use.cost_before
    assert rec.btree_size_bytes and rec.size_bytes <= 0.01 * rec.btree_size_bytes
    assert "USING brin (at)" in statements(rec)[0]


def test_btree_for_the_same_column_shuffled(session):
    """Correlation near 0: a BRIN's block ranges each hold every time, it would read the whole table."""
    [rec] = advise(session, RECENT.format("shuffled"), rows_per_call=60).recommendations
    assert (rec.method, rec.keys, rec.btree_size_bytes) == ("btree", ["at"], None)


def test_btree_below_the_brin_row_threshold(session):
    [rec] = advise(session, RECENT.format("readings"), rows_per_call=60, brin_min_rows=2_000_000).recommendations
    assert (rec.method, rec.keys) == ("btree", ["at"])

