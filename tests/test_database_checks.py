"""The database checks as pure functions: hand-built facts in, an outcome out. No server.

Facts are built the way the PostgreSQL collector returns them (one dict per catalog row);
thresholds are the checklist defaults unless a test says otherwise.
"""

from __future__ import annotations

import pytest

from perfcheck.checks.db.cache_hit import cache_hit
from perfcheck.checks.db.duplicate_indexes import duplicate_indexes
from perfcheck.checks.db.fk_indexes import fk_indexes
from perfcheck.checks.db.invalid_indexes import invalid_indexes
from perfcheck.checks.db.long_transactions import long_transactions
from perfcheck.checks.db.n_plus_one import n_plus_one
from perfcheck.checks.db.offset_pagination import offset_pagination
from perfcheck.checks.db.pool import pool
from perfcheck.checks.db.prepared_statements import prepared_statements
from perfcheck.checks.db.select_star import select_star
from perfcheck.checks.db.slow_queries import slow_queries
from perfcheck.checks.db.timeouts import timeouts
from perfcheck.checks.db.unused_indexes import unused_indexes
from perfcheck.checks.db.vacuum import vacuum
from perfcheck.checks.mon.slow_query_log import slow_query_log
from perfcheck.checks.support.statement_shape import UNPARSED, batched, shape
from perfcheck.model import Status


def judge(chk, facts, **overrides):
    return chk.judge(facts, {**chk.meta.thresholds, **overrides})


def by_object(outcome):
    return {f.object: f for f in outcome.findings}


# --- fact builders ------------------------------------------------------------------------

_oids = iter(range(10_000, 1_000_000))


def index(name, table, attnums, *, schema="public", method="btree", unique=False, primary=False, valid=True,
          constraint=False, scans=0, size=8192, key_columns=None, predicate=None, expressions=None,
          opclasses=None, collations=None, partition=False, table_kind="r", ready=True):
    cols = ", ".join(f"c{a}" for a in attnums)
    return {
        "oid": next(_oids), "schema": schema, "table": table, "name": name, "method": method,
        "is_unique": unique, "is_primary": primary, "is_valid": valid, "is_ready": ready,
        "key_columns": len(attnums) if key_columns is None else key_columns, "attnums": list(attnums),
        "columns": [f"c{a}" for a in attnums], "expressions": expressions, "predicate": predicate,
        "opclasses": opclasses or [1978] * len(attnums), "collations": collations or [0] * len(attnums),
        "backs_constraint": constraint, "is_partition": partition, "size_bytes": size, "scans": scans,
        "definition": f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON {schema}.{table} USING {method} ({cols})",
        "table_kind": table_kind,
    }


def fk(table, columns, attnums, ref_table, *, schema="public", ref_schema="public", rows=50_000, name=None,
       table_kind="r", ref_columns=("id",)):
    return {"name": name or f"{table}_{'_'.join(columns)}_fkey", "schema": schema, "table": table,
            "table_kind": table_kind, "attnums": list(attnums), "columns": list(columns), "ref_schema": ref_schema,
            "ref_table": ref_table, "ref_columns": list(ref_columns), "estimated_rows": rows, "table_bytes": rows * 50}


def stmt(query, calls=100, mean_ms=1.0, rows=None, plans=None, plan_ms=None, hit=0, read=0, queryid=None):
    return {"queryid": queryid or abs(hash(query)) % 10**12, "query": query, "calls": calls,
            "rows": calls if rows is None else rows, "total_ms": mean_ms * calls, "mean_ms": mean_ms,
            "plans": plans, "total_plan_ms": plan_ms, "shared_blks_hit": hit, "shared_blks_read": read,
            "user": "app"}


def columns(schema, table, n, types=None):
    types = types or ["integer"] * n
    return [{"table_oid": 1, "schema": schema, "table": table, "attnum": i + 1, "name": name, "type": types[i],
             "not_null": False}
            for i, name in enumerate(["id"] + [f"col{i}" for i in range(1, n)])]


def named_columns(schema, table, names):
    return [{"table_oid": 1, "schema": schema, "table": table, "attnum": i + 1, "name": name, "type": "integer",
             "not_null": False} for i, name in enumerate(names)]


def setting(value, unit=None, reset=None):
    return {"setting": str(value), "unit": unit, "reset_val": str(value if reset is None else reset)}


SERVER = {"database": "shop", "user": "app", "stats_reset": None, "in_recovery": False}


# --- statement shapes (pglast) ------------------------------------------------------------------

def test_shape_kinds_and_tables():
    assert shape("INSERT INTO s.t (a) VALUES ($1)").kind == "insert"
    assert shape("UPDATE t SET a = $1 WHERE id = $2").tables[0].name == "t"
    assert shape("DELETE FROM t WHERE id = $1").kind == "delete"
    assert shape("CREATE INDEX x ON t (a)").kind == "utility"
    assert shape("VACUUM t").kind == "utility"
    assert shape("<insufficient privilege>") is UNPARSED
    assert shape("SELECT FROM WHERE (((") is UNPARSED
    cte = shape("WITH recent AS (SELECT id FROM orders) SELECT * FROM recent JOIN customers c ON true")
    assert {t.name for t in cte.tables} == {"orders", "customers"}


def test_shape_star_targets():
    assert [t.name for t in shape("SELECT * FROM wide WHERE id = $1").star_tables] == ["wide"]
    joined = shape("SELECT u.*, p.id FROM public.users u JOIN posts p ON p.user_id = u.id")
    assert [(t.schema, t.name) for t in joined.star_tables] == [("public", "users")]
    assert {t.name for t in shape("SELECT * FROM a UNION ALL SELECT * FROM b").star_tables} == {"a", "b"}
    assert shape("SELECT 1 WHERE EXISTS (SELECT * FROM a)").star_tables == ()
    assert shape("SELECT count(*) FROM a").star_tables == ()
    assert shape("WITH x AS (SELECT 1) SELECT * FROM x").star_tables == ()
    assert shape("SELECT * FROM (SELECT 1) s").star_tables == ()


def test_shape_lookups():
    rails = shape('SELECT "users"."id", "users"."name" FROM "users" WHERE "users"."id" = $1 LIMIT $2')
    assert rails.lookup.columns == ("id",) and rails.lookup.limit_location is not None
    child = shape("SELECT count(*) FROM comments WHERE post_id = $1 AND deleted_at IS NULL")
    assert child.lookup.columns == ("post_id",)
    assert shape("SELECT * FROM t WHERE $1 = id AND tenant = $2").lookup.columns == ("id", "tenant")
    assert shape("SELECT * FROM t WHERE id = ANY($1)").lookup is None
    assert shape("SELECT * FROM t WHERE id > $1").lookup is None
    assert shape("SELECT * FROM a JOIN b ON a.id = b.a_id WHERE a.id = $1").lookup is None
    assert shape("SELECT * FROM t WHERE id = $1 LIMIT $2 OFFSET $3").lookup is None


def test_shape_paging():
    paging = shape("SELECT id FROM posts ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2").paging
    assert paging.order_by == (("created_at", True), ("id", True)) and paging.has_limit
    assert shape("SELECT id FROM posts LIMIT 10 OFFSET 0").paging is None
    assert shape("SELECT id FROM posts LIMIT 10").paging is None
    assert shape("SELECT id FROM posts ORDER BY lower(title) OFFSET $1").paging.order_by == (("<expression>", False),)


def test_batched_rewrites_the_lookup():
    query = 'SELECT "users"."id" FROM "users" WHERE "users"."id" = $1 LIMIT $2'
    assert batched(query, shape(query).lookup) == 'SELECT "users"."id" FROM "users" WHERE "users"."id" = ANY($1)'
    # Byte offsets from the parser stay right after non-ASCII text.
    query = "SELECT 'é' AS x, id FROM t WHERE id = $1 AND kind = $2"
    assert batched(query, shape(query).lookup) == "SELECT 'é' AS x, id FROM t WHERE id = ANY($1) AND kind = ANY($2)"


def test_shape_is_parsed_once_per_text():
    shape.cache_clear()
    for _ in range(3):
        shape("SELECT id FROM once WHERE id = $1")
    assert shape.cache_info().misses == 1


# --- db.fk_indexes ---------------------------------------------------------------------------

def test_fk_without_index_fails_with_a_safe_concurrent_fix():
    out = judge(fk_indexes, {
        "postgres.foreign_keys": [fk("orders", ["customer_id"], [2], "customers")],
        "postgres.indexes": [index("orders_pkey", "orders", [1], unique=True, primary=True, constraint=True),
                             index("orders_status_customer_idx", "orders", [3, 2])],  # not leading
    })
    assert out.status is Status.FAIL and out.score < 0.5
    finding = by_object(out)["public.orders"]
    assert finding.fix.text == "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON public.orders (customer_id);"
    assert finding.fix.applicability.value == "safe"
    assert finding.evidence["estimated_rows"] == 50_000


@pytest.mark.parametrize("covering", [
    index("i", "orders", [3, 2]),  # same columns, other order
    index("i", "orders", [2, 3, 4]),  # leading columns and more
])
def test_fk_covered_by_leading_columns_in_any_order(covering):
    facts = {"postgres.foreign_keys": [fk("orders", ["a", "b"], [2, 3], "x")], "postgres.indexes": [covering]}
    assert judge(fk_indexes, facts).status is Status.PASS


def test_fk_on_one_column_covered_by_a_hash_index():
    facts = {"postgres.foreign_keys": [fk("orders", ["a"], [2], "x")], "postgres.indexes": [index("h", "orders", [2], method="hash")]}
    assert judge(fk_indexes, facts).status is Status.PASS


@pytest.mark.parametrize("useless", [
    index("i", "orders", [2], predicate="(status = 'x'::text)"),
    index("i", "orders", [2], valid=False),
    index("i", "orders", [2], method="gin"),
    index("i", "other", [2]),
])
def test_fk_not_covered_by_partial_invalid_gin_or_another_tables_index(useless):
    facts = {"postgres.foreign_keys": [fk("orders", ["customer_id"], [2], "customers")], "postgres.indexes": [useless]}
    assert judge(fk_indexes, facts).status is Status.FAIL


def test_fk_severity_by_table_size_and_small_tables_left_alone():
    facts = {"postgres.foreign_keys": [fk("mid", ["a_id"], [2], "a", rows=5_000), fk("tiny", ["a_id"], [2], "a", rows=10)],
             "postgres.indexes": []}
    out = judge(fk_indexes, facts)
    assert [f.severity for f in out.findings] == ["warn"] and out.status is Status.WARN
    assert out.metrics["unindexed_small_tables"] == 1
    small_only = judge(fk_indexes, {"postgres.foreign_keys": [facts["postgres.foreign_keys"][1]],
                                                      "postgres.indexes": []})
    assert small_only.status is Status.PASS and "1 on tables under 1,000 rows" in small_only.summary


def test_fk_on_quoted_schema_partitioned_table_and_a_taken_name():
    facts = {
        "postgres.foreign_keys": [fk("Invoices", ["CustomerId"], [2], "customers", schema="Billing", table_kind="p")],
        "postgres.indexes": [index("invoices_customerid_idx", "Other", [1], schema="Billing")],
    }
    finding = judge(fk_indexes, facts).findings[0]
    assert finding.object == '"Billing"."Invoices"'
    assert finding.fix.text == 'CREATE INDEX IF NOT EXISTS invoices_customerid_idx2 ON "Billing"."Invoices" ("CustomerId");'
    assert finding.fix.applicability.value == "manual" and "partitioned" in finding.message


def partition(table, parents, *, schema="public", kind="r", rows=20_000):
    return {"schema": schema, "table": table, "kind": kind, "estimated_rows": rows,
            "ancestor_schemas": [schema] * len(parents), "ancestor_tables": list(parents)}


def test_fk_of_a_partitioned_table_with_quoted_names_and_a_foreign_partition():
    fks = [fk("Invoices", ["CustomerId"], [2], "customers", schema="Billing", table_kind="p", rows=0)]
    tree = [partition("Invoices 2025", ["Invoices"], schema="Billing"),
            partition("Invoices 2026", ["Invoices"], schema="Billing", kind="p", rows=0),
            partition("Invoices 2026 a", ["Invoices 2026", "Invoices"], schema="Billing")]
    finding = judge(fk_indexes, {"postgres.foreign_keys": fks, "postgres.indexes": [], "postgres.partitions": tree}).findings[0]
    assert finding.fix.statements == (
        'CREATE INDEX IF NOT EXISTS invoices_customerid_idx ON ONLY "Billing"."Invoices" ("CustomerId");',
        'CREATE INDEX IF NOT EXISTS invoices_2026_customerid_idx ON ONLY "Billing"."Invoices 2026" ("CustomerId");',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_2025_customerid_idx ON "Billing"."Invoices 2025" ("CustomerId");',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_2026_a_customerid_idx ON "Billing"."Invoices 2026 a" ("CustomerId");',
        'ALTER INDEX "Billing".invoices_2026_customerid_idx ATTACH PARTITION "Billing".invoices_2026_a_customerid_idx;',
        'ALTER INDEX "Billing".invoices_customerid_idx ATTACH PARTITION "Billing".invoices_2025_customerid_idx;',
        'ALTER INDEX "Billing".invoices_customerid_idx ATTACH PARTITION "Billing".invoices_2026_customerid_idx;')
    assert finding.evidence["estimated_rows"] == 40_000  # the leaves' rows: the parent holds none
    # A foreign-table partition can take no index: the one statement that works, said to lock.
    tree.append(partition("Invoices remote", ["Invoices"], schema="Billing", kind="f", rows=0))
    locked = judge(fk_indexes, {"postgres.foreign_keys": fks, "postgres.indexes": [], "postgres.partitions": tree}).findings[0]
    assert locked.fix.statements == ('CREATE INDEX IF NOT EXISTS invoices_customerid_idx ON "Billing"."Invoices" ("CustomerId");',)
    assert "blocks writes" in locked.message


# --- db.unused_indexes ------------------------------------------------------------------------

def test_unused_large_index_fails_with_an_unsafe_drop():
    mb = 2 * 1024 * 1024
    facts = {"postgres.server": {**SERVER, "stats_reset": "2024-05-01 10:00:00+00"},
             "postgres.foreign_keys": [fk("events", ["user_id"], [8], "users")], "postgres.indexes": [
        index("events_payload_idx", "events", [3], size=mb),
        index("events_user_id_idx", "events", [8], size=mb),  # unscanned, but serves a foreign key
        index("events_user_nn_idx", "events", [8], size=mb, predicate="(user_id IS NOT NULL)"),  # so does this one
        index("used", "events", [2], size=mb, scans=5),
        index("small", "events", [4], size=8192),
        index("events_pkey", "events", [1], size=mb, unique=True, primary=True, constraint=True),
        index("uniq", "events", [5], size=mb, unique=True),
        index("excl", "events", [6], size=mb, constraint=True),
        index("part_idx", "events_2024", [3], size=mb, partition=True),
        index("broken", "events", [7], size=mb, valid=False),
    ]}
    out = judge(unused_indexes, facts)
    assert list(by_object(out)) == ["public.events_payload_idx"] and out.status is Status.FAIL
    finding = out.findings[0]
    assert finding.fix.text == "DROP INDEX CONCURRENTLY IF EXISTS public.events_payload_idx;"
    assert finding.fix.applicability.value == "unsafe"
    assert "2024-05-01 10:00:00" in finding.message and finding.evidence["size_bytes"] == mb
    assert out.metrics["kept_for_foreign_keys"] == 2


def test_unused_on_a_standby_says_so_and_none_passes():
    facts = {"postgres.server": {**SERVER, "in_recovery": True}, "postgres.foreign_keys": [],
             "postgres.indexes": [index("big", "t", [2], size=5 * 1024 * 1024)]}
    assert "standby" in judge(unused_indexes, facts).summary
    facts["postgres.indexes"][0]["scans"] = 1
    assert judge(unused_indexes, facts).status is Status.PASS


# --- db.duplicate_indexes ---------------------------------------------------------------------

def test_identical_and_prefix_indexes():
    facts = {"postgres.indexes": [
        index("orders_status_idx", "orders", [3], scans=10),
        index("orders_status_copy_idx", "orders", [3], scans=0),
        index("orders_created_idx", "orders", [4]),
        index("orders_created_status_idx", "orders", [4, 3]),
    ]}
    out = judge(duplicate_indexes, facts)
    found = by_object(out)
    assert set(found) == {"public.orders_status_copy_idx", "public.orders_created_idx"}
    assert found["public.orders_status_copy_idx"].severity == "fail"
    assert found["public.orders_status_copy_idx"].evidence["covered_by"] == "public.orders_status_idx"
    assert found["public.orders_created_idx"].severity == "warn"
    assert found["public.orders_created_idx"].fix.applicability.value == "unsafe"
    assert out.status is Status.FAIL


def test_duplicates_keep_the_constraint_index_and_spare_unique_ones():
    facts = {"postgres.indexes": [
        index("plain_on_id", "t", [1], scans=100),
        index("t_pkey", "t", [1], unique=True, primary=True, constraint=True),
        index("t_email_key", "t", [2], unique=True, constraint=True),  # unique prefix of (email, name): kept
        index("t_email_name_idx", "t", [2, 3]),
    ]}
    out = judge(duplicate_indexes, facts)
    assert list(by_object(out)) == ["public.plain_on_id"]
    assert out.findings[0].evidence["covered_by"] == "public.t_pkey"


def test_two_constraint_indexes_get_no_drop_fix():
    facts = {"postgres.indexes": [index("a_key", "t", [2], unique=True, constraint=True),
                                  index("b_key", "t", [2], unique=True, constraint=True)]}
    finding = judge(duplicate_indexes, facts).findings[0]
    assert finding.fix is None and "DROP CONSTRAINT" in finding.message


@pytest.mark.parametrize("other", [
    index("b", "t", [2], opclasses=[3126]),  # text_pattern_ops: serves LIKE 'x%', the other doesn't
    index("b", "t", [2], collations=[950]),
    index("b", "t", [2], predicate="(deleted_at IS NULL)"),
    index("b", "t", [2], expressions="lower(email)"),
    index("b", "t", [2], method="hash", collations=[950]),
    index("b", "t", [3], method="hash"),
    index("b", "t", [2], method="hash", predicate="(b IS NOT NULL)"),
    index("b", "t", [2], valid=False),
    index("b", "u", [2]),
])
def test_not_duplicates(other):
    assert judge(duplicate_indexes, {"postgres.indexes": [index("a", "t", [2]), other]}).status is Status.PASS


def test_non_btree_only_identical_counts_and_include_columns_matter():
    gin = [index("g1", "t", [2], method="gin"), index("g2", "t", [2], method="gin"), index("g3", "t", [2, 3], method="gin")]
    assert list(by_object(judge(duplicate_indexes, {"postgres.indexes": gin}))) == ["public.g2"]
    covering = [index("inc", "t", [2, 5], key_columns=1), index("wide", "t", [2, 3])]  # INCLUDE (c5) not in wide
    assert judge(duplicate_indexes, {"postgres.indexes": covering}).status is Status.PASS
    covering[1]["attnums"], covering[1]["key_columns"] = [2, 3, 5], 2
    assert list(by_object(judge(duplicate_indexes, {"postgres.indexes": covering}))) == ["public.inc"]


def test_many_indexes_stay_fast():
    import time

    many = [index(f"i{n}", f"t{n // 3}", [2 + n % 3]) for n in range(30_000)]
    start = time.perf_counter()
    judge(duplicate_indexes, {"postgres.indexes": many})
    judge(unused_indexes, {"postgres.indexes": many, "postgres.server": SERVER, "postgres.foreign_keys": []})
    assert time.perf_counter() - start < 5  # generous: a quadratic pass would take minutes


# --- db.invalid_indexes -----------------------------------------------------------------------

def test_invalid_indexes_fixes_by_kind():
    facts = {"postgres.indexes": [
        index("plain", "t", [2], valid=False),
        index("uniq", "t", [3], valid=False, unique=True),
        index("parent_idx", "p", [2], valid=False, table_kind="p"),
        index("fine", "t", [4]),
    ]}
    out = judge(invalid_indexes, facts)
    found = by_object(out)
    assert set(found) == {"public.plain", "public.uniq", "public.parent_idx"}
    assert found["public.plain"].fix.statements == (
        "DROP INDEX CONCURRENTLY IF EXISTS public.plain;",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS plain ON public.t USING btree (c2);")
    assert found["public.plain"].fix.applicability.value == "safe"
    assert found["public.uniq"].fix.applicability.value == "unsafe" and "duplicate values" in found["public.uniq"].message
    assert found["public.parent_idx"].fix is None
    assert out.status is Status.FAIL
    assert judge(invalid_indexes, {"postgres.indexes": [index("ok", "t", [2])]}).status is Status.PASS


# --- db.slow_queries --------------------------------------------------------------------------

def test_slow_queries_ranked_by_total_time_utility_left_out():
    facts = {"postgres.statements": [
        stmt("SELECT * FROM a WHERE x = $1", calls=1000, mean_ms=30),
        stmt("SELECT * FROM b WHERE y = $1", calls=10, mean_ms=400),
        stmt("SELECT 1", calls=5000, mean_ms=0.01),
        stmt("CREATE INDEX i ON a (x)", calls=10, mean_ms=5000),
        stmt("SELECT * FROM rare", calls=2, mean_ms=9000),
    ]}
    out = judge(slow_queries, facts)
    assert [f.object for f in out.findings] == ["SELECT * FROM a WHERE x = $1", "SELECT * FROM b WHERE y = $1"]
    assert [f.severity for f in out.findings] == ["warn", "fail"]
    assert out.metrics["worst_mean_ms"] == 400 and out.status is Status.FAIL
    assert out.findings[0].evidence["calls"] == 1000
    assert len(judge(slow_queries, facts, top=1).findings) == 1


def test_slow_queries_keep_the_statements_just_under_the_target_for_a_baseline():
    facts = {"postgres.statements": [
        stmt("SELECT * FROM a WHERE x = $1", calls=100, mean_ms=30),
        stmt("SELECT * FROM b WHERE y = $1", calls=100, mean_ms=19.5),
        stmt("VACUUM b", calls=100, mean_ms=18),
        stmt("SELECT * FROM c WHERE z = $1", calls=100, mean_ms=12),
        stmt("SELECT * FROM d WHERE w = $1", calls=100, mean_ms=9.9),  # under half the target: far from it
    ]}
    out = judge(slow_queries, facts)
    assert out.metrics["near_target"] == {"SELECT * FROM b WHERE y = $1": {"mean_ms": 19.5},
                                          "SELECT * FROM c WHERE z = $1": {"mean_ms": 12}}
    assert list(judge(slow_queries, facts, top=1).metrics["near_target"]) == ["SELECT * FROM b WHERE y = $1"]
    passing = judge(slow_queries, {"postgres.statements": facts["postgres.statements"][1:]})
    assert passing.status is Status.PASS and len(passing.metrics["near_target"]) == 2
    assert passing.metrics["worst_mean_ms"] == 19.5


def test_slow_queries_pass_skip_and_hidden_text():
    fast = judge(slow_queries, {"postgres.statements": [stmt("SELECT 1", mean_ms=2)]})
    assert fast.status is Status.PASS and fast.score > 0.99
    assert judge(slow_queries, {"postgres.statements": [stmt("SELECT 1", calls=1)]}).status is Status.SKIP
    # Another role's slow statement, its text hidden: not a pass, not a finding named "queryid None".
    hidden = judge(slow_queries, {"postgres.server": SERVER, "postgres.statements": [
        stmt("SELECT 1", mean_ms=2), stmt("<insufficient privilege>", mean_ms=100, queryid=None) | {"user": "other"}]})
    assert hidden.status is Status.ERROR and not hidden.findings
    assert "GRANT pg_monitor TO app;" in hidden.summary and "None" not in hidden.summary


# --- db.select_star ---------------------------------------------------------------------------

def test_select_star_on_wide_tables_only():
    facts = {
        "postgres.columns": columns("public", "wide", 24, ["integer"] + ["text"] * 10 + ["jsonb"] * 13)
        + columns("public", "narrow", 3) + columns("Billing", "Invoices", 12),
        "postgres.statements": [
            stmt("SELECT * FROM wide WHERE id = $1", calls=30),
            stmt("SELECT w.* FROM wide w JOIN narrow n ON n.id = w.id", calls=20),
            stmt("SELECT * FROM narrow", calls=500),
            stmt("SELECT * FROM wide LIMIT 1", calls=3),  # under min_calls
            stmt('SELECT * FROM "Billing"."Invoices"', calls=10),
            stmt("SELECT * FROM unknown_table", calls=100),
        ],
    }
    out = judge(select_star, facts)
    found = by_object(out)
    assert list(found) == ["public.wide", '"Billing"."Invoices"']
    assert found["public.wide"].evidence == {**found["public.wide"].evidence, "columns": 24, "calls": 50, "statements": 2,
                                             "variable_width_columns": 23}
    assert out.status is Status.FAIL
    assert judge(select_star, {**facts, "postgres.statements": facts["postgres.statements"][2:4]}).status is Status.PASS


# --- db.n_plus_one -----------------------------------------------------------------------------

def _blog(statements, fks=True):
    return {
        "postgres.statements": statements,
        "postgres.foreign_keys": [fk("posts", ["author_id"], [2], "authors"), fk("comments", ["post_id"], [2], "posts")] if fks else [],
        "postgres.columns": named_columns("public", "authors", ["id", "name"])
        + named_columns("public", "posts", ["id", "author_id", "title"])
        + named_columns("public", "comments", ["id", "post_id", "body"]),
    }


LIST_POSTS = stmt("SELECT id, author_id FROM posts ORDER BY id DESC LIMIT $1", calls=15, rows=300)


def test_n_plus_one_parent_lookup_per_child_row():
    out = judge(n_plus_one, _blog([LIST_POSTS, stmt("SELECT id, name FROM authors WHERE id = $1", calls=300)]))
    finding = by_object(out)["public.authors"]
    assert out.status is Status.FAIL
    assert finding.fix.text == "SELECT id, name FROM authors WHERE id = ANY($1)"
    assert finding.fix.applicability.value == "manual"
    assert finding.evidence["ratio"] == 20 and finding.evidence["driver_calls"] == 15


def test_n_plus_one_children_per_parent_row_and_by_naming_without_fks():
    children = stmt("SELECT id, body FROM comments WHERE post_id = $1", calls=450, rows=900)
    assert "public.comments" in by_object(judge(n_plus_one, _blog([LIST_POSTS, children])))
    lookup = stmt("SELECT id, name FROM authors WHERE id = $1", calls=300)
    assert "public.authors" in by_object(judge(n_plus_one, _blog([LIST_POSTS, lookup], fks=False)))
    assert "public.comments" in by_object(judge(n_plus_one, _blog([LIST_POSTS, children], fks=False)))


@pytest.mark.parametrize("statements", [
    [stmt("SELECT id, name FROM authors WHERE id = $1", calls=5000)],  # a hot lookup, no list around it
    [LIST_POSTS, stmt("SELECT id, name FROM authors WHERE id = $1", calls=100)],  # under 10× the list
    [LIST_POSTS, stmt("SELECT id, name FROM authors WHERE id = $1", calls=99)],  # under min_calls
    [LIST_POSTS, stmt("SELECT id, name FROM authors WHERE id = ANY($1)", calls=300)],  # batched
    [stmt("SELECT id FROM posts WHERE id = $1", calls=15, rows=15),  # one row per call: not a list
     stmt("SELECT id, name FROM authors WHERE id = $1", calls=300)],
])
def test_not_n_plus_one(statements):
    assert judge(n_plus_one, _blog(statements)).status is Status.PASS


# --- db.offset_pagination -------------------------------------------------------------------------

def test_deep_offset_fails_shallow_warns_with_a_keyset_fix():
    facts = {"postgres.statements": [
        stmt("SELECT id, kind FROM events ORDER BY id DESC LIMIT $1 OFFSET $2", calls=20, rows=1000, hit=1500),
        stmt("SELECT id FROM tags ORDER BY created_at, id LIMIT $1 OFFSET $2", calls=50, rows=1000, hit=60),
        stmt("SELECT id FROM t LIMIT $1 OFFSET $2", calls=10, rows=100, hit=5, mean_ms=50),
        stmt("SELECT id FROM rare ORDER BY id LIMIT $1 OFFSET $2", calls=5),
    ]}
    out = judge(offset_pagination, facts)
    found = {f.evidence["calls"]: f for f in out.findings}
    assert [f.severity for f in out.findings] == ["fail", "fail", "warn"]
    assert found[20].fix.text == "… WHERE id < $1 ORDER BY id DESC LIMIT $2"
    assert found[20].evidence["blocks_per_row"] == 1.5
    assert found[50].fix.text == "… WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3"
    assert "no defined order" in found[10].message and found[10].fix.text.startswith("-- page by the last row")
    assert out.status is Status.FAIL


def test_offset_mixed_directions_and_none():
    facts = {"postgres.statements": [stmt("SELECT id FROM t ORDER BY a DESC, b LIMIT $1 OFFSET $2", calls=10)]}
    assert judge(offset_pagination, facts).findings[0].fix.text.startswith("-- page by")
    assert judge(offset_pagination, {"postgres.statements": []}).status is Status.PASS


# --- db.prepared_statements --------------------------------------------------------------------

def _tracking(on=True):
    return {"pg_stat_statements.track_planning": setting("on" if on else "off")}


def test_plans_on_every_call_fail_reused_plans_pass():
    replanned = stmt("SELECT name FROM authors WHERE id = $1", calls=1000, mean_ms=0.02, plans=1000, plan_ms=30)
    out = judge(prepared_statements, {"postgres.statements": [replanned], "postgres.settings": _tracking()})
    assert out.status is Status.FAIL and out.metrics["plans_per_call"] == 1.0
    assert out.findings[0].severity == "warn" and out.findings[0].evidence["plans"] == 1000
    reused = stmt("SELECT name FROM authors WHERE id = $1", calls=1000, mean_ms=0.02, plans=5, plan_ms=0.2)
    assert judge(prepared_statements, {"postgres.statements": [reused], "postgres.settings": _tracking()}).status is Status.PASS
    # Issue 12: judged by plans per call. Unprepared slow statements (planning a small share of
    # their time) used to pass; prepared very cheap ones (a few plans, most of their tiny time) warned.
    heavy = stmt("SELECT sum(x) FROM big", calls=1000, mean_ms=50, plans=1000, plan_ms=100)
    unprepared = judge(prepared_statements, {"postgres.statements": [heavy], "postgres.settings": _tracking()})
    assert unprepared.status is Status.WARN and unprepared.findings[0].severity == "warn"
    assert "100% of calls planned (target 50% at most)" in unprepared.summary
    cheap = stmt("SELECT 1 FROM flags WHERE id = $1", calls=1000, mean_ms=0.001, plans=6, plan_ms=3)
    prepared = judge(prepared_statements, {"postgres.statements": [cheap], "postgres.settings": _tracking()})
    assert prepared.status is Status.PASS and prepared.metrics["plan_time_share"] > 0.5 and not prepared.findings
    assert prepared.summary.startswith("plans are reused: 6 plans for 1,000 calls")


def test_prepared_statements_skip_when_it_cannot_be_measured():
    pre13 = stmt("SELECT 1", calls=1000)
    assert judge(prepared_statements, {"postgres.statements": [pre13], "postgres.settings": _tracking()}).status is Status.SKIP
    off = judge(prepared_statements, {"postgres.statements": [stmt("SELECT 1", plans=0, plan_ms=0)],
                                                           "postgres.settings": _tracking(False)})
    assert off.status is Status.SKIP and "track_planning = on" in off.summary
    few = judge(prepared_statements, {"postgres.statements": [stmt("SELECT 1", calls=3, plans=3, plan_ms=1)],
                                                          "postgres.settings": _tracking()})
    assert few.status is Status.SKIP


# --- db.pool ---------------------------------------------------------------------------------

def _session(state="idle", app="web", database_="shop", backend="client backend", **kw):
    return {"pid": next(_oids), "user": "app", "database": database_, "application_name": app, "backend_type": backend,
            "state": state, "state_age_s": 1.0, "xact_age_s": None, "query_age_s": 1.0, "query": "SELECT 1", **kw}


def _pool_facts(sessions=(), max_connections=100, connect_ms=2.0, url_port=5432, server_port=5432, params=None, stats=None):
    return {
        "postgres.settings": {"max_connections": setting(max_connections), "superuser_reserved_connections": setting(3)},
        "postgres.activity": list(sessions) + [_session(backend="autovacuum launcher", app="")],
        "postgres.connection": {"url_port": url_port, "server_port": server_port, "url_params": {"connection_limit": "10"} if params is None else params},
        "postgres.connect_latency": {"connect_ms": connect_ms, "round_trip_ms": 0.1},
        "postgres.database_stats": stats or {},
    }


def test_pool_with_headroom_passes():
    out = judge(pool, _pool_facts([_session(), _session("active"), _session(None)], params={"connection_limit": "10"}))
    assert out.status is Status.PASS and out.metrics["connections"] == 3
    assert out.metrics["states"] == {"idle": 1, "active": 1, "hidden": 1}
    assert out.metrics["pooler"] is None


def test_pool_near_the_limit_warns_then_fails():
    warn = judge(pool, _pool_facts([_session() for _ in range(75)]))
    assert warn.status is Status.WARN and warn.findings[0].object == "max_connections"
    fail = judge(pool, _pool_facts([_session() for _ in range(95)]))
    assert fail.status is Status.FAIL and fail.findings[0].severity == "fail"


def test_pool_small_max_connections_and_oversized_url_pool():
    out = judge(pool, _pool_facts(max_connections=40, params={"pool_size": "200", "sslmode": "require"}))
    found = by_object(out)
    assert "ALTER SYSTEM SET max_connections = 100" in found["max_connections"].fix.text
    assert found["url:pool_size"].evidence == {"pool_size": 200, "usable": 37, "reaches_server": True}
    assert out.metrics["url_pool_params"] == {"pool_size": "200"}
    assert out.status is Status.WARN


def test_pool_detects_a_pooler_and_judges_its_connect_time():
    behind = judge(pool, _pool_facts(url_port=6432, server_port=5432, connect_ms=12))
    assert "6432" in behind.metrics["pooler"] and by_object(behind)["pooler"].severity == "warn"
    by_name = judge(pool, _pool_facts([_session(app="pgbouncer")], connect_ms=1))
    assert "pgbouncer" in by_name.metrics["pooler"] and by_name.status is Status.PASS
    assert judge(pool, _pool_facts(params={"pgbouncer": "true"})).metrics["pooler"] == "pgbouncer=true in the URL"


def test_pool_never_passes_past_its_connect_target_nor_without_any_pool():
    # Issue 12: "connect 67.0 ms" against 5 ms, or "no pooler detected", passed.
    slow = judge(pool, _pool_facts(connect_ms=67, params={"connection_limit": "10"}))
    assert slow.status is Status.WARN and "67.0 ms (target 5 ms)" in by_object(slow)["pooler"].message
    assert "over the 5 ms target" in slow.summary
    bare = judge(pool, _pool_facts(connect_ms=1, params={}))
    assert bare.status is Status.WARN and "no pooler detected" in by_object(bare)["pooler"].message
    # Long sessions on a busy server show the clients keep their connections: pooled.
    kept = judge(pool, _pool_facts(connect_ms=1, params={}, stats={"sessions": 5_000, "session_time": 5_000 * 60_000.0}))
    assert kept.status is Status.PASS
    # An application that keeps idle connections open pools them itself.
    pooled = judge(pool, _pool_facts([_session(backend_age_s=120.0), _session("active")], connect_ms=1, params={}))
    assert pooled.status is Status.PASS and pooled.metrics["kept_open"] == 1
    fresh = judge(pool, _pool_facts([_session(backend_age_s=0.1)], connect_ms=1, params={}))
    assert fresh.status is Status.WARN
    probed = {"pooler": "PgBouncer", "mode": "transaction", "evidence": ["console"]}
    behind = judge(pool, {**_pool_facts(connect_ms=1, params={"connection_limit": "500"}), "postgres.pooler": probed})
    assert behind.status is Status.PASS and behind.metrics["pool_mode"] == "transaction"
    assert by_object(behind)["url:connection_limit"].evidence["reaches_server"] is False
    forever = judge(pool, _pool_facts(params={"connection_limit": "10", "pool_timeout": "0"}))
    assert by_object(forever)["url:pool_timeout"].severity == "warn"


def test_pool_short_sessions_mean_no_pool():
    out = judge(pool, _pool_facts(stats={"sessions": 50_000, "session_time": 50_000 * 40.0}))
    assert by_object(out)["sessions"].evidence["avg_session_ms"] == 40 and out.status is Status.WARN
    assert judge(pool, _pool_facts(stats={"sessions": 50, "session_time": 50.0},
                                   params={"connection_limit": "10"})).status is Status.PASS


# --- db.timeouts ------------------------------------------------------------------------------

def _timeout_facts(statement="30000", idle="60000", lock="10000", role_settings=()):
    return {"postgres.settings": {"statement_timeout": setting(0, "ms", statement),
                                  "idle_in_transaction_session_timeout": setting(0, "ms", idle),
                                  "lock_timeout": setting(0, "ms", lock)},
            "postgres.server": SERVER, "postgres.role_settings": list(role_settings)}


def test_timeouts_pass_warn_and_fail():
    assert judge(timeouts, _timeout_facts()).status is Status.PASS
    above = judge(timeouts, _timeout_facts(statement="300000"))
    assert above.status is Status.WARN and by_object(above)["statement_timeout"].severity == "warn"
    off = judge(timeouts, _timeout_facts(statement="0", idle="0", lock="0"))
    assert off.status is Status.FAIL and off.score == 0
    assert by_object(off)["lock_timeout"].severity == "warn"
    assert by_object(off)["statement_timeout"].fix.text == "ALTER DATABASE shop SET statement_timeout = '30s';"


def test_timeouts_fix_targets_the_role_when_a_role_setting_would_win():
    facts = _timeout_facts(statement="0", role_settings=[{"level": "role", "name": "statement_timeout", "value": "0"}])
    fix = by_object(judge(timeouts, facts))["statement_timeout"].fix
    assert fix.text == "ALTER ROLE app IN DATABASE shop SET statement_timeout = '30s';"


# --- db.cache_hit -------------------------------------------------------------------------------

def _table(name, hit=0, read=0, idx_hit=0, idx_read=0, **kw):
    return {"schema": "public", "name": name, "heap_blks_hit": hit, "heap_blks_read": read, "idx_blks_hit": idx_hit,
            "idx_blks_read": idx_read, "n_live_tup": 1000, "n_dead_tup": 0, "vacuum_age_s": 60.0, "xid_age": 1000,
            "options": None, **kw}


def test_cache_hit_ratio():
    good = judge(cache_hit, {"postgres.tables": [_table("a", hit=99_900, read=100)],
                                      "postgres.settings": {"shared_buffers": setting(16384, "8kB")}})
    assert good.status is Status.PASS and good.metrics["hit_ratio"] == 0.999
    bad = judge(cache_hit, {"postgres.tables": [_table("a", hit=80_000, read=20_000, idx_hit=10, idx_read=0),
                                                         _table("b", hit=5_000)],
                                     "postgres.settings": {"shared_buffers": setting(16384, "8kB")}})
    found = by_object(bad)
    assert bad.status is Status.FAIL and set(found) == {"shared_buffers", "public.a"}
    assert found["shared_buffers"].fix.text.startswith("ALTER SYSTEM SET shared_buffers = '256MB'")
    few = judge(cache_hit, {"postgres.tables": [_table("a", hit=10, read=10)], "postgres.settings": {}})
    assert few.status is Status.SKIP


# --- db.vacuum ------------------------------------------------------------------------------------

def test_vacuum_dead_tuples_lag_and_wraparound():
    settings = {"autovacuum": setting("on"), "autovacuum_freeze_max_age": setting(200_000_000)}
    facts = {"postgres.settings": settings, "postgres.tables": [
        _table("bloated", n_live_tup=20_000, n_dead_tup=20_000, vacuum_age_s=None),
        _table("partly", n_live_tup=100_000, n_dead_tup=12_000, vacuum_age_s=3600.0),
        _table("lagging", n_live_tup=1_000_000, n_dead_tup=20_000, vacuum_age_s=3 * 86400.0),
        _table("fine", n_live_tup=1_000_000, n_dead_tup=20_000, vacuum_age_s=3600.0),
        _table("no_auto", options=["autovacuum_enabled=false", "fillfactor=90"]),
        _table("old_xids", xid_age=1_200_000_000),
    ]}
    out = judge(vacuum, facts)
    found = by_object(out)
    assert found["public.bloated"].severity == "fail" and "never vacuumed" in found["public.bloated"].message
    assert found["public.bloated"].fix.statements[0] == "VACUUM (ANALYZE) public.bloated;"
    assert found["public.partly"].severity == "warn"
    assert "autovacuum lags" in found["public.lagging"].message
    assert "public.fine" not in found
    assert found["public.no_auto"].fix.text == "ALTER TABLE public.no_auto RESET (autovacuum_enabled);"
    assert found["public.old_xids (xid age)"].severity == "fail"
    assert out.status is Status.FAIL and out.metrics["worst_dead_ratio"] == 0.5


def test_vacuum_clean_and_autovacuum_off():
    clean = {"postgres.settings": {"autovacuum": setting("on")}, "postgres.tables": [_table("a")]}
    assert judge(vacuum, clean).status is Status.PASS
    off = {**clean, "postgres.settings": {"autovacuum": setting("off")}}
    out = judge(vacuum, off)
    assert out.findings[0].object == "autovacuum" and out.status is Status.FAIL


# --- db.long_transactions -------------------------------------------------------------------------

def test_long_transactions():
    idle = _session("idle in transaction", state_age_s=120.0, xact_age_s=130.0)
    facts = {"postgres.server": SERVER, "postgres.activity": [
        idle,
        _session("idle in transaction (aborted)", state_age_s=61.0),
        _session("active", xact_age_s=45.0),
        _session("active", xact_age_s=5.0),
        _session("idle in transaction", state_age_s=10.0),
        _session("idle in transaction", state_age_s=500.0, database_="other"),
        _session("idle in transaction", state_age_s=500.0, app="perfcheck"),
        _session("active", xact_age_s=9999.0, backend="autovacuum worker"),
        _session(None),
    ]}
    out = judge(long_transactions, facts)
    assert len(out.findings) == 3 and out.status is Status.FAIL
    first = out.findings[0]
    assert first.object == f"pid {idle['pid']}" and first.fix.text == f"SELECT pg_terminate_backend({idle['pid']});"
    assert out.metrics == {**out.metrics, "other_databases": 1, "hidden": 1}
    assert "GRANT pg_monitor TO app;" in out.summary
    calm = judge(long_transactions, {"postgres.server": SERVER, "postgres.activity": [_session()]})
    assert calm.status is Status.PASS


# --- mon.slow_query_log ---------------------------------------------------------------------------

def test_slow_query_log():
    facts = {"postgres.settings": {"log_min_duration_statement": setting(100, "ms")},
             "postgres.extensions": {"pg_stat_statements": {}}}
    assert judge(slow_query_log, facts).status is Status.PASS
    facts["postgres.settings"]["log_min_duration_statement"] = setting(-1, "ms")
    assert judge(slow_query_log, facts).status is Status.FAIL
    facts["postgres.settings"]["log_min_duration_statement"] = setting(1000, "ms")
    assert judge(slow_query_log, facts).findings[0].severity == "warn"


def test_slow_query_log_pg_stat_statements_installed_but_not_loaded():
    facts = {"postgres.settings": {"log_min_duration_statement": setting(100, "ms"),
                                   "shared_preload_libraries": setting("auto_explain")},
             "postgres.extensions": {"pg_stat_statements": {}}}
    out = judge(slow_query_log, facts)
    assert out.status is Status.WARN and "not loaded" in out.summary
    assert by_object(out)["pg_stat_statements"].fix.text.startswith(
        "ALTER SYSTEM SET shared_preload_libraries = 'auto_explain,pg_stat_statements';")
    facts["postgres.settings"]["shared_preload_libraries"] = setting("pg_stat_statements")
    assert judge(slow_query_log, facts).status is Status.PASS


# --- what a role without pg_read_all_stats cannot see ---------------------------------------------
# Other roles' pg_stat_statements rows come without text or queryid, their pg_stat_activity
# rows without backend_type, state, times or query (see collectors/postgres/sql/activity.sql).

def hidden_stmt(calls=100, mean_ms=1.0, rows=None, plans=None, user="other"):
    return stmt("<insufficient privilege>", calls=calls, mean_ms=mean_ms, rows=rows, plans=plans) | {
        "queryid": None, "hidden": True, "user": user}


def hidden_session(database_="shop", user="other", in_transaction=True):
    return {"pid": next(_oids), "user": user, "database": database_, "application_name": "worker", "backend_type": None,
            "state": None, "state_age_s": None, "xact_age_s": None, "query_age_s": None, "query": None,
            "hidden": True, "in_transaction": in_transaction}


# The server's own processes, as a role without pg_read_all_stats sees them.
SERVER_PROCESSES = [hidden_session(None, None, False), hidden_session(None, "postgres", False),
                    hidden_session("shop", None, True)]  # checkpointer…, a launcher, an autovacuum worker


def test_long_transactions_with_hidden_sessions():
    def judged(*rows):
        return judge(long_transactions, {"postgres.server": SERVER, "postgres.activity": [_session(), *rows]})

    # Inside a transaction, of unknown age: never a pass; the grant is named.
    blind = judged(hidden_session(), hidden_session())
    assert blind.status is Status.ERROR and not blind.findings
    assert "2 sessions of other roles in a transaction in shop" in blind.summary
    assert "GRANT pg_monitor TO app;" in blind.summary
    # A long transaction seen stands, with the hidden ones noted.
    seen = judged(hidden_session(), _session("idle in transaction", state_age_s=120.0))
    assert seen.status is Status.FAIL and len(seen.findings) == 1 and "GRANT pg_monitor TO app;" in seen.summary
    # Outside any transaction (pg_locks says so), elsewhere, or not a client: a pass.
    calm = judged(hidden_session(in_transaction=False), hidden_session("other_db"), *SERVER_PROCESSES)
    assert calm.status is Status.PASS
    assert calm.metrics == {**calm.metrics, "hidden": 0, "hidden_sessions": 1, "other_databases": 1}


def test_pool_counts_hidden_client_sessions_not_server_processes():
    out = judge(pool, _pool_facts([_session(), _session("idle in transaction"), hidden_session(),
                                            hidden_session("other_db"), *SERVER_PROCESSES]))
    assert out.status is Status.PASS and out.metrics["connections"] == 4
    assert out.metrics["states"] == {"idle": 1, "idle in transaction": 1, "hidden": 2}
    assert "1 idle in transaction among the 2 whose state this role sees" in out.summary
    assert "GRANT pg_monitor TO" in out.summary


@pytest.mark.parametrize("chk, visible, min_calls", [
    (select_star, [], 10),
    (n_plus_one, [LIST_POSTS], 100),
    (offset_pagination, [], 10),
    (slow_queries, [stmt("SELECT 1")], 5),
])
def test_statement_checks_do_not_pass_over_hidden_statements(chk, visible, min_calls):
    facts = {**_blog(visible), "postgres.server": SERVER}
    assert judge(chk, facts).status is Status.PASS
    # Called too rarely to matter to the check: still judged on what is seen.
    rare = judge(chk, {**facts, "postgres.statements": [*visible, hidden_stmt(calls=min_calls - 1, mean_ms=500)]})
    assert rare.status is Status.PASS and rare.metrics["hidden"] == 0
    hot = judge(chk, {**facts, "postgres.statements": [*visible, hidden_stmt(calls=min_calls, mean_ms=500)]})
    assert hot.status is Status.ERROR and not hot.findings
    assert "role app cannot see 1 statement of other roles" in hot.summary and "GRANT pg_monitor TO app;" in hot.summary
    assert "insufficient" not in hot.summary and "None" not in hot.summary


def test_hidden_statements_that_cannot_change_the_verdict_are_ignored():
    # A fast hidden statement cannot be slow; a hidden one reusing its plans cannot be replanned.
    fast = judge(slow_queries, {"postgres.server": SERVER, "postgres.statements": [
        stmt("SELECT 1"), hidden_stmt(calls=1000, mean_ms=2)]})
    assert fast.status is Status.PASS
    only = judge(slow_queries, {"postgres.server": SERVER, "postgres.statements": [
        hidden_stmt(calls=1000, mean_ms=2)]})
    assert only.status is Status.SKIP and "the 1 of other roles that have cannot fail this check" in only.summary
    reused = stmt("SELECT name FROM authors WHERE id = $1", calls=1000, mean_ms=0.02, plans=5, plan_ms=0.2)
    facts = {"postgres.server": SERVER, "postgres.settings": _tracking()}
    ok = judge(prepared_statements,
               {**facts, "postgres.statements": [reused, hidden_stmt(calls=1000, plans=5)]})
    assert ok.status is Status.PASS
    blind = judge(prepared_statements,
                  {**facts, "postgres.statements": [reused, hidden_stmt(calls=1000, plans=1000)]})
    assert blind.status is Status.ERROR and "planned on most calls" in blind.summary


def test_n_plus_one_a_hidden_list_query_could_drive_a_hot_lookup():
    lookup = stmt("SELECT id, name FROM authors WHERE id = $1", calls=300)
    facts = {**_blog([lookup]), "postgres.server": SERVER}
    assert judge(n_plus_one, facts).status is Status.PASS  # a hot endpoint
    driver = hidden_stmt(calls=15, rows=300)  # rarely called, several rows a call
    out = judge(n_plus_one, {**facts, "postgres.statements": [lookup, driver]})
    assert out.status is Status.ERROR
    # Visible N+1 found: reported, the hidden one noted.
    seen = judge(n_plus_one, {**facts, "postgres.statements": [LIST_POSTS, lookup, hidden_stmt(calls=500)]})
    assert seen.status is Status.FAIL and "public.authors" in by_object(seen) and "GRANT pg_monitor TO app;" in seen.summary


def test_a_hidden_statement_never_becomes_a_finding_named_by_its_placeholder():
    from perfcheck.checks.support.pg import statement_object

    assert statement_object(hidden_stmt()) == "a statement of role other (text hidden)"


def test_fk_served_by_a_partial_not_null_index_only_on_its_own_columns():
    from_pg = '(("Author" IS NOT NULL) AND (b IS NOT NULL))'
    facts = lambda predicate: {"postgres.foreign_keys": [fk("t", ["Author", "b"], [2, 3], "u")],  # noqa: E731
                               "postgres.indexes": [index("i", "t", [2, 3], predicate=predicate)]}
    assert judge(fk_indexes, facts(from_pg)).status is Status.PASS
    assert judge(fk_indexes, facts('("Author" IS NOT NULL)')).status is Status.PASS
    for useless in ("(c IS NOT NULL)", "(deleted_at IS NULL)", "((b IS NOT NULL) OR (c IS NOT NULL))", "(b > 0)"):
        assert judge(fk_indexes, facts(useless)).status is not Status.PASS, useless


def test_duplicate_partition_parts_are_left_to_their_parents_and_parents_drop_plainly():
    parents = [index("p1", "t", [2], table_kind="p"), index("p2", "t", [2], table_kind="p")]
    parts = [index("c1", "t_1", [2], partition=True), index("c2", "t_1", [2], partition=True)]
    found = by_object(judge(duplicate_indexes, {"postgres.indexes": parents + parts}))
    assert list(found) == ["public.p2"] and found["public.p2"].fix.text == "DROP INDEX IF EXISTS public.p2;"
    # A local index on a partition that duplicates the partition's part of a parent index goes.
    local = index("local", "t_1", [2])
    assert list(by_object(judge(duplicate_indexes, {"postgres.indexes": parts[:1] + [local]}))) == ["public.local"]


def _measured(schema, table, widths, types=None, toast_bytes=0, rows=1000):
    cols = columns(schema, table, len(widths), types)
    for col, width in zip(cols, widths):
        col.update({"avg_width": width, "typlen": -1 if col["type"] == "text" else 4, "toast_bytes": toast_bytes,
                    "table_rows": rows})
    return cols


def test_select_star_judged_by_the_bytes_it_fetches():
    star = stmt("SELECT * FROM docs WHERE id = $1", calls=500)
    facts = lambda cols: {"postgres.statements": [star], "postgres.columns": cols, "postgres.server": SERVER}  # noqa: E731
    # Issue 12: a few wide text columns read by SELECT * used to pass (3 columns < 10).
    wide = judge(select_star, facts(_measured("public", "docs", [4, 900, 1200, 800], ["integer", "text", "text", "text"])))
    assert wide.status is not Status.PASS and by_object(wide)["public.docs"].evidence["row_bytes"] == 2904
    assert by_object(wide)["public.docs"].severity == "fail"
    # TOASTed bodies count at their out-of-line size, not pg_stats' pointer width.
    toasted = judge(select_star, facts(_measured("public", "docs", [4, 18], ["integer", "text"], toast_bytes=4_000_000)))
    assert by_object(toasted)["public.docs"].evidence["toast_bytes_per_row"] == 4000
    # Few narrow columns: a small row, fine.
    narrow = judge(select_star, facts(_measured("public", "docs", [4, 8, 30], ["integer", "integer", "text"])))
    assert narrow.status is Status.PASS and "512 bytes+ wide" in narrow.summary
    # Many columns: as before, whatever their bytes (or without statistics).
    assert judge(select_star, facts(_measured("public", "docs", [4] * 12))).status is Status.FAIL
    assert judge(select_star, facts(columns("public", "docs", 12))).status is Status.FAIL
