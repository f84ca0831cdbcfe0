"""`db.sequences`: Sequences and integer keys are far from their maximum."""

from __future__ import annotations

from typing import Any

from perfcheck.model import Applicability, Finding, Fix
from perfcheck.pg.names import qualified, quote_ident
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS, BELOW_WARN, lognormal

_COLUMN_MAX = {"smallint": 32767, "integer": 2147483647, "bigint": 9223372036854775807}


def _used(seq: dict[str, Any]) -> tuple[float, int, str] | None:
    """The share of its range used, the limit that binds, and what sets it; None if unused."""
    last = seq.get("last_value")
    if last is None or seq.get("cycle"):
        return None  # never called (or no privilege), or a cycling sequence that wraps by design
    ascending = seq["increment"] > 0
    limit, by = (seq["max_value"], f"the sequence's maximum ({seq['type']})") if ascending else \
        (seq["min_value"], "the sequence's minimum")
    column_max = _COLUMN_MAX.get(seq.get("column_type") or "")
    if ascending and column_max is not None and column_max < limit:
        limit, by = column_max, f"the {seq['column_type']} column {seq['column_name']}"
    if not ascending and column_max is not None and -column_max - 1 > limit:
        limit, by = -column_max - 1, f"the {seq['column_type']} column {seq['column_name']}"
    start = seq["min_value"] if ascending else seq["max_value"]
    span = limit - start
    return (max(0.0, (last - start) / span) if span else 1.0), limit, by


def _fix(seq: dict[str, Any], name: str) -> Fix:
    if seq.get("column_type") in ("integer", "smallint"):
        table = qualified(seq["table_schema"], seq["table_name"])
        column = quote_ident(seq["column_name"])
        return Fix((f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bigint;  -- rewrites the table under an ACCESS "
                    "EXCLUSIVE lock, and every referencing column too",
                    f"ALTER SEQUENCE {name} AS bigint MAXVALUE 9223372036854775807;"), Applicability.MANUAL)
    return Fix((f"ALTER SEQUENCE {name} AS bigint MAXVALUE 9223372036854775807;",), Applicability.UNSAFE)


@check("db.sequences", requires=["postgres.sequences"])
def sequences(facts, t):
    findings, worst, judged = [], 0.0, 0
    for seq in facts["postgres.sequences"]:
        used = _used(seq)
        if used is None:
            continue
        judged += 1
        share, limit, by = used
        worst = max(worst, share)
        if share < t["used_warn"]:
            continue
        name = qualified(seq["schema"], seq["name"])
        feeds = f" (feeds {qualified(seq['table_schema'], seq['table_name'])}.{quote_ident(seq['column_name'])})" \
            if seq.get("column_name") else ""
        message = (f"{name}{feeds} is at {seq['last_value']:,}: {share:.0%} of the way to {limit:,}, {by}; "
                   "past it every INSERT fails")
        findings.append(Finding("fail" if share >= t["used_fail"] else "warn", name, message, _fix(seq, name),
                                {"last_value": seq["last_value"], "limit": limit, "used": round(share, 4),
                                 "column_type": seq.get("column_type")}))
    findings.sort(key=lambda f: -f.evidence["used"])
    metrics = {"sequences": judged, "worst_used": round(worst, 4), "near_limit": len(findings)}
    if not judged:
        return Outcome.skip("no sequence in use to judge", metrics=metrics)
    if not findings:
        return Outcome.passed(f"every sequence in use ({judged}) is under {t['used_warn']:.0%} of its range "
                              f"(worst {worst:.2%})", metrics=metrics)
    score = min(BELOW_PASS, lognormal(worst, t["used_warn"], t["used_fail"]))
    if any(f.severity == "fail" for f in findings):
        score = min(score, BELOW_WARN)
    return Outcome.scored(score, f"{len(findings)} sequence(s) near the end of their range, worst at {worst:.0%}",
                          metrics=metrics, findings=findings)
