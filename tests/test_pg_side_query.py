"""postgres.columns runs on a second read-only session while the main one gathers the
rest (collectors/postgres/side_query.py). A role allowed one connection cannot open it:
the audit then runs the query on its main session and judges the same, with no error."""

from __future__ import annotations

import json

from helpers import check, perfcheck


def plant(database) -> None:
    """docs: a few wide text columns, read by SELECT * often (db.select_star fails it)."""
    database.execute("""
        CREATE TABLE docs (id int PRIMARY KEY, title text, body text, summary text);
        INSERT INTO docs SELECT g, repeat('t', 900), repeat('b', 1200), repeat('s', 800) FROM generate_series(1, 2000) g;
        ANALYZE docs""")
    with database.connect() as conn:
        for i in range(300):
            conn.execute("SELECT * FROM docs WHERE id = %s", (i,)).fetchall()


def select_star(url: str) -> dict:
    run = perfcheck("audit", "--db", url, "--only", "db.select_star", "--format", "json")
    assert run.code in (0, 1), run.err
    return check(json.loads(run.out), "db.select_star")


def test_the_columns_query_runs_on_a_side_session_or_else_on_the_main_one(database, pg_server):
    plant(database)
    pg_server.psql("CREATE ROLE one_conn LOGIN PASSWORD 'pw' CONNECTION LIMIT 1 IN ROLE pg_monitor")
    try:
        database.execute("GRANT SELECT ON docs TO one_conn")
        limited = pg_server.url_for(database.name, "one_conn", "pw")
        usual = select_star(database.url)
        alone = select_star(limited)  # the side session is refused: too many connections for the role
    finally:
        database.execute("DROP OWNED BY one_conn")
        pg_server.psql("DROP ROLE one_conn")
    for result in (usual, alone):
        assert result["status"] in ("warn", "fail"), result["summary"]
        assert any(f["object"] == "public.docs" and f["evidence"]["row_bytes"] > 1000 for f in result["findings"])
    assert [f["object"] for f in usual["findings"]] == [f["object"] for f in alone["findings"]]
