"""The database part of issue 12 on real servers: a healthy schema and workload audits with
no warn or fail in the database category (the failure lists each check that fired), and the
planted look-alikes of db.prepared_statements and db.select_star are caught."""

from __future__ import annotations

import psycopg
import pytest

from helpers import check, perfcheck

SCHEMA = """
CREATE TABLE authors (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO authors SELECT g, 'author ' || g FROM generate_series(1, 500) g;
CREATE TABLE posts (id bigserial PRIMARY KEY, author_id bigint NOT NULL REFERENCES authors, title text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO posts (author_id, title, created_at)
  SELECT g % 500 + 1, 'title ' || g, now() - g * interval '1 minute' FROM generate_series(1, 20000) g;
CREATE INDEX posts_author_created ON posts (author_id, created_at DESC);
CREATE INDEX posts_created ON posts (created_at DESC, id DESC);
CREATE TABLE flags (id int PRIMARY KEY, on_ boolean NOT NULL, since date NOT NULL);
INSERT INTO flags SELECT g, g % 2 = 0, date '2026-01-01' FROM generate_series(1, 50) g;
ANALYZE;
"""

HEALTHY_WORKLOAD = [
    # a page of an author's posts, keyset-paginated, named columns
    ("SELECT id, title, created_at FROM posts WHERE author_id = %s AND created_at < now() "
     "ORDER BY created_at DESC LIMIT 20", lambda i: (i % 500 + 1,)),
    # the latest posts with their authors: one query with a join, not one per row
    ("SELECT p.id, p.title, a.name FROM posts p JOIN authors a ON a.id = p.author_id "
     "WHERE p.created_at < now() - %s * interval '1 minute' ORDER BY p.created_at DESC, p.id DESC LIMIT 20",
     lambda i: (i % 50,)),
    # SELECT * on a narrow table: a few bytes a row (the healthy look-alike of db.select_star)
    ("SELECT * FROM flags WHERE id = %s", lambda i: (i % 50 + 1,)),
]


def run_workload(url: str, statements, calls: int, prepare_threshold: int | None) -> None:
    with psycopg.connect(url, autocommit=True, prepare_threshold=prepare_threshold) as conn:
        for i in range(calls):
            for sql, params in statements:
                conn.execute(sql, params(i)).fetchall()


@pytest.fixture
def healthy(database):
    database.execute(SCHEMA)
    database.execute(f"ALTER DATABASE {database.name} SET statement_timeout = '30s'")
    database.execute(f"ALTER DATABASE {database.name} SET idle_in_transaction_session_timeout = '60s'")
    database.execute(f"ALTER DATABASE {database.name} SET lock_timeout = '10s'")
    database.execute("SELECT pg_stat_statements_reset()")
    # The application: prepared statements (its driver prepares on first use), 300 requests.
    run_workload(database.url, HEALTHY_WORKLOAD, 300, prepare_threshold=0)
    return database


def fired(report: dict, category: str = "database") -> dict[str, str]:
    return {c["id"]: f"{c['status']}: {c['summary']}" for c in report["checks"]
            if c["category"] == category and c["status"] in ("warn", "fail")}


def test_a_healthy_database_audits_clean(healthy, pgbouncer):
    # Audited as the application reaches it: through PgBouncer in transaction mode.
    run = perfcheck("audit", "--db", pgbouncer.url_for(healthy.name), "--only", "database", "--format", "json")
    assert run.code in (0, 1), run.err
    report = run.json
    assert fired(report) == {}, "checks that fired on a healthy database:\n" + "\n".join(
        f"{k}: {v}" for k, v in fired(report).items())
    errors = {c["id"]: c["summary"] for c in report["checks"] if c["status"] == "error"}
    assert not errors, errors
    pool = check(report, "db.pool")
    assert pool["metrics"]["pooler_name"] == "PgBouncer" and pool["metrics"]["pool_mode"] == "transaction"
    assert check(report, "db.prepared_statements")["status"] == "pass"


def test_planted_look_alikes_are_caught(database):
    database.execute(SCHEMA)
    database.execute("CREATE TABLE docs (id bigint PRIMARY KEY, title text, summary text, body text)")
    database.execute("INSERT INTO docs SELECT g, repeat('t', 300), repeat('s', 600), repeat(md5(g::text), 40) "
                     "FROM generate_series(1, 2000) g")
    database.execute("ANALYZE docs")
    database.execute("SELECT pg_stat_statements_reset()")
    planted = [("SELECT * FROM docs WHERE id = %s", lambda i: (i % 2000 + 1,)),
               ("SELECT id, title FROM posts WHERE author_id = %s ORDER BY created_at DESC LIMIT 5",
                lambda i: (i % 500 + 1,))]
    # No server-side prepare: every call is planned.
    run_workload(database.url, planted, 200, prepare_threshold=None)
    run = perfcheck("audit", "--db", database.url, "--only", "db.select_star", "--only", "db.prepared_statements",
                    "--format", "json")
    assert run.code in (0, 1), run.err
    star = check(run.json, "db.select_star")
    assert star["status"] in ("warn", "fail"), star
    (finding,) = star["findings"]
    assert finding["object"] == "public.docs" and finding["evidence"]["row_bytes"] >= 512, finding
    prepared = check(run.json, "db.prepared_statements")
    assert prepared["status"] in ("warn", "fail") and prepared["metrics"]["plans_per_call"] > 0.9, prepared
