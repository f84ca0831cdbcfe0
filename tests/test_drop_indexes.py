"""`perfcheck apply-indexes --drop` on a real PostgreSQL: the dry run, the drops, the
migration, every safeguard beside the healthy look-alike it must not stop, a drop blocked
by a long transaction, and SIGTERM between and during drops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from helpers import perfcheck

OLD_ENOUGH = "checks:\n  db.unused_indexes:\n    thresholds: {drop_min_stats_days: 0}\n"


def config(tmp_path, text: str = OLD_ENOUGH) -> str:
    path = tmp_path / "perfcheck.yaml"
    path.write_text(text)
    return str(path)


def seed(database) -> None:
    """orders: a 3 MB index nothing reads (unused) and a later identical copy of an index
    (duplicate: the older one is kept); the primary key beside them."""
    database.execute("""
        CREATE TABLE orders (id int PRIMARY KEY, customer_id int, note text, status text);
        INSERT INTO orders SELECT g, g % 3000, md5(g::text) || md5((g * 7)::text), (ARRAY['new','paid'])[1 + g % 2]
          FROM generate_series(1, 30000) g;
        CREATE INDEX orders_note_idx ON orders (note);
        CREATE INDEX orders_customer_id_idx ON orders (customer_id);
        CREATE INDEX orders_customer_id_copy_idx ON orders (customer_id);
        ANALYZE orders""")


def definitions(database) -> dict[str, tuple[str, bool]]:
    return {name: (definition, valid) for name, definition, valid in database.execute(
        "SELECT c.relname, pg_get_indexdef(c.oid), i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")}


def test_dry_run_migration_drop_and_restore(database, tmp_path):
    seed(database)
    before = definitions(database)
    cfg = config(tmp_path)
    dry = perfcheck("apply-indexes", "--drop", "--db", database.url, "--config", cfg)
    assert dry.code == 0, dry.out + dry.err
    assert "dry run: nothing was changed" in dry.err and "2 index(es) to drop" in dry.out
    assert "DROP INDEX CONCURRENTLY IF EXISTS public.orders_note_idx;" in dry.out
    assert "restore: CREATE INDEX CONCURRENTLY orders_note_idx ON public.orders USING btree (note);" in dry.out
    assert "DROP INDEX CONCURRENTLY IF EXISTS public.orders_customer_id_copy_idx;" in dry.out
    assert "is identical to public.orders_customer_id_idx" in dry.out
    assert "note: replicas keep their own statistics" in dry.out
    numbered = [line.split(" on ")[0] for line in dry.out.splitlines() if re.match(r"\d+\. ", line)]
    assert numbered == ["1. public.orders_note_idx", "2. public.orders_customer_id_copy_idx"]

    migration = tmp_path / "002_drop_indexes.sql"
    written = perfcheck("apply-indexes", "--drop", "--db", database.url, "--config", cfg, "--write-migration", str(migration))
    assert written.code == 0, written.err
    text = migration.read_text()
    body, down = text.split("-- Down: the statements that restore what this migration drops.")
    assert [line for line in body.splitlines() if line and not line.startswith("--")] == [
        "SET lock_timeout = '10s';", "DROP INDEX CONCURRENTLY IF EXISTS public.orders_note_idx;",
        "DROP INDEX CONCURRENTLY IF EXISTS public.orders_customer_id_copy_idx;"]
    assert down.split() == ["--", "CREATE", "INDEX", "CONCURRENTLY", "orders_note_idx", "ON", "public.orders", "USING",
                            "btree", "(note);", "--", "CREATE", "INDEX", "CONCURRENTLY", "orders_customer_id_copy_idx",
                            "ON", "public.orders", "USING", "btree", "(customer_id);"]
    assert definitions(database) == before  # neither the dry run nor the migration touched the database

    done = perfcheck("apply-indexes", "--drop", "--yes", "--db", database.url, "--config", cfg)
    assert done.code == 0, done.out + done.err
    assert "✔ dropped public.orders_note_idx on orders" in done.out and "summary: 2 dropped" in done.out
    assert "restore: CREATE INDEX CONCURRENTLY orders_note_idx ON public.orders USING btree (note);" in done.out
    after = definitions(database)
    assert set(before) - set(after) == {"orders_note_idx", "orders_customer_id_copy_idx"}
    assert all(valid for _, valid in after.values())

    result = done.out.split("✔ dropped", 1)[1]  # after the plan: the result's lines
    restore = [line.split("restore: ", 1)[1].rstrip(";") for line in result.splitlines() if "restore: " in line]
    assert len(restore) == 2
    with database.connect() as conn:
        for statement in restore:
            conn.execute(statement)
    assert definitions(database) == before  # the restore statements build the same indexes again

    again = perfcheck("apply-indexes", "--drop", "--yes", "--db", database.url, "--config", cfg)
    assert again.code == 0 and "2 index(es) to drop" in again.out


def test_unused_indexes_need_statistics_old_enough(database):
    seed(database)
    dry = perfcheck("apply-indexes", "--drop", "--db", database.url)  # default: drop_min_stats_days 7
    assert dry.code == 0, dry.err
    assert "1 index(es) to drop" in dry.out and "DROP INDEX CONCURRENTLY IF EXISTS public.orders_customer_id_copy_idx" in dry.out
    assert "= public.orders_note_idx on orders (unused, " in dry.out and "statistics too young" in dry.out
    assert re.search(r"1 unused index\(es\) not offered: the statistics are \d+\.\d hours old, under drop_min_stats_days "
                     r"\(7\); an index unused for that short a time may serve a weekly or monthly job", dry.out), dry.out
    assert "note: replicas keep their own statistics" in dry.out
    done = perfcheck("apply-indexes", "--drop", "--yes", "--db", database.url)
    assert done.code == 0 and "orders_note_idx" in definitions(database)


def test_safeguards_keep_what_must_stay_and_drop_the_look_alike(database, tmp_path):
    database.execute("""
        -- a primary key and a UNIQUE constraint on the same column: both back constraints
        CREATE TABLE codes (a int PRIMARY KEY);
        ALTER TABLE codes ADD CONSTRAINT codes_a_key UNIQUE (a);
        -- identical unique indexes, the newer one the replica identity; beside them a plain look-alike pair
        CREATE TABLE ledger (a int NOT NULL, b int NOT NULL);
        CREATE UNIQUE INDEX ledger_a_idx ON ledger (a);
        CREATE UNIQUE INDEX ledger_a_ident_idx ON ledger (a);
        ALTER TABLE ledger REPLICA IDENTITY USING INDEX ledger_a_ident_idx;
        CREATE INDEX ledger_b_idx ON ledger (b);
        CREATE INDEX ledger_b_copy_idx ON ledger (b);
        -- an unscanned 1 MB+ index that is a foreign key's only cover
        CREATE TABLE parents (id int PRIMARY KEY);
        INSERT INTO parents SELECT generate_series(1, 100000);
        CREATE TABLE children (id int, parent_id int REFERENCES parents);
        INSERT INTO children SELECT g, g FROM generate_series(1, 100000) g;
        CREATE INDEX children_parent_id_idx ON children (parent_id);
        -- the look-alike: unscanned too, but another index serves the same foreign key
        CREATE TABLE toys (id int, parent_id int REFERENCES parents);
        INSERT INTO toys SELECT g, g FROM generate_series(1, 100000) g;
        CREATE INDEX toys_parent_id_idx ON toys (parent_id);
        CREATE INDEX toys_parent_id_id_idx ON toys (parent_id, id);
        -- a duplicate on a partitioned table
        CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
        CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        CREATE INDEX events_at_idx ON events (at);
        CREATE INDEX events_at_copy_idx ON events (at);
        ANALYZE""")
    cfg = config(tmp_path)
    dry = perfcheck("apply-indexes", "--drop", "--db", database.url, "--config", cfg)
    assert dry.code == 0, dry.err
    drops, kept = dry.out.split("\nkept:\n")
    assert "DROP INDEX CONCURRENTLY IF EXISTS public.ledger_b_copy_idx;" in drops  # the healthy look-alikes go
    assert "DROP INDEX CONCURRENTLY IF EXISTS public.toys_parent_id_idx;" in drops
    assert "2 index(es) to drop" in drops
    assert "= public.codes_a_key on codes (duplicate, " in kept and "backs the constraint codes_a_key (unique)" in kept
    assert "= public.ledger_a_ident_idx on ledger (duplicate, " in kept and "replica identity" in kept
    assert ("= public.children_parent_id_idx on children (unused, " in kept
            and "the only index serving the foreign key children_parent_id_fkey (parent_id)" in kept)
    assert ("= public.toys_parent_id_id_idx on toys (unused, " in kept  # the last one serving toys' foreign key stays
            and "the only index serving the foreign key toys_parent_id_fkey (parent_id)" in kept)
    assert "= public.events_at_copy_idx on events (duplicate" in kept
    assert "cannot drop it CONCURRENTLY" in kept and "--allow-locking-drop" in kept
    assert "events_2026" not in drops  # a partition's index never on its own

    locking = perfcheck("apply-indexes", "--drop", "--db", database.url, "--config", cfg, "--allow-locking-drop",
                        "--only", "events")
    assert "1 index(es) to drop" in locking.out and "DROP INDEX IF EXISTS public.events_at_copy_idx;" in locking.out
    assert "locks the table and its partitions" in locking.out
    assert "restore: CREATE INDEX events_at_copy_idx ON ONLY public.events USING btree (at);" in locking.out
    done = perfcheck("apply-indexes", "--drop", "--yes", "--db", database.url, "--config", cfg, "--allow-locking-drop")
    assert done.code == 0, done.out + done.err
    assert "✔ dropped public.events_at_copy_idx on events: in " in done.out and "locked the table" in done.out
    left = definitions(database)
    assert "events_at_copy_idx" not in left and "ledger_b_copy_idx" not in left
    assert "toys_parent_id_idx" not in left
    assert {"codes_a_key", "codes_pkey", "ledger_a_ident_idx", "ledger_a_idx", "children_parent_id_idx",
            "events_at_idx", "ledger_b_idx", "toys_parent_id_id_idx"} <= set(left)
    assert [n for n in left if n.startswith("events_2026")] == ["events_2026_at_idx"]  # the copy's child went with it


def hold_lock(database, table: str) -> psycopg.Connection:
    """A long transaction that has read the table and stays open (it holds ACCESS SHARE)."""
    conn = psycopg.connect(database.url)
    conn.execute("SET application_name = 'nightly-report'")
    conn.execute(f"SELECT count(*) FROM {table}")
    return conn


def test_a_drop_blocked_by_a_long_transaction_waits_retries_and_leaves_nothing_invalid(database, tmp_path):
    seed(database)
    blocker = hold_lock(database, "orders")
    try:
        started = time.monotonic()
        run = perfcheck("apply-indexes", "--drop", "--yes", "--db", database.url, "--config", config(tmp_path),
                        "--lock-timeout", "1", "--retries", "2", "--only", "orders")
        took = time.monotonic() - started
        pid = blocker.info.backend_pid
    finally:
        blocker.close()
    assert run.code == 1, run.out + run.err
    assert f"orders is in use by pid {pid} (idle in transaction" in run.err and "retrying in 1 s (1 of 2)" in run.err
    assert "✖ skipped public.orders_note_idx on orders: could not drop without waiting on other sessions (3 tries" in run.out
    assert f"blocked by pid {pid}" in run.out and "application 'nightly-report'" in run.out
    assert "nothing was changed" in run.out and took >= 3  # two back-offs: 1 s and 2 s
    left = definitions(database)
    assert left["orders_note_idx"][1] and left["orders_customer_id_copy_idx"][1]  # both there, both valid


def start(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PERFCHECK_URL")}
    return subprocess.Popen([sys.executable, "-m", "perfcheck", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_a_signal_between_drops_stops_with_its_code_and_a_consistent_state(database, tmp_path, signum, code, word):
    seed(database)
    database.execute("""
        CREATE TABLE archive (id int, kind int);
        CREATE INDEX archive_kind_idx ON archive (kind);
        CREATE INDEX archive_kind_copy_idx ON archive (kind)""")
    blocker = hold_lock(database, "archive")  # the second table's drop waits, retrying
    try:
        proc = start("apply-indexes", "--drop", "--yes", "--db", database.url, "--config", config(tmp_path),
                     "--lock-timeout", "1", "--retries", "5")
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "archive is in use by" in line:
                break
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        blocker.close()
    assert proc.returncode == code, out + err
    assert "✔ dropped public.orders_note_idx" in out
    assert f"✖ interrupted public.archive_kind_copy_idx on archive: {word}: nothing was changed" in out
    assert "interrupted: dropped: public.orders_note_idx" in out
    left = definitions(database)
    assert "orders_note_idx" not in left and left["archive_kind_copy_idx"][1]
    assert database.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]


def test_sigterm_during_a_drop_cancels_it_and_says_where_the_index_is(database, tmp_path):
    """In-process: a session that reads the table arrives after the drop's pre-check (as a
    real one can), so DROP INDEX CONCURRENTLY has marked the index INVALID and waits for it
    when SIGTERM comes. The result says so, with both ways out, and the next run finishes."""
    from perfcheck.apply.drop import DropOptions, drop
    from perfcheck.apply.drop_plan import plan
    from perfcheck.apply.lock import sigterm_as_interrupt
    from perfcheck.config import load

    seed(database)
    cfg = load(config(tmp_path), targets={"db": database.url})
    the_plan = plan(cfg, database.url)
    the_plan.drops = [d for d in the_plan.drops if d.name == "orders_note_idx"]
    late: list[psycopg.Connection] = []

    def events(line: str) -> None:
        if line.startswith("  DROP INDEX CONCURRENTLY"):  # after the pre-check, right before the drop
            late.append(psycopg.connect(database.url))
            late[0].execute("SELECT count(*) FROM orders")  # its transaction stays open

    def terminate_once_waiting() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if database.execute("SELECT 1 FROM pg_stat_activity WHERE query LIKE '%%DROP INDEX CONCURRENTLY%%' "
                                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=terminate_once_waiting, daemon=True)
    try:
        with sigterm_as_interrupt():
            killer.start()
            result = drop(the_plan, database.url, options=DropOptions(lock_timeout_s=30), events=events)
            killer.join()
    finally:
        for conn in late:
            conn.close()
    (outcome,) = result.outcomes
    assert result.interrupted and result.terminated and outcome.status == "interrupted"
    assert outcome.message == (
        "SIGTERM: public.orders_note_idx was left INVALID half way (queries no longer use it, writes still maintain "
        "it): run --drop --yes again to finish, or REINDEX INDEX CONCURRENTLY public.orders_note_idx to keep it")
    assert definitions(database)["orders_note_idx"][1] is False
    assert database.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]
    assert database.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DROP INDEX%%' "
                            "AND pid <> pg_backend_pid()") == [(0,)]  # cancelled in the server too

    finish = perfcheck("apply-indexes", "--drop", "--yes", "--db", database.url, "--config", config(tmp_path),
                       "--only", "orders")
    assert finish.code == 0, finish.out + finish.err
    assert "public.orders_note_idx on orders (invalid" in finish.out and "✔ dropped public.orders_note_idx" in finish.out
    assert "orders_note_idx" not in definitions(database)


def test_a_lock_timeout_in_the_middle_of_a_drop_is_retried_and_reported_with_the_index_state(database, tmp_path):
    """The race the pre-check cannot close: a session reads the table right after it. The
    drop's wait times out (lock_timeout), it retries, and it reports the index as INVALID
    half way, with both ways out; once the session ends the next run finishes the drop."""
    from perfcheck.apply.drop import DropOptions, drop
    from perfcheck.apply.drop_plan import plan
    from perfcheck.config import load

    seed(database)
    the_plan = plan(load(config(tmp_path), targets={"db": database.url}), database.url)
    the_plan.drops = [d for d in the_plan.drops if d.name == "orders_note_idx"]
    late: list[psycopg.Connection] = []
    lines: list[str] = []

    def events(line: str) -> None:
        lines.append(line)
        if line.startswith("  DROP INDEX CONCURRENTLY") and not late:
            late.append(psycopg.connect(database.url))
            late[0].execute("SELECT count(*) FROM orders")  # its transaction stays open

    try:
        result = drop(the_plan, database.url, options=DropOptions(lock_timeout_s=1, retries=1, backoff_s=0.2),
                      events=events)
        pid = late[0].info.backend_pid
    finally:
        for conn in late:
            conn.close()
    (outcome,) = result.outcomes
    assert not result.ok and outcome.status == "skipped"
    assert any(line.startswith("  lock timeout (1 s) waiting for ") for line in lines), lines
    assert any(line.startswith(f"  orders is in use by pid {pid}") for line in lines), lines  # the retry's pre-check
    assert outcome.message.startswith("could not drop without waiting on other sessions (2 tries")
    assert outcome.message.endswith("public.orders_note_idx was left INVALID half way (queries no longer use it, "
                                    "writes still maintain it): run --drop --yes again to finish, or REINDEX INDEX "
                                    "CONCURRENTLY public.orders_note_idx to keep it")
    assert definitions(database)["orders_note_idx"][1] is False
    again = drop(the_plan, database.url)  # the session is gone: the drop finishes
    assert again.ok and again.outcomes[0].status == "dropped" and "orders_note_idx" not in definitions(database)


def test_a_locking_drop_waits_for_a_session_reading_one_partition(database, tmp_path):
    """A plain DROP INDEX on a partitioned table locks every partition: a session that read
    one partition directly (not through the parent) is waited for too, and nothing changes."""
    from perfcheck.apply.drop import DropOptions, drop
    from perfcheck.apply.drop_plan import plan
    from perfcheck.config import load

    database.execute("""
        CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
        CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        CREATE INDEX events_at_idx ON events (at);
        CREATE INDEX events_at_copy_idx ON events (at)""")
    the_plan = plan(load(config(tmp_path), targets={"db": database.url}), database.url, allow_locking=True)
    assert [d.name for d in the_plan.drops] == ["events_at_copy_idx"]
    reader = hold_lock(database, "events_2026")
    lines: list[str] = []
    try:
        result = drop(the_plan, database.url, options=DropOptions(lock_timeout_s=1, retries=1, backoff_s=0.2,
                                                                  allow_locking_drop=True), events=lines.append)
        pid = reader.info.backend_pid
    finally:
        reader.close()
    (outcome,) = result.outcomes
    assert outcome.status == "skipped" and f"blocked by pid {pid}" in outcome.message, outcome.message
    assert outcome.message.endswith("nothing was changed")
    assert not any(line.startswith("  DROP INDEX") for line in lines)  # never started, never queued
    assert "events_at_copy_idx" in definitions(database)


def test_an_invalid_index_is_dropped_unless_a_live_session_is_building_it(database, tmp_path):
    seed(database)
    writer = psycopg.connect(database.url)
    writer.execute("UPDATE orders SET status = status WHERE id = 1")  # an open writer: builds wait for it
    building = psycopg.connect(database.url, autocommit=True)
    # another session's build, live, waiting for the writer: its index is INVALID meanwhile
    live = threading.Thread(target=lambda: building.execute(
        "CREATE INDEX CONCURRENTLY orders_customer_status_idx ON orders (customer_id, status)"), daemon=True)
    try:
        with database.connect() as conn:  # a leftover: a concurrent build cancelled while it waited
            conn.execute("SET statement_timeout = '300ms'")
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute("CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status)")
        live.start()
        deadline = time.monotonic() + 30
        while "orders_customer_status_idx" not in definitions(database) and time.monotonic() < deadline:
            time.sleep(0.05)
        dry = perfcheck("apply-indexes", "--drop", "--db", database.url, "--config", config(tmp_path))
    finally:
        writer.rollback()
        writer.close()
        if live.is_alive() or live.ident:
            live.join(30)
        building.close()
    assert dry.code == 0, dry.err
    drops, kept = dry.out.split("\nkept:\n")
    assert "DROP INDEX CONCURRENTLY IF EXISTS public.orders_status_idx;" in drops
    assert "restore: CREATE INDEX CONCURRENTLY orders_status_idx ON public.orders USING btree (status);" in drops
    assert "= public.orders_customer_status_idx on orders (invalid" in kept
    assert "INVALID, but a live session is building it: pid" in kept


def test_through_a_transaction_pooler_drop_is_refused(database, pgbouncer):
    url = pgbouncer.url_for(database.name)
    run = perfcheck("apply-indexes", "--drop", "--db", url)
    assert run.code == 2 and "transaction mode" in run.err and "pass the direct URL" in run.err, run.err


def test_bad_input_is_one_line(tmp_path):
    run = perfcheck("apply-indexes", "--drop", "--yes", "--write-migration", str(tmp_path / "x.sql"),
                    "--db", "postgresql://u:s3cret@127.0.0.1:1/x")
    assert run.code == 2 and "choose one" in run.err and "s3cret" not in run.err and "Traceback" not in run.err


@pytest.mark.parametrize("server, caveat, age", [
    ({"stats_reset": None, "started": "2026-03-01 08:00:00+00", "now": "2026-03-03 08:00:00+00"}, True, 2.0),
    ({"stats_reset": "2026-03-02 20:00:00+00", "started": "2026-01-01 08:00:00+00", "now": "2026-03-03 08:00:00+00"}, True, 0.5),
    ({"stats_reset": "2026-02-01 08:00:00+00", "started": "2026-03-03 07:00:00+00", "now": "2026-03-03 08:00:00+00"}, False, 30.0),
    ({"stats_reset": None, "started": "2026-01-01 08:00:00+00", "now": "2026-03-03 08:00:00+00"}, False, 61.0),
])
def test_db_unused_indexes_says_when_its_statistics_are_too_young(server, caveat, age):
    from perfcheck.checks.db.unused_indexes import unused_indexes

    big = {"oid": 1, "schema": "public", "table": "t", "name": "t_note_idx", "method": "btree", "is_unique": False,
           "is_primary": False, "is_valid": True, "is_ready": True, "key_columns": 1, "attnums": [2], "columns": ["note"],
           "expressions": None, "predicate": None, "backs_constraint": False, "is_partition": False,
           "size_bytes": 5 * 1024 * 1024, "scans": 0, "definition": "CREATE INDEX t_note_idx ON public.t USING btree (note)",
           "table_kind": "r"}
    facts = {"postgres.server": {"database": "app", "in_recovery": False, **server}, "postgres.foreign_keys": [],
             "postgres.indexes": [big]}
    out = unused_indexes.judge(facts, dict(unused_indexes.meta.thresholds))
    assert out.metrics["stats_age_days"] == age and [f.object for f in out.findings] == ["public.t_note_idx"]
    assert ("too young to prove an index unused" in out.summary) is caveat
    assert ("under drop_min_stats_days (7)" in out.summary) is caveat


def test_an_invalid_unique_index_that_still_checks_new_rows_is_kept(database, tmp_path):
    """A CREATE UNIQUE INDEX CONCURRENTLY cancelled after its build (here while it waited
    for an old snapshot) leaves an INVALID index that is ready: PostgreSQL keeps checking
    new rows against it, so dropping it would let in duplicates that are refused today."""
    seed(database)
    holder = psycopg.connect(database.url)  # an old snapshot the build's last phase waits for
    holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    holder.execute("SELECT count(*) FROM pg_class")
    try:
        with database.connect() as conn:
            conn.execute("SET statement_timeout = '2s'")
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute("CREATE UNIQUE INDEX CONCURRENTLY orders_note_key ON orders (note)")
    finally:
        holder.rollback()
        holder.close()
    ready, valid = database.execute("SELECT indisready, indisvalid FROM pg_index WHERE indexrelid = 'orders_note_key'::regclass")[0]
    assert ready and not valid
    note = database.execute("SELECT note FROM orders WHERE id = 1")[0][0]
    with database.connect() as conn:  # INVALID, and yet it refuses a new duplicate
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO orders (id, note) VALUES (40001, %s)", (note,))
    cfg = config(tmp_path)
    dry = perfcheck("apply-indexes", "--drop", "--db", database.url, "--config", cfg)
    assert dry.code == 0, dry.err
    drops, kept = dry.out.split("\nkept:\n")
    assert "orders_note_key" not in drops
    assert "= public.orders_note_key on orders (invalid" in kept
    assert "an INVALID unique index still checks new rows for duplicates: rebuild it rather than drop it" in kept
    done = perfcheck("apply-indexes", "--drop", "--yes", "--db", database.url, "--config", cfg)
    assert done.code == 0, done.err
    assert "orders_note_key" in definitions(database)  # still there after a real run
