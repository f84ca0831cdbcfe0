"""db.bloat, db.sequences and db.primary_keys on a real PostgreSQL: planted problems are
found, and their healthy look-alikes pass (a false warning is as bad as a miss)."""

from __future__ import annotations

import pytest

from perfcheck import checklist
from perfcheck.checks.db.bloat import bloat
from perfcheck.checks.db.primary_keys import primary_keys
from perfcheck.checks.db.sequences import sequences
from perfcheck.collectors.postgres.collector import PostgresCollector
from perfcheck.config import DEFAULTS
from perfcheck.model import Status

FACTS = {"postgres.bloat", "postgres.server", "postgres.sequences", "postgres.primary_keys", "postgres.extensions"}
SMALL = {"min_size_bytes": 1 << 20}  # the tables here are a few MB


def gather(database, thresholds=None):
    collector = PostgresCollector(database.url, DEFAULTS["postgres"], [])
    collector.thresholds = {"db.bloat": {**SMALL, **(thresholds or {})}}
    return collector.gather(FACTS)


def run(database, script: str) -> None:
    """Statement by statement (VACUUM may not run in the implicit transaction of a batch)."""
    with database.connect() as conn:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)


def judge(chk, facts, **overrides):
    return chk.judge(facts, {**checklist.meta(chk.id).thresholds, **overrides})


def objects(outcome):
    return {f.object: f for f in outcome.findings}


BLOAT_SCHEMA = """
CREATE TABLE healthy (id int PRIMARY KEY, name text, amount numeric, created_at timestamptz)
  WITH (autovacuum_enabled = false);
INSERT INTO healthy SELECT g, 'name ' || g, g % 1000, now() FROM generate_series(1, 60000) g;
CREATE TABLE roomy (id int PRIMARY KEY, name text) WITH (fillfactor = 60, autovacuum_enabled = false);
INSERT INTO roomy SELECT g, 'name ' || g FROM generate_series(1, 60000) g;
CREATE TABLE churned (id int PRIMARY KEY, name text, amount numeric, created_at timestamptz)
  WITH (autovacuum_enabled = false);
INSERT INTO churned SELECT g, 'name ' || g, g % 1000, now() FROM generate_series(1, 60000) g;
CREATE INDEX churned_amount_idx ON churned (amount);
DELETE FROM churned WHERE id % 5 <> 0;
VACUUM ANALYZE healthy;
VACUUM ANALYZE roomy;
VACUUM ANALYZE churned;
"""


@pytest.mark.parametrize("pgstattuple", [False, True], ids=["estimate", "pgstattuple"])
def test_bloat_planted_and_healthy(database, pgstattuple):
    run(database, BLOAT_SCHEMA)
    if pgstattuple:
        database.execute("CREATE EXTENSION pgstattuple")
    facts = gather(database)
    assert bool(facts["postgres.bloat"]["pgstattuple"]) is pgstattuple
    outcome = judge(bloat, facts, **SMALL)
    found = objects(outcome)
    assert "public.churned" in found, outcome.summary
    assert found["public.churned"].evidence["ratio"] >= 0.7
    assert found["public.churned"].severity == "fail"
    assert found["public.churned"].evidence["source"] == ("pgstattuple_approx" if pgstattuple else "estimate")
    assert "public.churned_amount_idx" in found
    assert "REINDEX INDEX CONCURRENTLY public.churned_amount_idx;" in found["public.churned_amount_idx"].fix.text
    for healthy in ("public.healthy", "public.healthy_pkey", "public.roomy", "public.roomy_pkey"):
        assert healthy not in found, found[healthy].message
    assert outcome.status is Status.FAIL


def test_bloat_healthy_database_passes(database):
    run(database, BLOAT_SCHEMA.replace("DELETE FROM churned WHERE id % 5 <> 0;", ""))
    outcome = judge(bloat, gather(database), **SMALL)
    assert outcome.status is Status.PASS, [f.message for f in outcome.findings]
    assert outcome.metrics["measured"] >= 6
    assert outcome.metrics["worst_ratio"] < 0.4


def test_bloat_without_statistics_is_not_guessed(database):
    run(database, "CREATE TABLE never_analysed (id int, name text) WITH (autovacuum_enabled = false);"
                  "INSERT INTO never_analysed SELECT g, 'x' || g FROM generate_series(1, 60000) g;"
                  "DELETE FROM never_analysed WHERE id % 2 = 0")
    database.execute("VACUUM never_analysed")  # pages and tuples counted, no column statistics
    outcome = judge(bloat, gather(database), **SMALL)
    assert outcome.status is Status.SKIP
    assert "ANALYZE" in outcome.summary


SEQUENCE_SCHEMA = """
CREATE TABLE fresh (id serial PRIMARY KEY, v text);
INSERT INTO fresh (v) SELECT 'x' FROM generate_series(1, 100);
CREATE TABLE busy_int (id serial PRIMARY KEY, v text);
SELECT setval('busy_int_id_seq', 2000000000);
CREATE SEQUENCE wide_seq AS bigint;
CREATE TABLE narrow_key (id int PRIMARY KEY DEFAULT nextval('wide_seq'), v text);
SELECT setval('wide_seq', 1700000000);
CREATE TABLE big_fine (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
SELECT setval(pg_get_serial_sequence('big_fine', 'id'), 3000000000);
CREATE SEQUENCE ticket_seq AS smallint MAXVALUE 1000 CYCLE;
SELECT setval('ticket_seq', 999);
CREATE SEQUENCE unused_seq;
"""


def test_sequences_near_their_limit(database):
    database.execute(SEQUENCE_SCHEMA)
    outcome = judge(sequences, gather(database))
    found = objects(outcome)
    assert set(found) == {"public.busy_int_id_seq", "public.wide_seq"}, [f.message for f in outcome.findings]
    assert found["public.busy_int_id_seq"].severity == "fail"  # 93 % of int
    assert found["public.wide_seq"].severity == "warn"  # 79 % of the int column it feeds, not of bigint
    assert "integer column id" in found["public.wide_seq"].message
    assert "ALTER COLUMN id TYPE bigint" in found["public.wide_seq"].fix.text
    assert outcome.status is Status.FAIL


def test_sequences_healthy_pass(database):
    database.execute(SEQUENCE_SCHEMA.replace("SELECT setval('busy_int_id_seq', 2000000000);", "")
                     .replace("SELECT setval('wide_seq', 1700000000);", "SELECT setval('wide_seq', 1000);"))
    outcome = judge(sequences, gather(database))
    assert outcome.status is Status.PASS, [f.message for f in outcome.findings]
    assert outcome.metrics["worst_used"] < 0.75


KEY_SCHEMA = """
CREATE TABLE keyed (id int PRIMARY KEY);
CREATE TABLE log_lines (at timestamptz, line text);
INSERT INTO log_lines SELECT now(), 'x' FROM generate_series(1, 100);
CREATE TABLE by_code (code text NOT NULL, v text);
CREATE UNIQUE INDEX by_code_code_idx ON by_code (code);
CREATE TABLE replicated (code text NOT NULL, v text);
CREATE UNIQUE INDEX replicated_code_idx ON replicated (code);
ALTER TABLE replicated REPLICA IDENTITY USING INDEX replicated_code_idx;
CREATE TABLE full_identity (a int, b int);
ALTER TABLE full_identity REPLICA IDENTITY FULL;
CREATE TABLE parted (id int PRIMARY KEY, at date) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (1000);
"""


def test_primary_keys_planted_and_healthy(database):
    database.execute(KEY_SCHEMA)
    database.execute("CREATE EXTENSION pgstattuple")  # an extension's own objects are not the application's
    outcome = judge(primary_keys, gather(database))
    found = objects(outcome)
    assert set(found) == {"public.log_lines", "public.by_code", "public.full_identity"}
    assert found["public.log_lines"].severity == "fail"
    assert found["public.by_code"].severity == "warn"
    assert "PRIMARY KEY USING INDEX by_code_code_idx" in found["public.by_code"].fix.text
    assert found["public.full_identity"].severity == "warn"
    assert outcome.status is Status.FAIL


def test_primary_keys_healthy_pass(database):
    database.execute("CREATE TABLE keyed (id int PRIMARY KEY); CREATE TABLE replicated (code text NOT NULL);"
                     "CREATE UNIQUE INDEX replicated_code_idx ON replicated (code);"
                     "ALTER TABLE replicated REPLICA IDENTITY USING INDEX replicated_code_idx;"
                     "CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);"
                     "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (1000)")
    outcome = judge(primary_keys, gather(database))
    assert outcome.status is Status.PASS, [f.message for f in outcome.findings]
    assert outcome.metrics["replica_identity_index"] == 1
