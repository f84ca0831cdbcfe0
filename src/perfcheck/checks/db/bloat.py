"""`db.bloat`: Tables and indexes are not bloated."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.bloat import measure
from perfcheck.model import Applicability, Finding, Fix
from perfcheck.pg.names import qualified
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS, BELOW_WARN, lognormal
from perfcheck.units import format_bytes

_HOW = {"pgstattuple_approx": "measured with pgstattuple_approx", "pgstatindex": "measured with pgstatindex",
        "estimate": "estimated from the statistics"}


def _fix(row: dict[str, Any], name: str, version: int) -> Fix:
    if row["kind"] == "index":
        if version >= 120000:
            return Fix((f"REINDEX INDEX CONCURRENTLY {name};",), Applicability.SAFE)
        return Fix.manual(f"-- PostgreSQL < 12: build a copy CONCURRENTLY, then drop {name} CONCURRENTLY")
    return Fix.manual(f"-- rewrite {name} online with pg_repack, or in a maintenance window "
                      "(VACUUM FULL holds an ACCESS EXCLUSIVE lock for the whole rewrite):",
                      f"VACUUM (FULL, ANALYZE) {name};")


def _finding(row: dict[str, Any], m: dict[str, Any], t, version: int) -> Finding:
    name = qualified(row["schema"], row["name"])
    what = f"index {name} on {qualified(row['schema'], row['table'])}" if row["kind"] == "index" else f"table {name}"
    message = (f"{m['ratio']:.0%} of {what} ({format_bytes(m['size_bytes'])}) is bloat, about "
               f"{format_bytes(m['bloat_bytes'])} ({_HOW[m['source']]}): every scan reads those pages, the cache keeps them")
    if row.get("exact_error"):
        message += f"; pgstattuple could not measure it ({row['exact_error']})"
    evidence = {"kind": row["kind"], "ratio": round(m["ratio"], 3), "bloat_bytes": m["bloat_bytes"],
                "size_bytes": m["size_bytes"], "source": m["source"]}
    return Finding("fail" if m["ratio"] >= t["ratio_fail"] else "warn", name, message, _fix(row, name, version), evidence)


@check("db.bloat", requires=["postgres.bloat", "postgres.server"])
def bloat(facts, t):
    fact = facts["postgres.bloat"]
    version = facts["postgres.server"].get("version_num") or 0
    findings, measured, unknown, worst = [], 0, 0, 0.0
    for row in fact["relations"]:
        m = measure(row)
        if m is None:
            unknown += 1
            continue
        if m["size_bytes"] < t["min_size_bytes"]:
            continue
        measured += 1
        worst = max(worst, m["ratio"])
        if m["ratio"] >= t["ratio_warn"]:
            findings.append(_finding(row, m, t, version))
    findings.sort(key=lambda f: -f.evidence["bloat_bytes"])
    how = f"pgstattuple for the largest {t['max_exact']}, the statistics for the rest" if fact.get("pgstattuple") else \
        "estimated from the statistics (CREATE EXTENSION pgstattuple to measure)"
    metrics = {"measured": measured, "not_estimable": unknown, "worst_ratio": round(worst, 3),
               "bloated": len(findings), "bloat_bytes": sum(f.evidence["bloat_bytes"] for f in findings),
               "pgstattuple": fact.get("pgstattuple"), "max_exact": t["max_exact"]}
    if not measured:
        return Outcome.skip(f"no table or btree index of {format_bytes(t['min_size_bytes'])} or more to judge"
                            + (f" ({unknown} without the statistics an estimate needs: ANALYZE them)" if unknown else ""),
                            metrics=metrics)
    if not findings:
        return Outcome.passed(f"no bloat of {t['ratio_warn']:.0%} or more in {measured} tables and indexes of "
                              f"{format_bytes(t['min_size_bytes'])} or more ({how})", metrics=metrics)
    score = min(BELOW_PASS, lognormal(worst, t["ratio_warn"], t["ratio_fail"]))
    if any(f.severity == "fail" for f in findings):
        score = min(score, BELOW_WARN)
    summary = (f"{len(findings)} bloated tables/indexes, {format_bytes(metrics['bloat_bytes'])} in all, worst "
               f"{worst:.0%} ({how})")
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)
