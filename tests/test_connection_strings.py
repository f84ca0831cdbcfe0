"""Connection strings as people have them (issue 12), and poolers, on a real PostgreSQL and
a real PgBouncer: libpq URLs and keyword strings, PG* variables, service files, ORM schemes
and parameters (set aside with one note, judged by db.pool / db.timeouts), host-less strings
refused, the pooler and its mode named, apply-indexes refused through a transaction pooler."""

from __future__ import annotations

import psycopg

import pytest

from helpers import check, perfcheck, unavailable
from pgbouncer import PgBouncer, pgbouncer_binary
from perfcheck.pg import dsn, pooler

PRISMA = ("sslmode=disable&connection_limit=10&pool_timeout=20&statement_timeout=30000"
          "&idle_in_transaction_session_timeout=60000&schema=public")
SECRET = "Pw-s3cr3t-xyz"


def audit(db: str, *only: str, env: dict[str, str] | None = None):
    args = ["audit", "--db", db, "--format", "json"]
    for item in only or ("db.pool", "db.timeouts"):
        args += ["--only", item]
    return perfcheck(*args, env=env)


@pytest.fixture
def app_role(database):
    database.execute(f"DO $$ BEGIN CREATE ROLE app LOGIN PASSWORD '{SECRET}'; "
                     f"EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    database.execute(f"GRANT pg_monitor TO app; GRANT ALL ON DATABASE {database.name} TO app")
    return database.server.url_for(database.name, "app", SECRET)


def test_prisma_url_is_taken_and_its_parameters_judged(database, app_role):
    run = audit(f"{app_role}?{PRISMA}")
    assert run.code in (0, 1), run.err
    assert SECRET not in run.out + run.err
    report = run.json
    pool, timeouts = check(report, "db.pool"), check(report, "db.timeouts")
    assert pool["status"] != "error" and timeouts["status"] != "error", (pool, timeouts)
    notes = [f for f in pool["findings"] if f["object"] == "url"]
    assert len(notes) == 1 and "connection_limit=10" in notes[0]["message"] and "pool_timeout=20" in notes[0]["message"]
    assert pool["metrics"]["url_pool_params"]["connection_limit"] == "10"
    assert pool["metrics"]["pooler"] is None and pool["metrics"]["pool_mode"] is None
    # Direct: the URL's timeouts reach the server with the application's sessions.
    assert timeouts["metrics"]["statement_timeout_ms"] == 30000
    assert timeouts["metrics"]["statement_timeout_source"] == "url"
    assert timeouts["metrics"]["idle_in_transaction_session_timeout_ms"] == 60000


@pytest.mark.parametrize("form", ["keywords", "env", "service", "scheme"])
def test_libpq_forms_connect(database, tmp_path, form):
    server = database.server
    env = {}
    if form == "keywords":
        db = f"host=127.0.0.1 port={server.port} dbname={database.name} user={server.user} connection_limit=5"
    elif form == "env":
        db, env = f"dbname={database.name}", {"PGHOST": "127.0.0.1", "PGPORT": str(server.port), "PGUSER": server.user}
    elif form == "service":
        (tmp_path / "pg_service.conf").write_text(
            f"[shop]\nhost=127.0.0.1\nport={server.port}\ndbname={database.name}\nuser={server.user}\n")
        db, env = "service=shop", {"PGSERVICEFILE": str(tmp_path / "pg_service.conf")}
    else:
        db = database.url.replace("postgresql://", "postgresql+asyncpg://") + "?connection_limit=5"
    run = audit(db, "db.timeouts", "db.pool", env=env)
    assert run.code in (0, 1), run.err
    for chk in run.json["checks"]:
        assert chk["status"] != "error", chk


def test_password_in_a_keyword_string_never_shown(database, app_role):
    server = database.server
    run = audit(f"host=127.0.0.1 port={server.port} dbname={database.name} user=app password='{SECRET}' pool_timeout=0")
    assert run.code in (0, 1), run.err
    assert SECRET not in run.out + run.err
    pool = check(run.json, "db.pool")
    assert any(f["object"] == "url:pool_timeout" and f["severity"] == "warn" for f in pool["findings"])
    wrong = audit(f"host=127.0.0.1 port={server.port} dbname={database.name} user=app password='{SECRET}x'")
    assert SECRET not in wrong.out + wrong.err


@pytest.mark.parametrize("db", ["postgresql://", "postgres://", "postgresql:///shop", "dbname=shop", "not a dsn"])
def test_empty_or_hostless_strings_are_one_line_errors(db):
    run = perfcheck("audit", "--db", db, "--format", "json", env={"PGHOST": "", "PGSERVICE": ""})
    assert run.code == 2, (run.out, run.err)
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("perfcheck: error: --db:"), run.err
    assert "Traceback" not in run.err


def test_audit_through_pgbouncer_names_it_and_its_mode(database, pgbouncer):
    url = pgbouncer.url_for(database.name)
    run = audit(f"{url}?{PRISMA}&options=-c%20lock_timeout%3D5s")
    assert run.code in (0, 1), run.err
    pool, timeouts = check(run.json, "db.pool"), check(run.json, "db.timeouts")
    assert pool["metrics"]["pooler_name"] == "PgBouncer" and pool["metrics"]["pool_mode"] == "transaction", pool
    assert "PgBouncer in transaction mode" in pool["summary"]
    limit = next(f for f in pool["findings"] if f["object"] == "url:connection_limit")
    assert limit["evidence"]["reaches_server"] is False
    # The URL's timeouts stop at the pooler: judged on the server's own settings (off here).
    stopped = {f["object"] for f in timeouts["findings"] if f["evidence"].get("reaches_server") is False}
    assert {"url:statement_timeout", "url:idle_in_transaction_session_timeout", "url:lock_timeout"} <= stopped
    assert timeouts["status"] == "fail" and "statement_timeout_source" not in timeouts["metrics"]


def test_pgbouncer_per_database_pool_mode_wins_over_the_global_one(database, pg_server):
    if not pgbouncer_binary():
        unavailable("PgBouncer is not installed: apt-get install -y pgbouncer")
    bouncer = PgBouncer(pg_server.port, pg_server.user, mode="transaction",
                        databases={database.name: "session"}).start()
    try:
        pool = check(audit(bouncer.url_for(database.name), "db.pool").json, "db.pool")
        # The other databases behind the same PgBouncer keep the global mode.
        assert pooler.probe(bouncer.url_for("postgres"), bouncer.port, pg_server.port)["mode"] == "transaction"
    finally:
        bouncer.stop()
    assert pool["metrics"]["pooler_name"] == "PgBouncer" and pool["metrics"]["pool_mode"] == "session", pool
    assert "PgBouncer in session mode" in pool["summary"], pool["summary"]


def test_set_aside_parameters_are_noted_whichever_database_checks_run(database):
    run = audit(f"{database.url}?{PRISMA}", "db.timeouts")
    assert run.code in (0, 1), run.err
    notes = run.json.get("notes") or []
    assert any("connection_limit" in n for n in notes), run.json.keys()
    plain = audit(database.url, "db.timeouts")
    assert "notes" not in plain.json  # additive: absent when there is nothing to say
    for fmt in ("terminal", "markdown", "html"):
        shown = perfcheck("audit", "--db", f"{database.url}?{PRISMA}", "--only", "db.timeouts", "--format", fmt)
        assert "connection_limit" in shown.out.replace("\\_", "_"), (fmt, shown.out[-800:])


def test_direct_connection_says_no_pooler(database):
    pool = check(audit(database.url, "db.pool").json, "db.pool")
    assert pool["metrics"]["pooler"] is None and "no pooler detected" in pool["summary"]
    assert pool["status"] == "warn"  # no pooler and no pool in the URL: the checklist asks for one


def test_apply_indexes_through_a_transaction_pooler_refuses_with_the_direct_url(database, pgbouncer):
    run = perfcheck("apply-indexes", "--db", pgbouncer.url_for(database.name), "--yes")
    assert run.code == 2, (run.out, run.err)
    direct = f"postgresql://{database.server.user}@127.0.0.1:{database.server.port}/{database.name}"
    assert "transaction mode" in run.err and f"--db '{direct}'" in run.err, run.err
    assert len([line for line in run.err.splitlines() if line.strip()]) == 1


def test_an_audit_through_pgbouncer_leaves_its_server_connections_as_it_found_them(database, pgbouncer):
    database.execute("CREATE TABLE t (x int)")
    url = pgbouncer.url_for(database.name)
    run = audit(url, "database")
    assert run.code in (0, 1), run.err
    # The application's next transactions reuse the pooler's server connections that served
    # the audit: they must not have become read-only or got perfcheck's short timeouts.
    for _ in range(3):
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "off"
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
            conn.execute("INSERT INTO t VALUES (1)")


def test_hosted_pooler_host_names_and_their_direct_hosts():
    unreachable = "host=127.0.0.1 port=1"  # nothing answers: the host name alone tells
    neon = pooler.probe(unreachable, 5432, None, 1, host="ep-cool-1234-pooler.us-east-2.aws.neon.tech")
    assert neon["pooler"] == "a hosted pooler" and "names a pooler" in neon["evidence"][0]
    assert pooler.direct_host("ep-cool-1234-pooler.us-east-2.aws.neon.tech") == "ep-cool-1234.us-east-2.aws.neon.tech"
    assert pooler.probe(unreachable, 5432, None, 1, host="aws-0-eu-central-1.pooler.supabase.com")["pooler"]
    plain = pooler.probe(unreachable, 6432, None, 1, host="db.example.com")
    assert plain["pooler"] is None and "a hint only" in plain["evidence"][0]
    assert pooler.direct_url("postgresql://app:***@h:6432/shop?sslmode=require", "10.0.0.5", 5432) == \
        "postgresql://app:***@10.0.0.5:5432/shop?sslmode=require"
    assert pooler.direct_url("host=h port=6432 dbname=shop", "10.0.0.5", 5432) == "host=10.0.0.5 port=5432 dbname=shop"


def test_dsn_forms_parse_without_a_server():
    parsed = dsn.parse("postgres+psycopg://app:pw@db:6543/shop?sslmode=require&pgbouncer=true&connection_limit=1"
                       "&options=-c%20search_path%3Dapp", {})
    assert parsed.params["sslmode"] == "require" and parsed.params["port"] == "6543"
    assert parsed.set_aside == {"pgbouncer": "true", "connection_limit": "1"}
    assert dsn.session_settings(parsed) == {"search_path": "app"}
    assert "pw" not in parsed.shown and "pw" not in (parsed.note() or "") and "pw" not in str(parsed.visible_params())
    with pytest.raises(dsn.DsnError, match="port must be a number"):
        dsn.parse("postgresql://db:99999/shop", {})
    with pytest.raises(dsn.DsnError, match="must start with postgresql://"):
        dsn.parse("mysql://db/shop", {})
    assert dsn.parse("dbname=shop", {"PGSERVICE": "prod"}).params == {"dbname": "shop"}
