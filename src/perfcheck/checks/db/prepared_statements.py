"""`db.prepared_statements`: Plans are reused."""

from __future__ import annotations

from perfcheck.checks.support.pg import statement_object, unless_hidden
from perfcheck.checks.support.workload import Row, hidden_repeated, repeated_statements, too_little_workload
from perfcheck.model import Finding
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS, lognormal


@check("db.prepared_statements", requires=["postgres.statements", "postgres.settings", "postgres.server"])
def prepared_statements(facts, t):
    statements = facts["postgres.statements"]
    if statements and all(row.get("plans") is None for row in statements):
        return Outcome.skip("this pg_stat_statements has no plan counts (PostgreSQL 13+ needed)")
    tracking = (facts["postgres.settings"].get("pg_stat_statements.track_planning") or {}).get("setting")
    if tracking != "on":
        return Outcome.skip("pg_stat_statements.track_planning is off, so plans are not counted; enable it with "
                            "ALTER SYSTEM SET pg_stat_statements.track_planning = on; SELECT pg_reload_conf();")
    # A hidden statement's plans and calls are there: one that reuses its plans cannot be a
    # problem; one planned on most calls may be, and cannot be named.
    hidden = [row for row in hidden_repeated(statements, t["min_calls"])
              if (row.get("plans") or 0) / row["calls"] > t["max_plans_per_call"]]
    return unless_hidden(_prepared_statements(statements, t), len(hidden), "statements of other roles planned on most "
                                                                           "calls (their text)", facts)


def _prepared_statements(statements: list[Row], t) -> Outcome:
    """Judged by plans per call, which says whether plans are reused: a prepared statement is
    planned a few times per connection, an unprepared one on every call. The planning share
    of the time only says how much the replanning costs (a prepared workload of very cheap
    statements can spend most of its little time in its few plans, and is fine)."""
    judged = [row for row, sh in repeated_statements(statements, t["min_calls"]) if sh.is_dml and row.get("plans") is not None]
    if not judged:
        return Outcome.skip(too_little_workload(statements, t["min_calls"]), metrics={"judged": 0})
    plan_ms = sum(row.get("total_plan_ms") or 0 for row in judged)
    exec_ms = sum(row["total_ms"] or 0 for row in judged)
    share = plan_ms / (plan_ms + exec_ms) if plan_ms + exec_ms > 0 else 0.0
    calls = sum(row["calls"] for row in judged)
    plans = sum(row["plans"] for row in judged)
    per_call = plans / calls
    replanned = sorted((row for row in judged if row["plans"] / row["calls"] > t["max_plans_per_call"]),
                       key=lambda r: (-(r.get("total_plan_ms") or 0), -r["calls"]))
    score = lognormal(per_call, t["max_plans_per_call"], 4 * t["max_plans_per_call"])
    if per_call > t["max_plans_per_call"] and share > t["max_plan_share"]:
        score = min(score, lognormal(share, t["max_plan_share"], 4 * t["max_plan_share"]))
    findings = [_replanned(row, t) for row in replanned[:10]]
    metrics = {"judged": len(judged), "calls": calls, "plans": plans, "plans_per_call": round(per_call, 3),
               "plan_time_share": round(share, 4), "replanned": len(replanned)}
    if per_call <= t["max_plans_per_call"]:
        summary = (f"plans are reused: {plans:,} plans for {calls:,} calls ({per_call:.0%}) of statements called "
                   f"{t['min_calls']}+ times")
        return Outcome.scored(max(score, 0.9), summary, metrics=metrics, findings=[])
    summary = (f"{per_call:.0%} of calls planned (target {t['max_plans_per_call']:.0%} at most): {len(replanned)} "
               f"statements are planned on most calls; planning is {share:.0%} of their time")
    return Outcome.scored(min(score, BELOW_PASS), summary, metrics=metrics, findings=findings)


def _replanned(row: Row, t) -> Finding:
    row_plan_ms = row.get("total_plan_ms") or 0
    row_share = row_plan_ms / max(1e-9, row_plan_ms + (row["total_ms"] or 0))
    costly = f" (over the {t['max_plan_share']:.0%} target)" if row_share > t["max_plan_share"] else ""
    return Finding(
        "warn", statement_object(row),
        f"planned on {row['plans'] / row['calls']:.0%} of its {row['calls']:,} calls; planning is {row_share:.0%} "
        f"of its time{costly} ({row_plan_ms / max(1, row['plans']):.2f} ms a plan): use prepared statements (or, if it "
        f"is prepared, plan_cache_mode picks a custom plan on every call)",
        None, {"queryid": row["queryid"], "calls": row["calls"], "plans": row["plans"],
               "plan_ms": round(row_plan_ms, 1), "plan_share": round(row_share, 3)})
