"""A GIN recommendation (which HypoPG cannot verify) through the audit and `perfcheck
apply-indexes`, end to end on a real workload in pg_stat_statements: labelled unverified in
every report format and in the plan, held back by `--yes` (beside a verified btree that is
built), built only with `--allow-unverified`."""

from __future__ import annotations

import json

from helpers import check, perfcheck
from test_apply_indexes import indexes, seed

GIN = "docs_payload_jsonb_path_ops_gin_idx"
BTREE = "orders_customer_id_idx"


def seed_docs(database, calls: int = 12) -> None:
    database.execute("""
        CREATE TABLE docs (id int PRIMARY KEY, payload jsonb NOT NULL);
        INSERT INTO docs SELECT g, jsonb_build_object('kind', 'k' || (g % 500), 'n', g) FROM generate_series(1, 30000) g;
        ANALYZE docs""")
    with database.connect() as conn:
        for i in range(calls):
            conn.execute("SELECT id FROM docs WHERE payload @> %s::jsonb", (json.dumps({"kind": f"k{i}"}),)).fetchall()


def test_gin_is_labelled_unverified_and_held_back_unless_allowed(database, hypopg, tmp_path):
    seed(database)
    seed_docs(database)
    audit = perfcheck("audit", "--db", database.url, "--only", "db.missing_indexes", "--format", "json")
    result = check(audit.json, "db.missing_indexes")
    assert result["metrics"]["mode"] == "hypopg" and "1 of them UNVERIFIED" in result["summary"]
    gin = next(f for f in result["findings"] if "USING gin" in f["object"])
    assert gin["object"] == "public.docs USING gin (payload jsonb_path_ops)"
    assert gin["message"].startswith("UNVERIFIED (HypoPG cannot simulate GIN indexes")
    assert gin["evidence"]["verified"] is False and gin["evidence"]["unverified_reason"]
    assert gin["fix"] == f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {GIN} ON public.docs USING gin (payload jsonb_path_ops);"
    btree = next(f for f in result["findings"] if f is not gin)
    assert btree["evidence"]["verified"] is True and not btree["message"].startswith("UNVERIFIED")
    formats = ("terminal", "markdown", "sarif", "junit", "html", "github", "gitlab")
    out = tmp_path / "reports"
    perfcheck("audit", "--db", database.url, "--only", "db.missing_indexes", "--output-dir", str(out),
              *[arg for fmt in formats for arg in ("--format", fmt)])
    written = sorted(out.iterdir())
    assert len(written) == len(formats)
    for path in written:
        assert "UNVERIFIED (HypoPG cannot simulate GIN indexes" in path.read_text(), path.name

    dry = perfcheck("apply-indexes", "--db", database.url)
    assert "UNVERIFIED (HypoPG cannot simulate GIN" in dry.out and "--allow-unverified" in dry.out
    migration = tmp_path / "002_indexes.sql"
    perfcheck("apply-indexes", "--db", database.url, "--write-migration", str(migration))
    assert "-- UNVERIFIED: HypoPG cannot simulate GIN" in migration.read_text()

    applied = perfcheck("apply-indexes", "--db", database.url, "--yes")
    assert applied.code == 0, applied.out + applied.err
    assert f"- held back public.{GIN}" in applied.out and "not built without --allow-unverified" in applied.out
    assert "summary: 1 built, 1 held back (unverified)" in applied.out
    assert indexes(database)[BTREE] is True and GIN not in indexes(database, "docs")

    allowed = perfcheck("apply-indexes", "--db", database.url, "--yes", "--allow-unverified")
    assert allowed.code == 0, allowed.out + allowed.err
    assert f"✔ built public.{GIN}" in allowed.out and indexes(database, "docs")[GIN] is True
    assert database.execute("SELECT count(*) FROM pg_indexes WHERE indexname = %s AND indexdef LIKE %s",
                            (GIN, "%USING gin (payload jsonb_path_ops)")) == [(1,)]
