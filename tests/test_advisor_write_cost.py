"""A write-heavy table gets fewer indexes (advisor/write_cost.py), on a real PostgreSQL with
HypoPG: the table's writes come from pg_stat_user_tables after a statistics reset, so
the write rate is the one the advisor would see on a live database.

`reads` is only read; `ticks` takes 200,000 inserts and 100,000 updates (mostly HOT: a
fillfactor leaves room on the page, and they set `reading`, which the lookups don't index)."""

from __future__ import annotations

import pytest
from advisor_schema import HYPOPG, scratch_session

from perfcheck import checklist
from perfcheck.advisor import Options, analyse
from perfcheck.checks.db.missing_indexes import missing_indexes
from perfcheck.model import Status

SCHEMA = r"""
SELECT setseed(0.5);
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE reads (id int PRIMARY KEY, account_id int NOT NULL, amount int NOT NULL, memo text);
INSERT INTO reads SELECT g, (random() * 999)::int, g % 500, repeat('m', 50) FROM generate_series(1, 100000) g;
CREATE TABLE ticks (id bigserial PRIMARY KEY, device_id int NOT NULL, reading int NOT NULL, memo text,
                    kind text NOT NULL) WITH (fillfactor = 60);
INSERT INTO ticks (device_id, reading, memo, kind) SELECT (random() * 999)::int, g % 1000, repeat('t', 50),
       CASE WHEN g % 1000 = 0 THEN 'alarm' WHEN g % 7 = 0 THEN 'warn' ELSE 'ok' END FROM generate_series(1, 100000) g;
"""

# Run after pg_stat_reset(), in psql sessions of their own (a backend flushes its counters on exit).
WRITES = r"""
INSERT INTO ticks (device_id, reading, memo, kind) SELECT (random() * 999)::int, g % 1000, repeat('t', 50),
       CASE WHEN g % 1000 = 0 THEN 'alarm' WHEN g % 7 = 0 THEN 'warn' ELSE 'ok' END FROM generate_series(1, 200000) g;
UPDATE ticks SET reading = reading + 1 WHERE id % 3 = 0;
"""

T = dict(checklist.meta("db.missing_indexes").thresholds)
UPDATE = {"queryid": 77, "query": "UPDATE ticks SET reading = reading + $1 WHERE id = $2", "calls": 1, "rows": 1,
          "total_ms": 0.1}


@pytest.fixture(scope="module")
def session(pg_server, hypopg):
    scratch = scratch_session(pg_server, "writes", SCHEMA)
    session = next(scratch)
    database = session.conn.info.dbname
    pg_server.psql("SELECT pg_stat_reset()", database=database)
    pg_server.psql(WRITES, database=database)
    pg_server.psql("ANALYZE", database=database)
    try:
        yield session
    finally:
        scratch.close()


def advise_one(session, query, *, queryid, rows_per_call, calls=100, mean_ms=20.0, **thresholds):
    """The advice for one statement, write statistics weighed however young (seconds here)."""
    rows = [{"queryid": queryid, "query": query, "calls": calls, "rows": int(calls * rows_per_call),
             "total_ms": calls * mean_ms}]
    return analyse(session, rows, HYPOPG, Options.from_thresholds({"min_write_stats_s": 0, **thresholds}))


def judge(advice):
    return missing_indexes.judge({"postgres.index_advice": advice.to_dict()}, T)


def test_a_read_heavy_table_still_gets_its_index(session):
    advice = advise_one(session, "SELECT * FROM reads WHERE account_id = $1", queryid=1, rows_per_call=100)
    [rec] = advice.recommendations
    assert rec.keys == ["account_id"] and advice.write_heavy == []
    assert rec.writes_per_s == 0 and rec.write_cost_ms_per_s == 0 and rec.benefit_ms_per_s > 0
    outcome = judge(advice)
    assert outcome.status in (Status.WARN, Status.FAIL) and [f.severity for f in outcome.findings] == ["fail"]
    assert "Weighed against writes: the table took none since its statistics began" in outcome.findings[0].message


def test_a_rarely_run_query_on_a_write_heavy_table_gets_no_index(session):
    """10 calls of 5 ms against 200,000+ new index entries: the index would cost the writes
    far more than it saves. Not recommended, and said so with both figures."""
    advice = advise_one(session, "SELECT * FROM ticks WHERE device_id = $1", queryid=2, rows_per_call=300,
                        calls=10, mean_ms=5.0)
    assert advice.recommendations == []
    [rec] = advice.write_heavy
    assert rec.keys == ["device_id"]
    assert rec.write_cost_ms_per_s > T["min_benefit_over_writes"] * rec.benefit_ms_per_s > 0
    outcome = judge(advice)
    assert outcome.status is Status.PASS and outcome.metrics["write_heavy"] == 1
    [finding] = outcome.findings
    assert finding.severity == "info" and finding.fix is None and finding.object == "public.ticks (device_id)"
    assert finding.message.startswith("not recommended: table is write-heavy")
    assert f"costing an estimated {rec.write_cost_ms_per_s:,.2f} ms/s" in finding.message
    assert f"against {rec.benefit_ms_per_s:,.2f} ms/s saved" in finding.message
    assert "1 index(es) not recommended" in outcome.summary


def test_young_write_statistics_are_not_weighed(session):
    """The look-alike of a write-heavy table: one whose writes are the load that filled it,
    seconds ago (a restore, a seed). Under min_write_stats_s the writes are not weighed:
    the index is recommended, and the summary says why no write figure came with it."""
    advice = advise_one(session, "SELECT * FROM ticks WHERE device_id = $1", queryid=6, rows_per_call=300,
                        calls=10, mean_ms=5.0, min_write_stats_s=T["min_write_stats_s"])
    assert advice.write_heavy == [] and advice.write_stats_s < T["min_write_stats_s"]
    [rec] = advice.recommendations
    assert rec.keys == ["device_id"] and rec.write_cost_ms_per_s is None
    outcome = judge(advice)
    assert "write rates not weighed: the statistics are" in outcome.summary
    assert "costing an estimated" not in outcome.findings[0].message


def test_a_hot_query_on_the_write_heavy_table_still_gets_its_index(session):
    """The healthy look-alike: the same table and writes, a statement run hot enough that
    the index saves far more than it costs."""
    advice = advise_one(session, "SELECT * FROM ticks WHERE device_id = $1", queryid=3, rows_per_call=300,
                        calls=10_000_000, mean_ms=20.0)
    assert advice.write_heavy == []
    [rec] = advice.recommendations
    assert rec.keys == ["device_id"] and rec.writes_per_s > 0
    assert rec.benefit_ms_per_s > T["min_benefit_over_writes"] * rec.write_cost_ms_per_s > 0
    [finding] = judge(advice).findings
    assert f"costing an estimated {rec.write_cost_ms_per_s:,.2f} ms/s" in finding.message


def test_hot_updates_count_only_for_an_index_on_a_column_they_set(session):
    """The workload's UPDATE sets `reading`: an index on it would make those HOT updates
    touch the index; one on device_id would not. Same advice, same period: the entries
    per second differ by the HOT updates."""
    rows = [{"queryid": 4, "query": "SELECT * FROM ticks WHERE device_id = $1", "calls": 100, "rows": 30000,
             "total_ms": 2000.0},
            {"queryid": 5, "query": "SELECT * FROM ticks WHERE reading = $1", "calls": 100, "rows": 30000,
             "total_ms": 2000.0}, UPDATE]
    advice = analyse(session, rows, HYPOPG, Options.from_thresholds({"min_benefit_over_writes": 0, "min_write_stats_s": 0}))
    by_key = {r.keys[0]: r for r in advice.recommendations}
    assert set(by_key) == {"device_id", "reading"}
    stats = session.conn.execute("SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                                 "WHERE relname = 'ticks'").fetchone()
    inserted, updated, hot = (stats[k] for k in ("n_tup_ins", "n_tup_upd", "n_tup_hot_upd")) \
        if isinstance(stats, dict) else stats
    assert hot > updated / 2  # the fillfactor made most of them HOT
    ratio = by_key["reading"].writes_per_s / by_key["device_id"].writes_per_s
    assert ratio == pytest.approx((inserted + updated) / (inserted + updated - hot), rel=0.02)


def test_a_partial_index_pays_only_for_the_rows_it_holds(session):
    """The same rare query, asking for a rare kind ('alarm', 0.1% of the rows): its partial
    index takes an entry for one written row in a thousand, so it stays worth building on
    the write-heavy table where a full index on device_id was not."""
    advice = advise_one(session, "SELECT * FROM ticks WHERE kind = $1", queryid=7, rows_per_call=300,
                        calls=10, mean_ms=5.0)
    assert advice.write_heavy == []
    [rec] = advice.recommendations
    assert rec.where == "kind = 'alarm'"
    full = advise_one(session, "SELECT * FROM ticks WHERE device_id = $1", queryid=8, rows_per_call=300,
                      calls=10, mean_ms=5.0).write_heavy[0]
    assert rec.writes_per_s < full.writes_per_s / 100


def test_without_hypopg_the_statements_whole_time_is_weighed(session):
    """Heuristic mode (no HypoPG): the saving is unknown, so the benefit is at most the
    statements' whole time; the rarely run query is still not worth the writes."""
    rows = [{"queryid": 9, "query": "SELECT * FROM ticks WHERE device_id = $1", "calls": 10, "rows": 3000,
             "total_ms": 50.0}]
    advice = analyse(session, rows, {}, Options.from_thresholds({"min_write_stats_s": 0}))
    assert advice.mode == "heuristic" and advice.recommendations == []
    [rec] = advice.write_heavy
    assert rec.verified is False and rec.keys == ["device_id"]
    assert rec.write_cost_ms_per_s > T["min_benefit_over_writes"] * rec.benefit_ms_per_s > 0


def test_the_benefit_is_counted_over_pg_stat_statements_own_period(session):
    """With pg_stat_statements in the database, the statements' time saved is spread over
    the period since its last full reset (pg_stat_statements_info), not the tables'."""
    def seconds():
        row = session.conn.execute("SELECT extract(epoch FROM now() - stats_reset)::float8 AS s "
                                   "FROM pg_stat_statements_info").fetchone()
        return row["s"] if isinstance(row, dict) else row[0]

    rows = [{"queryid": 10, "query": "SELECT * FROM reads WHERE account_id = $1", "calls": 100, "rows": 10000,
             "total_ms": 2000.0}]
    before = seconds()
    advice = analyse(session, rows, {**HYPOPG, "pg_stat_statements": {"schema": "public", "version": "1.10"}},
                     Options.from_thresholds({"min_write_stats_s": 0}))
    after = seconds()
    [rec] = advice.recommendations
    assert rec.saved_ms / max(after, 1.0) - 1e-4 <= rec.benefit_ms_per_s <= rec.saved_ms / max(before, 1.0) + 1e-4
