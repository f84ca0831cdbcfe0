"""`db.slow_queries`: Statements run within the query-time target."""

from __future__ import annotations

from perfcheck.checks.support.pg import statement_object, unless_hidden
from perfcheck.pg.stat_statements import hidden_statement
from perfcheck.checks.support.statement_shape import shape
from perfcheck.checks.support.workload import Row, hidden_repeated, rows_per_call, too_little_workload
from perfcheck.model import Finding
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal


@check("db.slow_queries", requires=["postgres.statements", "postgres.server"])
def slow_queries(facts, t):
    statements = facts["postgres.statements"]
    # Another role's statement shows its times but not its text: one over the target may
    # be a slow query or a utility statement, and it cannot be named.
    hidden = [row for row in hidden_repeated(statements, t["min_calls"]) if row["mean_ms"] > t["mean_ms"]]
    outcome = _slow_queries(statements, t)
    return unless_hidden(outcome, len(hidden), f"statements of other roles averaging over {t['mean_ms']} ms "
                                               f"(their text)", facts)


def _slow_queries(statements: list[Row], t) -> Outcome:
    total_ms = sum(row["total_ms"] or 0 for row in statements) or 1.0
    # Slowest first; utility statements (CREATE INDEX, VACUUM…) are not the application's
    # queries. Only the slow ones, up to `top` just under the target (between half of it and
    # it, kept for a baseline) and the slowest query need parsing to tell.
    called = sorted((row for row in statements if row["calls"] >= t["min_calls"] and not hidden_statement(row)),
                    key=lambda r: -r["mean_ms"])
    slow: list[Row] = []
    near: list[Row] = []  # a re-run may see one of these just over the target: noise, not a new slow statement
    worst = None
    for row in called:
        if worst is not None and (row["mean_ms"] <= t["mean_ms"] / 2 or len(near) >= t["top"]):
            break
        if shape(row["query"]).kind == "utility":
            continue
        worst = worst or row
        if row["mean_ms"] > t["mean_ms"]:
            slow.append(row)
        elif row["mean_ms"] > t["mean_ms"] / 2:
            near.append(row)
    if worst is None:
        return Outcome.skip(too_little_workload(statements, t["min_calls"]), metrics={"statements": len(statements), "judged": 0})
    slow.sort(key=lambda r: -r["total_ms"])
    findings = []
    for row in slow[: t["top"]]:
        part = lognormal(row["mean_ms"], t["mean_ms"], 5 * t["mean_ms"])
        share = row["total_ms"] / total_ms
        findings.append(Finding(
            "fail" if part < 0.5 else "warn", statement_object(row),
            f"mean {row['mean_ms']:.1f} ms over {row['calls']:,} calls ({row['total_ms'] / 1000:.1f} s in all, "
            f"{share:.0%} of the database's statement time); the target is {t['mean_ms']} ms: "
            f"index it (see db.missing_indexes), fetch fewer rows, or cache it",
            None, {"queryid": row["queryid"], "calls": row["calls"], "mean_ms": round(row["mean_ms"], 3),
                   "total_ms": round(row["total_ms"], 1), "share": round(share, 4),
                   "rows_per_call": round(rows_per_call(row), 1)}))
    slow_ms = sum(row["total_ms"] for row in slow)
    metrics = {"statements": len(statements), "judged": len(called), "slow": len(slow),
               "slow_share": round(slow_ms / total_ms, 4), "worst_mean_ms": round(worst["mean_ms"], 3),
               "near_target": {statement_object(row): {"mean_ms": round(row["mean_ms"], 3)} for row in near}}
    score = lognormal(worst["mean_ms"], t["mean_ms"], 5 * t["mean_ms"])
    if not slow:
        return Outcome.scored(score, f"all {len(called)} statements called {t['min_calls']}+ times average under "
                                     f"{t['mean_ms']} ms (slowest {worst['mean_ms']:.1f} ms)", metrics=metrics)
    more = f" (top {t['top']} shown)" if len(slow) > t["top"] else ""
    return Outcome.scored(score, f"{len(slow)} statements average over {t['mean_ms']} ms{more}, "
                                 f"{slow_ms / total_ms:.0%} of statement time; slowest {worst['mean_ms']:.1f} ms",
                          metrics=metrics, findings=findings)
