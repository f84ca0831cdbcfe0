"""`db.missing_indexes`: The workload's queries have the indexes they need."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.pg import unless_hidden
from perfcheck.pg.stat_statements import hidden_statement
from perfcheck.model import Applicability, Finding, Fix
from perfcheck.pg.names import qualified
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS, lognormal
from perfcheck.units import format_bytes

QUERY_CHARS = 120


SHOWN_STATEMENTS = 3


SLOW_MS = 20  # the checklist's budget for a database query


def _cost_change(before: float, after: float) -> str:
    """How far the cost falls: "−86%", or "219× lower" where the percentage would round
    to "−100%" (as if the cost had vanished)."""
    if after <= 0:
        return "to nothing"
    if 1 - after / before >= 0.995:
        return f"{before / after:,.0f}× lower"
    return f"−{1 - after / before:.0%}"

def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 10000 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def _short(query: str) -> str:
    text = " ".join(query.split())
    return text if len(text) <= QUERY_CHARS else text[: QUERY_CHARS - 1] + "…"


def _saving(statement: dict[str, Any]) -> float | None:
    before, after = statement.get("cost_before") or 0, statement.get("cost_after")
    return None if after is None or before <= 0 else max(0.0, 1 - after / before)


def _finding(rec: dict[str, Any], verified: bool, share_fail: float, workload_ms: float) -> Finding:
    verified = verified and rec.get("verified", True)  # a kind HypoPG cannot simulate (GIN) is not
    statements = rec["statements"]
    calls = sum(s["calls"] for s in statements)
    total_ms = sum(s["total_ms"] for s in statements)
    before = sum(s["cost_before"] for s in statements)
    table = _qualified(rec)
    keys = ", ".join(rec["keys"])
    using = f" USING {rec['method']}" if rec.get("method", "btree") != "btree" else ""
    shown = []
    for s in statements[:SHOWN_STATEMENTS]:
        cost = f"cost {s['cost_before']:.1f} → {s['cost_after']:.1f}" if s.get("cost_after") is not None \
            else f"cost {s['cost_before']:.1f}"
        recovered = ", ".join(f"{k} = {v}" for k, v in (s.get("recovered") or {}).items())
        cost += f", with {recovered} recovered from its rows per call" if recovered else ""
        shown.append(f"[queryid {s['queryid']}] {_short(s['query'])} ({s['calls']} calls × {_ms(s['mean_ms'])}, {cost})")
    more = f"; and {len(statements) - SHOWN_STATEMENTS} more" if len(statements) > SHOWN_STATEMENTS else ""
    if verified:
        after = sum(s["cost_after"] for s in statements)
        saved_ms = sum(s["total_ms"] * (_saving(s) or 0) for s in statements)
        head = (f"this index cuts the planner cost of {len(statements)} statement(s) "
                f"from {before:.1f} to {after:.1f} ({_cost_change(before, after)}, verified with HypoPG)")
        if rec.get("btree_size_bytes"):
            head += (f"; a BRIN, preferred to a btree of {format_bytes(rec['btree_size_bytes'])} that would cut it "
                     f"further: at least half the btree's gain at under 1% of its size")
    elif rec.get("unverified_reason"):
        after, saved_ms = None, None
        head = (f"UNVERIFIED ({rec['unverified_reason']}): this index would serve {len(statements)} statement(s) "
                f"that now scan all {rec['table_rows']:,} rows")
    else:
        after, saved_ms = None, None
        head = (f"UNVERIFIED (HypoPG is not installed in this database; estimated from column statistics): "
                f"this index would spare {len(statements)} statement(s) a scan of {rec['table_rows']:,} rows")
    size = f"estimated index size {format_bytes(rec['size_bytes'])}" if rec["size_bytes"] else "index size not estimated"
    message = f"{head}; {calls:,} calls, {_ms(total_ms)} in total; {size}. Statements: {'; '.join(shown)}{more}"
    if rec.get("writes_per_s") == 0:
        message += ". Weighed against writes: the table took none since its statistics began"
    elif rec.get("write_cost_ms_per_s") is not None:
        message += f". Weighed against writes: {_write_figures(rec)}"
    if rec.get("nested_partitions"):
        message += ". Its partitions are partitioned in turn: build it per partition by hand"
    slow = any(s["mean_ms"] > SLOW_MS for s in statements)
    big = workload_ms > 0 and (saved_ms if saved_ms is not None else total_ms) / workload_ms >= share_fail
    applicability = Applicability.MANUAL if rec.get("nested_partitions") else Applicability.SAFE
    evidence = {
        "table": table, "keys": rec["keys"], "index_name": rec["name"], "verified": verified,
        "method": rec.get("method", "btree"), "unverified_reason": rec.get("unverified_reason"),
        "btree_size_bytes": rec.get("btree_size_bytes"),
        "size_bytes": rec["size_bytes"], "table_rows": rec["table_rows"], "calls": calls,
        "total_ms": round(total_ms, 3), "cost_before": round(before, 2),
        "cost_after": None if after is None else round(after, 2),
        "saved_ms": None if saved_ms is None else round(saved_ms, 3),
        "statements": [{k: s[k] for k in ("queryid", "calls", "mean_ms", "total_ms", "cost_before", "cost_after")}
                       | {"query": _short(s["query"])} for s in statements],
        **_write_evidence(rec),
    }
    return Finding("fail" if slow or big else "warn", f"{table}{using} ({keys})", message,
                   Fix(tuple(f"{statement};" for statement in rec["ddl"]), applicability), evidence)


def _write_figures(rec: dict[str, Any]) -> str:
    """The index's write cost beside its benefit, both per second of the workload."""
    return (f"the table's writes would add {rec['writes_per_s']:,.1f} index entries/s, costing an estimated "
            f"{rec['write_cost_ms_per_s']:,.2f} ms/s, against {rec['benefit_ms_per_s']:,.2f} ms/s saved")


def _write_evidence(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: rec.get(k) for k in ("writes_per_s", "write_cost_ms_per_s", "benefit_ms_per_s")}


def _write_heavy(rec: dict[str, Any], t) -> Finding:
    """An index the advisor found but does not recommend: its table's writes outweigh it."""
    table, keys = _qualified(rec), ", ".join(rec["keys"])
    message = (f"not recommended: table is write-heavy; {_write_figures(rec)} (an index must save "
               f"{t['min_benefit_over_writes']:g}× its write cost, at {t['index_entry_ms']:g} ms per entry); "
               f"{len(rec['statements'])} statement(s), {sum(s['calls'] for s in rec['statements']):,} calls")
    evidence = {"table": table, "keys": rec["keys"], "index_name": rec["name"], "size_bytes": rec["size_bytes"],
                **_write_evidence(rec)}
    return Finding("info", f"{table} ({keys})", message, None, evidence)


def _qualified(rec: dict[str, Any]) -> str:
    return qualified(rec["schema"], rec["table"])


@check("db.missing_indexes", requires=["postgres.index_advice", "postgres.statements", "postgres.server"])
def missing_indexes(facts, t):
    # The advisor plans statements from their text: other roles' statements it would have
    # analysed (by calls and mean time) are hidden from it, and the indexes they need too.
    hidden = [row for row in facts.get("postgres.statements") or () if hidden_statement(row)
              and row["calls"] >= t["min_calls"] and row["mean_ms"] >= t["min_mean_ms"]]
    return unless_hidden(_missing_indexes(facts["postgres.index_advice"], t), len(hidden),
                         "statements of other roles (their text, which the index advisor plans)", facts)


def _missing_indexes(advice: dict[str, Any], t) -> Outcome:
    verified = advice["mode"] == "hypopg"
    # The advisor applied the thresholds; a saved run judged with a stricter min_saving drops more.
    recs = [r for r in advice["recommendations"] if not verified or not r.get("verified", True)
            or any((_saving(s) or 0) >= t["min_saving"] for s in r["statements"])]
    workload_ms = advice["workload_ms"] or 0.0
    metrics = {
        "mode": advice["mode"], "statements_total": advice["statements_total"],
        "statements_analysed": advice["statements_analysed"], "recommendations": len(recs),
        "workload_ms": round(workload_ms, 3), "advisor_s": advice["elapsed_s"], "partial": advice["partial"],
        "skipped": advice["skipped"],
        "statements_rewritten": advice.get("statements_rewritten", 0), "unplannable": advice.get("unplannable", 0),
        "unrecovered": advice.get("unrecovered") or {},
    }
    how = "verified with HypoPG" if verified else \
        "UNVERIFIED: HypoPG is not installed in this database (CREATE EXTENSION hypopg to verify), estimated from column statistics"
    if advice["statements_total"] == 0:
        return Outcome.skip("pg_stat_statements has no statement for this database yet: run the application's "
                            "workload, then audit again", metrics=metrics)
    # A role that may not read a table cannot EXPLAIN statements on it either: that is not a pass.
    denied = sum(n for reason, n in advice["skipped"].items() if "permission denied" in reason)
    if denied and not advice["statements_analysed"]:
        return Outcome.error(f"none of the workload's statements could be planned: permission denied for {denied} of them; "
                             "the audit role needs SELECT on the application's tables (EXPLAIN reads no rows)",
                             metrics=metrics)
    set_aside = [_write_heavy(r, t) for r in advice.get("write_heavy") or ()]
    metrics["write_heavy"], metrics["write_stats_s"] = len(set_aside), advice.get("write_stats_s")
    partial = _left_out(advice, t, bool(recs), denied, len(set_aside))
    if not recs:
        return Outcome.passed(f"no missing index for the {advice['statements_analysed']} statement(s) analysed "
                              f"(top by total time, of {advice['statements_total']}; {how}){partial}", metrics=metrics,
                              findings=set_aside)
    helped = {s["queryid"] for r in recs for s in r["statements"]}
    helped_ms = sum({s["queryid"]: s["total_ms"] for r in recs for s in r["statements"]}.values())
    if verified:
        saved = {}
        for r in recs:
            for s in r["statements"]:
                saved[s["queryid"]] = max(saved.get(s["queryid"], 0.0), s["total_ms"] * (_saving(s) or 0))
        share = sum(saved.values()) / workload_ms if workload_ms else 1.0
    else:
        share = helped_ms / workload_ms if workload_ms else 1.0
    metrics["workload_share"] = round(share, 4)
    score = min(BELOW_PASS, lognormal(share, t["workload_share_p10"], t["workload_share_median"]))
    findings = [_finding(r, verified, t["workload_share_median"], workload_ms) for r in recs] + set_aside
    effect = "would save an estimated" if verified else "would speed up statements taking"
    unverified = sum(1 for r in recs if not r.get("verified", True)) if verified else 0
    if unverified:
        how += f"; {unverified} of them UNVERIFIED, of a kind HypoPG cannot simulate (GIN), not counted in the saving"
    summary = (f"{len(recs)} missing index(es) for {len(helped)} statement(s): {effect} {share:.0%} of the analysed "
               f"workload's time ({how}){partial}; build them with `perfcheck apply-indexes`")
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


def _left_out(advice: dict[str, Any], t, any_recs: bool, denied: int, set_aside: int) -> str:
    """What the summary adds after its verdict: statements not analysed or not recovered,
    indexes set aside for their writes, write rates not weighed."""
    partial = (f"; the advisor's {advice['options'].get('max_seconds')} s budget ran out before every statement was analysed"
               if advice["partial"] else "")
    if denied:
        partial += f"; {denied} statement(s) could not be planned (permission denied)"
    unplannable = (advice.get("unplannable") or 0) - denied
    if unplannable > 0:
        partial += f"; {unplannable} statement(s) the planner refused (reasons under metrics.skipped)"
    unrecovered = sum((advice.get("unrecovered") or {}).values())
    if unrecovered:
        partial += (f"; {unrecovered} statement(s) whose expression constant pg_stat_statements normalised away "
                    f"(date_trunc($1, …), ->>$1) could not be recovered: no expression index for them (metrics.unrecovered)")
    if set_aside:
        partial += f"; {set_aside} index(es) not recommended: their table's writes outweigh them"
    young = advice.get("write_stats_s")
    if any_recs and young is not None and young < t["min_write_stats_s"]:
        partial += (f"; write rates not weighed: the statistics are {young:,.0f} s old "
                    f"(under min_write_stats_s, {t['min_write_stats_s']:g} s)")
    return partial
