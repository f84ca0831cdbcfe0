"""db.missing_indexes judged on hand-built advice (no server): every branch."""

from __future__ import annotations

import copy

from perfcheck import checklist
from perfcheck.checks.db.missing_indexes import missing_indexes
from perfcheck.model import Applicability, Status

T = dict(checklist.meta("db.missing_indexes").thresholds)


def statement(queryid=1, query="SELECT * FROM orders WHERE user_id = $1", calls=1000, mean_ms=5.0,
              before=600.0, after=12.0):
    return {"queryid": queryid, "query": query, "calls": calls, "mean_ms": mean_ms, "total_ms": calls * mean_ms,
            "cost_before": before, "cost_after": after}


def rec(*statements, keys=("user_id",), table="orders", schema="public", **extra):
    name = f"{table}_{'_'.join(k.split()[0] for k in keys)}_idx"
    return {"schema": schema, "table": table, "keys": list(keys), "name": name,
            "table_kind": "r", "partitions": [], "nested_partitions": False, "method": "btree", "table_rows": 30000,
            "size_bytes": 1_300_000, "verified": True, "statements": list(statements) or [statement()],
            "ddl": [f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {schema}.{table} ({', '.join(keys)})"], **extra}


def advice(*recs, mode="hypopg", workload_ms=10000.0, total=40, analysed=12, partial=False, skipped=None):
    return {"postgres.index_advice": {
        "mode": mode, "recommendations": list(recs), "statements_total": total, "statements_analysed": analysed,
        "workload_ms": workload_ms, "skipped": skipped or {"fewer than 10 calls": 28}, "partial": partial, "elapsed_s": 0.2,
        "server_version_num": 150000, "options": {"max_seconds": 30}}}


def judge(facts, **thresholds):
    return missing_indexes.judge(facts, {**T, **thresholds})


def test_nothing_in_pg_stat_statements_is_a_skip():
    outcome = judge(advice(total=0, analysed=0))
    assert outcome.status is Status.SKIP and "run the application's workload" in outcome.summary


def test_no_recommendation_passes():
    outcome = judge(advice())
    assert outcome.status is Status.PASS and outcome.score == 1.0
    assert "12 statement(s) analysed" in outcome.summary and "verified with HypoPG" in outcome.summary
    assert outcome.metrics["skipped"] == {"fewer than 10 calls": 28}


def test_a_recommendation_is_a_finding_with_its_fix():
    outcome = judge(advice(rec(statement(mean_ms=2.0, calls=500), keys=("user_id", "created_at DESC"))))
    assert outcome.status in (Status.WARN, Status.FAIL) and outcome.score <= 0.89
    (finding,) = outcome.findings
    assert finding.object == "public.orders (user_id, created_at DESC)"
    assert finding.fix.statements == ("CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_id_created_at_idx "
                                      "ON public.orders (user_id, created_at DESC);",)
    assert finding.fix.applicability is Applicability.SAFE
    assert "600.0 to 12.0 (−98%" in finding.message and "500 calls" in finding.message
    assert "[queryid 1] SELECT * FROM orders WHERE user_id = $1 (500 calls × 2.0 ms, cost 600.0 → 12.0)" in finding.message
    assert "estimated index size 1.2 MB" in finding.message
    ev = finding.evidence
    assert ev["cost_before"] == 600.0 and ev["cost_after"] == 12.0 and ev["size_bytes"] == 1_300_000
    assert ev["saved_ms"] == 980.0 and ev["statements"][0]["queryid"] == 1 and ev["verified"] is True


def test_severity_and_score_follow_the_saving():
    small = judge(advice(rec(statement(calls=10, mean_ms=1.0)), workload_ms=100000.0))
    big = judge(advice(rec(statement(calls=1000, mean_ms=30.0)), workload_ms=40000.0))
    assert small.findings[0].severity == "warn" and small.status is Status.WARN
    assert big.findings[0].severity == "fail" and big.status is Status.FAIL  # 30 ms > the 20 ms query target
    assert big.score < small.score <= 0.89
    assert big.metrics["workload_share"] > 0.5


def test_long_statements_are_truncated_and_many_are_summed_up():
    long_query = "SELECT " + ", ".join(f"column_{i}" for i in range(60)) + " FROM orders WHERE user_id = $1"
    statements = [statement(queryid=i, query=long_query) for i in range(5)]
    (finding,) = judge(advice(rec(*statements))).findings
    assert "…" in finding.message and "and 2 more" in finding.message
    assert len(finding.evidence["statements"]) == 5 and finding.evidence["calls"] == 5000


def test_a_stricter_min_saving_drops_what_saves_less():
    facts = advice(rec(statement(before=100.0, after=60.0)))
    assert judge(facts).status is not Status.PASS
    assert judge(facts, min_saving=0.5).status is Status.PASS


def test_unverified_advice_says_so():
    facts = advice(rec(statement(after=None), verified=False), mode="heuristic")
    outcome = judge(facts)
    assert "UNVERIFIED" in outcome.summary and "CREATE EXTENSION hypopg" in outcome.summary
    (finding,) = outcome.findings
    assert finding.message.startswith("UNVERIFIED") and finding.evidence["cost_after"] is None
    assert outcome.metrics["mode"] == "heuristic" and outcome.status is not Status.PASS


def test_an_unverified_gin_recommendation_says_why_beside_verified_ones():
    """HypoPG mode, one GIN recommendation it could not simulate: labelled in the finding and
    the summary, kept although it has no cost after, and not counted in the saving."""
    gin = rec(statement(queryid=2, query="SELECT id FROM docs WHERE payload @> $1", after=None, mean_ms=30.0),
              keys=("payload jsonb_path_ops",), table="docs", method="gin", verified=False, size_bytes=0,
              unverified_reason="HypoPG cannot simulate GIN indexes")
    outcome = judge(advice(rec(), gin), min_saving=0.5)
    assert outcome.status is Status.FAIL and len(outcome.findings) == 2
    assert "1 of them UNVERIFIED" in outcome.summary and "verified with HypoPG" in outcome.summary
    finding = next(f for f in outcome.findings if f.object == "public.docs USING gin (payload jsonb_path_ops)")
    assert finding.message.startswith("UNVERIFIED (HypoPG cannot simulate GIN indexes): this index would serve 1 statement")
    assert "index size not estimated" in finding.message and "estimated index size" not in finding.message
    assert finding.evidence["verified"] is False and finding.evidence["cost_after"] is None
    assert finding.evidence["method"] == "gin" and finding.evidence["saved_ms"] is None
    assert outcome.metrics["workload_share"] == 0.49  # 4,900 ms of 10,000: the btree's saving alone


def test_a_brin_names_the_btree_it_was_preferred_to():
    brin = rec(keys=("at",), table="readings", method="brin", size_bytes=24576, btree_size_bytes=37_617_664)
    (finding,) = judge(advice(brin)).findings
    assert finding.object == "public.readings USING brin (at)"
    assert "a BRIN, preferred to a btree of 35.9 MB" in finding.message and "estimated index size 24.0 kB" in finding.message


def test_unrecovered_constants_are_said_in_the_summary():
    facts = advice()
    facts["postgres.index_advice"]["unrecovered"] = {"date_trunc($n, …): no unit of hour, day, week, month fits": 2}
    outcome = judge(facts)
    assert outcome.status is Status.PASS and "2 statement(s) whose expression constant" in outcome.summary
    assert outcome.metrics["unrecovered"] == facts["postgres.index_advice"]["unrecovered"]


def test_partial_advice_is_reported():
    assert "budget ran out" in judge(advice(partial=True)).summary


def test_nested_partitions_need_a_person():
    (finding,) = judge(advice(rec(table_kind="p", nested_partitions=True))).findings
    assert finding.fix.applicability is Applicability.MANUAL and "by hand" in finding.message


def test_the_fact_is_not_modified():
    facts = advice(rec())
    kept = copy.deepcopy(facts)
    judge(facts)
    assert facts == kept


DENIED = "cannot be planned: permission denied for table \"…\""


def test_a_role_that_cannot_plan_any_statement_is_an_error_not_a_pass():
    outcome = judge(advice(analysed=0, skipped={DENIED: 12, "fewer than 10 calls": 28}))
    assert outcome.status is Status.ERROR and outcome.score is None
    assert "permission denied for 12 of them" in outcome.summary and "needs SELECT" in outcome.summary


def test_statements_that_could_not_be_planned_are_counted_in_a_pass():
    outcome = judge(advice(skipped={DENIED: 3}))
    assert outcome.status is Status.PASS
    assert "3 statement(s) could not be planned (permission denied)" in outcome.summary


def hidden(calls=100, mean_ms=5.0):
    """Another role's pg_stat_statements row, as a role without pg_read_all_stats sees it."""
    return {"queryid": None, "query": "<insufficient privilege>", "hidden": True, "user": "other", "calls": calls,
            "mean_ms": mean_ms, "total_ms": calls * mean_ms}


def test_statements_of_other_roles_the_advisor_could_not_read_are_not_a_pass():
    server = {"postgres.server": {"user": "app", "database": "shop"}}
    blind = judge({**advice(), **server, "postgres.statements": [hidden()]})
    assert blind.status is Status.ERROR and "GRANT pg_monitor TO app;" in blind.summary
    # Too rare or too fast for the advisor to analyse anyway: judged on the rest.
    for row in (hidden(calls=T["min_calls"] - 1), hidden(mean_ms=T["min_mean_ms"] / 2)):
        assert judge({**advice(), **server, "postgres.statements": [row]}).status is Status.PASS
    # Nothing visible yet, hidden statements there: not "run the application's workload".
    assert judge({**advice(total=0, analysed=0), **server, "postgres.statements": [hidden()]}).status is Status.ERROR
    # An index found for what is seen stands, the hidden statements noted.
    seen = judge({**advice(rec()), **server, "postgres.statements": [hidden()]})
    assert seen.status in (Status.WARN, Status.FAIL) and len(seen.findings) == 1 and "GRANT pg_monitor" in seen.summary
