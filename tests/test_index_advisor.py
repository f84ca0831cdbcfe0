"""The index advisor on real plans: statement -> the indexes it recommends (or none), with
HypoPG on the suite's own PostgreSQL. One shared database (the cases only read it); the
advisor is given each statement directly, as pg_stat_statements would list it (the
end-to-end path through pg_stat_statements is in test_apply_indexes.py)."""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest

from advisor_schema import SCHEMA
from perfcheck.advisor import Options, analyse
from perfcheck.advisor.analyse import SQL_PACKAGE
from perfcheck.advisor.predicates import plan_facts
from perfcheck.config import DEFAULTS
from perfcheck.pg.session import Session

HYPOPG = {"hypopg": {"schema": "public", "version": "1.3.1"}}
_ids = itertools.count()


@pytest.fixture(scope="module")
def advisor_db(pg_server, hypopg):
    name = f"advisor_{os.getpid()}_{next(_ids)}"
    pg_server.psql(f"CREATE DATABASE {name}")
    pg_server.psql(SCHEMA, database=name)
    yield pg_server.url_for(name)
    pg_server.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()")
    pg_server.psql(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def session(advisor_db):
    """A session set up as the audit's: read-only, short timeouts."""
    session = Session.open(advisor_db, DEFAULTS["postgres"], SQL_PACKAGE)
    yield session
    session.close()


def advise(session, *queries, calls=100, mean_ms=5.0, rows_per_call=1, extensions=HYPOPG, **thresholds):
    rows = [{"queryid": 1000 + i, "query": q, "calls": calls, "rows": calls * rows_per_call,
             "total_ms": calls * mean_ms * (len(queries) - i)} for i, q in enumerate(queries)]
    return analyse(session, rows, extensions, Options.from_thresholds(thresholds))


def recommended(advice) -> set[tuple[str, tuple[str, ...]]]:
    return {(r.qualified_table, tuple(r.keys)) for r in advice.recommendations}


# statement -> the indexes recommended: (table, keys), keys in order.
CASES = [
    ("equality", "SELECT * FROM orders WHERE user_id = $1",
     {("public.orders", ("user_id",))}),
    ("alias", "SELECT o.id, o.total FROM orders AS o WHERE o.user_id = $1",
     {("public.orders", ("user_id",))}),
    ("multi-column equality", "SELECT * FROM pairs WHERE a = $1 AND b = $2",
     {("public.pairs", ("a", "b"))}),
    ("equality then closed range", "SELECT * FROM visits WHERE user_id = $1 AND created_at BETWEEN $2 AND $3",
     {("public.visits", ("user_id", "created_at"))}),
    ("order by limit", "SELECT * FROM orders ORDER BY created_at DESC LIMIT 20",
     {("public.orders", ("created_at",))}),
    ("equality then order by limit", "SELECT * FROM visits WHERE user_id = $1 ORDER BY created_at DESC LIMIT 10",
     {("public.visits", ("user_id", "created_at"))}),
    ("mixed sort directions", "SELECT * FROM orders ORDER BY status, created_at DESC LIMIT 10",
     {("public.orders", ("status", "created_at DESC"))}),
    ("in list", "SELECT * FROM orders WHERE user_id IN ($1, $2, $3)",
     {("public.orders", ("user_id",))}),
    ("any array", "SELECT * FROM orders WHERE user_id = ANY($1)",
     {("public.orders", ("user_id",))}),
    ("between", "SELECT id FROM orders WHERE created_at BETWEEN $1 AND $2",
     {("public.orders", ("created_at",))}),
    ("is null", "SELECT * FROM tasks WHERE done_at IS NULL",
     {("public.tasks", ("done_at",))}),
    ("expression", "SELECT * FROM users WHERE lower(email) = $1",
     {("public.users", ("(lower(email))",))}),
    ("join", "SELECT o.* FROM users u JOIN orders o ON o.user_id = u.id WHERE u.email = $1",
     {("public.users", ("email",)), ("public.orders", ("user_id",))}),
    ("update", "UPDATE orders SET note = $1 WHERE user_id = $2",
     {("public.orders", ("user_id",))}),
    ("delete", "DELETE FROM sessions WHERE token = $1",
     {("public.sessions", ("token",))}),
    ("materialized cte", "WITH mine AS MATERIALIZED (SELECT * FROM orders WHERE user_id = $1) "
                         "SELECT * FROM mine WHERE status = $2",
     {("public.orders", ("user_id",))}),
    ("inlined cte", "WITH u AS (SELECT * FROM users) SELECT id FROM u WHERE email = $1",
     {("public.users", ("email",))}),
    ("view", "SELECT * FROM active_users WHERE name = $1",
     {("public.users", ("name",))}),
    ("partitioned table", "SELECT * FROM events WHERE account_id = $1",
     {("public.events", ("account_id",))}),
    ("partitioned table, order by limit", "SELECT * FROM events e WHERE kind = $1 ORDER BY created_at DESC LIMIT 20",
     {("public.events", ("kind", "created_at"))}),
    ("quoted mixed case", 'SELECT "AccountId" FROM "Billing"."Accounts" WHERE "OwnerEmail" = $1',
     {('"Billing"."Accounts"', ('"OwnerEmail"',))}),
    ("partial index not matching", "SELECT * FROM jobs WHERE queue = $1",
     {("public.jobs", ("queue",))}),
    # None: an existing index serves it, or no index would help.
    ("covered by btree", "SELECT * FROM products WHERE sku = $1", set()),
    ("covered by a longer btree", "SELECT * FROM products WHERE category_id = $1", set()),
    ("covered with its sort", "SELECT * FROM products WHERE category_id = $1 ORDER BY price LIMIT 10", set()),
    ("covered by hash", "SELECT owner FROM api_keys WHERE key = $1", set()),
    ("covered by partial", "SELECT * FROM jobs WHERE queue = $1 AND finished_at IS NULL", set()),
    ("primary key", "SELECT * FROM users WHERE id = $1", set()),
    ("small table", "SELECT * FROM tiny WHERE code = $1", set()),
    ("non-selective boolean", "SELECT * FROM users WHERE active = $1", set()),
    ("non-selective status", "SELECT * FROM orders WHERE status = $1", set()),
    ("unfiltered count", "SELECT count(*) FROM orders", set()),
    ("unfiltered group by", "SELECT status, count(*) FROM orders GROUP BY status", set()),
    ("open range", "SELECT * FROM orders WHERE total > $1", set()),
]


@pytest.mark.parametrize("query, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_workload_case(session, query, expected):
    advice = advise(session, query)
    assert advice.mode == "hypopg"
    assert recommended(advice) == expected, [r.to_dict() for r in advice.recommendations]
    for rec in advice.recommendations:
        use = rec.statements[0]
        assert use.queryid == 1000 and use.cost_after < 0.7 * use.cost_before  # a real, verified saving
        assert 0 < rec.size_bytes < 50_000_000 and len(rec.name.encode()) <= 63


def test_fix_statements_are_concurrent_and_quoted(session):
    (rec,) = advise(session, 'SELECT "AccountId" FROM "Billing"."Accounts" WHERE "OwnerEmail" = $1').recommendations
    assert rec.to_dict()["ddl"] == [
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_owneremail_idx ON "Billing"."Accounts" ("OwnerEmail")']


def test_partitioned_table_gets_parent_then_partitions(session):
    (rec,) = advise(session, "SELECT * FROM events WHERE account_id = $1").recommendations
    ddl = rec.to_dict()["ddl"]
    assert rec.table_kind == "p" and rec.partitions == [["public", "events_2023"], ["public", "events_2024"]]
    assert ddl[0] == "CREATE INDEX IF NOT EXISTS events_account_id_idx ON ONLY public.events (account_id)"
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2023_account_id_idx ON public.events_2023 (account_id)" in ddl
    assert ddl[-1] == "ALTER INDEX public.events_account_id_idx ATTACH PARTITION public.events_2024_account_id_idx"


def test_long_names_stay_within_63_bytes(session):
    (rec,) = advise(session, "SELECT id FROM subscription_renewal_events_archive_for_enterprise_customers "
                             "WHERE customer_account_reference_identifier = $1 AND subscription_plan_reference_identifier = $2"
                    ).recommendations
    assert len(rec.name.encode()) <= 63 and rec.name.startswith("subscription_renewal")
    assert set(rec.keys) == {"customer_account_reference_identifier", "subscription_plan_reference_identifier"}


def test_one_index_serves_statements_that_share_it(session):
    # (user_id) alone would do for the first; (user_id, created_at) serves both: one index, not two.
    advice = advise(session, "SELECT * FROM visits WHERE user_id = $1",
                    "SELECT * FROM visits WHERE user_id = $1 ORDER BY created_at DESC LIMIT 10")
    assert recommended(advice) == {("public.visits", ("user_id", "created_at"))}
    assert {s.queryid for s in advice.recommendations[0].statements} == {1000, 1001}


def test_statement_returning_most_of_its_table_is_left_out(session):
    advice = advise(session, "SELECT * FROM orders WHERE user_id > $1", rows_per_call=20000)
    assert advice.recommendations == []
    assert advice.skipped == {"returns more than 30% of its table": 1}


@pytest.mark.parametrize("query, reason", [
    ("/* perfcheck */ SELECT * FROM orders WHERE user_id = $1", "perfcheck's own"),
    ("SELECT * FROM orders WHERE user_id = $1\n/* perfcheck */", "perfcheck's own"),  # as PostgreSQL 18 keeps it
    ("SELECT * FROM no_such_table WHERE x = $1", 'cannot be planned: relation "…" does not exist'),
    ("SELECT * FROM tiny WHERE code = $1", "reads only tables under 10000 rows"),
    ("SELECT count(*) FROM orders", "an unfiltered aggregate"),
    ("INSERT INTO tiny VALUES ($1, $2)", "not a SELECT, UPDATE or DELETE"),
    ("SELECT relname FROM pg_class WHERE relname = $1", "reads no user table"),
])
def test_left_out_statements_say_why(session, query, reason):
    advice = advise(session, query)
    assert advice.recommendations == [] and advice.skipped == {reason: 1}


def test_a_parameter_the_text_never_uses_is_no_obstacle(session):
    # `$2` without `$1`: PREPARE (before 16) cannot infer a type for $1; GENERIC_PLAN (16+) does not need one.
    advice = advise(session, "SELECT * FROM orders WHERE user_id = $2")
    assert advice.skipped == {} and recommended(advice) == {("public.orders", ("user_id",))}


def test_workload_thresholds(session):
    query = "SELECT * FROM orders WHERE user_id = $1"
    assert advise(session, query, calls=5).skipped == {"fewer than 10 calls": 1}
    assert advise(session, query, mean_ms=0.1).skipped == {"mean time under 0.5 ms": 1}
    assert advise(session, query, min_calls=5, calls=5).recommendations
    # A stricter min_saving than the index achieves keeps it out.
    assert not advise(session, "SELECT * FROM visits WHERE user_id = $1", min_saving=0.99).recommendations


def test_hypothetical_indexes_are_gone_afterwards(session):
    advise(session, "SELECT * FROM orders WHERE user_id = $1", "SELECT * FROM users WHERE lower(email) = $1")
    assert session.conn.execute("SELECT count(*) AS n FROM hypopg_list_indexes").fetchone()["n"] == 0
    assert session.conn.execute("SHOW plan_cache_mode").fetchone()["plan_cache_mode"] == "auto"
    assert session.conn.execute("SHOW transaction_read_only").fetchone()["transaction_read_only"] == "on"


def test_heuristic_mode_without_hypopg(session):
    advice = advise(session, "SELECT * FROM sessions WHERE token = $1", "SELECT * FROM users WHERE active = $1",
                    "SELECT * FROM visits WHERE user_id = $1 ORDER BY created_at DESC LIMIT 10", extensions={})
    assert advice.mode == "heuristic" and not advice.verified
    assert recommended(advice) == {("public.sessions", ("token",)), ("public.visits", ("user_id", "created_at"))}
    for rec in advice.recommendations:
        assert rec.verified is False and rec.cost_after is None and rec.size_bytes > 0


def test_time_budget_marks_the_advice_partial(session):
    advice = advise(session, *[f"SELECT * FROM orders WHERE user_id = $1 AND total > {i}" for i in range(30)],
                    max_seconds=0)
    assert advice.partial and sum(advice.skipped.values()) >= 29


# The demo's "recently played": the table read in played_at order drives a nested loop
# (Limit -> Nested Loop -> Sort -> scan), and its join column gets its values from the
# other side row by row, so it cannot lead the index.
RECENTLY_PLAYED = """
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE songs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text, artist text);
INSERT INTO songs (title, artist) SELECT 'song ' || g, 'artist ' || (g % 300) FROM generate_series(1, 5000) g;
CREATE TABLE plays (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint NOT NULL,
                    song_id bigint NOT NULL REFERENCES songs, played_at timestamptz NOT NULL);
INSERT INTO plays (user_id, song_id, played_at) SELECT 1 + (g * 7) % 2000, 1 + (g * 104729) % 5000,
  now() - ((g * 6151) % 7776000) * interval '1 second' FROM generate_series(1::bigint, 300000) g;
ANALYZE;
"""
RECENT_QUERY = ("SELECT r.song_id, s.title, s.artist, r.played_at FROM plays r JOIN songs s ON s.id = r.song_id "
                "WHERE r.user_id = $1 ORDER BY r.played_at DESC LIMIT $2")


def test_a_sort_under_a_nested_loop_under_limit_gets_its_order_index(database, hypopg):
    database.execute(RECENTLY_PLAYED)
    with Session.open(database.url, DEFAULTS["postgres"], SQL_PACKAGE) as own:
        advice = advise(own, RECENT_QUERY, rows_per_call=20)
        assert [(r.qualified_table, tuple(r.keys[:2])) for r in advice.recommendations] == \
            [("public.plays", ("user_id", "played_at"))], [r.to_dict() for r in advice.recommendations]
        use = advice.recommendations[0].statements[0]
        assert use.cost_after < 0.3 * use.cost_before
        # Built, the same statement needs nothing more (the healthy look-alike).
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute("CREATE INDEX ON plays (user_id, played_at)")
        assert advise(own, RECENT_QUERY, rows_per_call=20).recommendations == []


def test_a_sort_is_read_through_a_nested_loop_outer_side_only():
    def scan(alias):
        return {"Node Type": "Seq Scan", "Relation Name": "plays" if alias == "r" else "songs", "Schema": "public",
                "Alias": alias}

    def limit_over(join_type, sorted_side):
        sort = {"Node Type": "Sort", "Sort Key": ["r.played_at DESC"], "Plans": [scan("r")]}
        other = scan("s")
        children = [dict(sort, **{"Parent Relationship": "Outer"}), dict(other, **{"Parent Relationship": "Inner"})]
        if sorted_side == "inner":
            children = [dict(other, **{"Parent Relationship": "Outer"}), dict(sort, **{"Parent Relationship": "Inner"})]
        return {"Node Type": "Limit", "Total Cost": 10.0, "Plans": [{"Node Type": join_type, "Plans": children}]}

    assert [s.keys[0].expr for s in plan_facts(limit_over("Nested Loop", "outer")).sorts] == ["played_at"]
    assert plan_facts(limit_over("Nested Loop", "inner")).sorts == []  # the inner order is not the output's
    assert plan_facts(limit_over("Hash Join", "outer")).sorts == []  # a hash join keeps no order
