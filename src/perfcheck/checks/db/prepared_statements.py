"""`db.prepared_statements`: Plans are reused."""

from __future__ import annotations

from perfcheck.checks.support.pg import statement_object, unless_hidden
from perfcheck.checks.support.workload import Row, hidden_repeated, repeated_statements, too_little_workload
from perfcheck.model import Finding
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal


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
    judged = [row for row, sh in repeated_statements(statements, t["min_calls"]) if sh.is_dml and row.get("plans") is not None]
    if not judged:
        return Outcome.skip(too_little_workload(statements, t["min_calls"]), metrics={"judged": 0})
    plan_ms = sum(row.get("total_plan_ms") or 0 for row in judged)
    exec_ms = sum(row["total_ms"] or 0 for row in judged)
    share = plan_ms / (plan_ms + exec_ms) if plan_ms + exec_ms > 0 else 0.0
    calls = sum(row["calls"] for row in judged)
    plans = sum(row["plans"] for row in judged)
    replanned = sorted((row for row in judged if row["plans"] / row["calls"] > t["max_plans_per_call"]),
                       key=lambda r: -(r.get("total_plan_ms") or 0))
    score = lognormal(share, t["max_plan_share"], 4 * t["max_plan_share"])
    findings = []
    for row in replanned[:10]:
        row_plan_ms = row.get("total_plan_ms") or 0
        row_share = row_plan_ms / max(1e-9, row_plan_ms + (row["total_ms"] or 0))
        findings.append(Finding(
            "warn" if row_share >= t["max_plan_share"] else "info", statement_object(row),
            f"planned on {row['plans'] / row['calls']:.0%} of its {row['calls']:,} calls; planning is {row_share:.0%} "
            f"of its time ({row_plan_ms / row['plans']:.2f} ms a plan): use prepared statements",
            None, {"queryid": row["queryid"], "calls": row["calls"], "plans": row["plans"],
                   "plan_ms": round(row_plan_ms, 1), "plan_share": round(row_share, 3)}))
    metrics = {"judged": len(judged), "calls": calls, "plans": plans, "plans_per_call": round(plans / calls, 3),
               "plan_time_share": round(share, 4), "replanned": len(replanned)}
    return Outcome.scored(score, f"{plans / calls:.0%} of calls planned; planning is {share:.0%} of the time of "
                                 f"statements called {t['min_calls']}+ times", metrics=metrics, findings=findings)
