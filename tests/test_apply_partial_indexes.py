"""apply-indexes builds exactly the index the advisor recommended: a partial index keeps its
WHERE, a covering index its INCLUDE columns, on a plain and on a partitioned table, in what
it builds and in the migration it writes, and a second run finds them built."""

from __future__ import annotations

from perfcheck.advisor.migration import migration
from perfcheck.advisor.model import Advice, Recommendation
from perfcheck.apply.build import apply


def seed(database) -> None:
    database.execute("""
        CREATE TABLE jobs (id int PRIMARY KEY, status text, owner_id int, created_at timestamptz);
        INSERT INTO jobs SELECT g, CASE WHEN g % 1000 = 0 THEN 'failed' ELSE 'done' END, g % 500, now()
          FROM generate_series(1, 20000) g;
        CREATE TABLE events (id int, at date, kind text, payload text) PARTITION BY RANGE (at);
        CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        ANALYZE""")


def recommendations() -> list[Recommendation]:
    return [
        Recommendation("public", "jobs", ["created_at"], "jobs_created_at_failed_idx", where="status = 'failed'"),
        Recommendation("public", "jobs", ["owner_id"], "jobs_owner_id_include_idx", include=["status", "created_at"]),
        Recommendation("public", "events", ["kind"], "events_kind_idx", table_kind="p",
                       partitions=[["public", "events_2025"], ["public", "events_2026"]],
                       include=["payload"], where="kind <> 'noise'"),
    ]


def definitions(database) -> dict[str, str]:
    return dict(database.execute(
        "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT i.indisprimary "
        "AND i.indisvalid"))


def test_partial_and_include_recommendations_are_built_as_recommended(database):
    seed(database)
    advice = Advice("hypopg", recommendations())
    result = apply(advice, database.url)
    assert result.ok, [(o.status, o.message) for o in result.outcomes]
    assert [o.status for o in result.outcomes] == ["built", "built", "built"]
    built = definitions(database)
    assert built["jobs_created_at_failed_idx"] == (
        "CREATE INDEX jobs_created_at_failed_idx ON public.jobs USING btree (created_at) WHERE (status = 'failed'::text)")
    assert built["jobs_owner_id_include_idx"] == (
        "CREATE INDEX jobs_owner_id_include_idx ON public.jobs USING btree (owner_id) INCLUDE (status, created_at)")
    assert built["events_kind_idx"] == ("CREATE INDEX events_kind_idx ON ONLY public.events USING btree (kind) "
                                        "INCLUDE (payload) WHERE (kind <> 'noise'::text)")
    for part in ("events_2025", "events_2026"):
        name = f"{part}_kind_incl_partial_idx"  # not the name a plain index on (kind) would take
        assert built[name] == (f"CREATE INDEX {name} ON public.{part} USING btree (kind) "
                               f"INCLUDE (payload) WHERE (kind <> 'noise'::text)")

    again = apply(Advice("hypopg", recommendations()), database.url)  # the server renders them its own way
    assert [o.status for o in again.outcomes] == ["exists", "exists", "exists"], [o.message for o in again.outcomes]


def test_an_index_under_the_name_with_another_predicate_or_fewer_columns_is_not_taken_for_it(database):
    seed(database)
    database.execute("CREATE INDEX jobs_created_at_failed_idx ON jobs (created_at) WHERE status = 'done'")
    database.execute("CREATE INDEX jobs_owner_id_include_idx ON jobs (owner_id) INCLUDE (status)")
    result = apply(Advice("hypopg", recommendations()[:2]), database.url)
    assert [o.status for o in result.outcomes] == ["skipped", "skipped"]
    assert all("exists already but is another index" in o.message for o in result.outcomes)


def test_the_migration_carries_where_and_include():
    text = migration(Advice("hypopg", recommendations()))
    assert ("CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_created_at_failed_idx ON public.jobs (created_at) "
            "WHERE status = 'failed';") in text
    assert ("CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_owner_id_include_idx ON public.jobs (owner_id) "
            "INCLUDE (status, created_at);") in text
    assert ("CREATE INDEX IF NOT EXISTS events_kind_idx ON ONLY public.events (kind) INCLUDE (payload) "
            "WHERE kind <> 'noise';") in text


def test_a_plain_and_a_partial_index_on_the_same_keys_of_a_partitioned_table_both_build(database):
    seed(database)
    parts = [["public", "events_2025"], ["public", "events_2026"]]
    recs = [Recommendation("public", "events", ["kind"], "events_kind_idx", table_kind="p", partitions=parts),
            Recommendation("public", "events", ["kind"], "events_kind_partial_idx", table_kind="p", partitions=parts,
                           where="kind = 'rare'")]
    result = apply(Advice("hypopg", recs), database.url)
    assert [o.status for o in result.outcomes] == ["built", "built"], [o.message for o in result.outcomes]
    built = definitions(database)
    assert built["events_2026_kind_idx"] == "CREATE INDEX events_2026_kind_idx ON public.events_2026 USING btree (kind)"
    assert built["events_2026_kind_partial_idx"] == ("CREATE INDEX events_2026_kind_partial_idx ON public.events_2026 "
                                                     "USING btree (kind) WHERE (kind = 'rare'::text)")


def test_an_invalid_leftover_of_a_partial_build_is_repaired_and_another_predicate_left_alone(database):
    import psycopg
    import pytest

    seed(database)
    writer = psycopg.connect(database.url)
    writer.execute("UPDATE jobs SET owner_id = owner_id WHERE id = 1")  # builds wait for it: cancelled, INVALID
    try:
        with database.connect() as conn:
            conn.execute("SET statement_timeout = '300ms'")
            for statement in ("CREATE INDEX CONCURRENTLY jobs_created_at_failed_idx ON jobs (created_at) "
                              "WHERE status = 'failed'",
                              "CREATE INDEX CONCURRENTLY jobs_owner_id_include_idx ON jobs (owner_id) INCLUDE (status)"):
                with pytest.raises(psycopg.errors.QueryCanceled):
                    conn.execute(statement)
    finally:
        writer.rollback()
        writer.close()
    result = apply(Advice("hypopg", recommendations()[:2]), database.url)
    repaired, other = result.outcomes
    assert repaired.status == "repaired", repaired.message
    assert other.status == "skipped" and "is INVALID and not perfcheck's to repair" in other.message
    assert "its definition is not the one perfcheck would build" in other.message
    assert definitions(database)["jobs_created_at_failed_idx"] == (
        "CREATE INDEX jobs_created_at_failed_idx ON public.jobs USING btree (created_at) WHERE (status = 'failed'::text)")
