"""`db.vacuum`: Tables are vacuumed."""

from __future__ import annotations

from perfcheck.checks.support.pg import int_setting, penalty
from perfcheck.model import Finding, Fix
from perfcheck.pg.names import qualified
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal

_WRAPAROUND_DANGER = 1_000_000_000  # half way to the 2^31 transaction-id wraparound


@check("db.vacuum", requires=["postgres.tables", "postgres.settings"])
def vacuum(facts, t):
    settings = facts["postgres.settings"]
    freeze_max_age = int_setting(settings, "autovacuum_freeze_max_age", 200_000_000)
    findings = []
    worst_ratio = 0.0
    for table in facts["postgres.tables"]:
        name = qualified(table["schema"], table["name"])
        dead, live = table.get("n_dead_tup") or 0, table.get("n_live_tup") or 0
        vacuum_fix = Fix.manual(f"VACUUM (ANALYZE) {name};",
                          f"ALTER TABLE {name} SET (autovacuum_vacuum_scale_factor = 0.05);")
        if dead >= t["min_dead_tuples"]:
            ratio = dead / (dead + live)
            worst_ratio = max(worst_ratio, ratio)
            age_h = (table.get("vacuum_age_s") or 0) / 3600 if table.get("vacuum_age_s") is not None else None
            when = "never vacuumed" if age_h is None else f"last vacuumed {age_h:.1f} h ago"
            evidence = {"dead_tuples": dead, "live_tuples": live, "dead_ratio": round(ratio, 3),
                        "vacuum_age_h": None if age_h is None else round(age_h, 1)}
            if ratio >= t["dead_ratio_warn"]:
                findings.append(Finding("fail" if ratio >= t["dead_ratio_fail"] else "warn", name,
                                        f"{ratio:.0%} of the tuples of {name} are dead ({dead:,}), {when}", vacuum_fix, evidence))
            elif age_h is None or age_h > t["max_vacuum_age_h"]:
                findings.append(Finding("warn", name, f"{name} has {dead:,} dead tuples and was {when}: autovacuum lags",
                                        vacuum_fix, evidence))
        if any(opt.lower() == "autovacuum_enabled=false" for opt in table.get("options") or []):
            findings.append(Finding("warn", name, f"autovacuum is disabled on {name}",
                                    Fix.manual(f"ALTER TABLE {name} RESET (autovacuum_enabled);"),
                                    {"dead_tuples": dead}))
        xid_age = table.get("xid_age")
        if xid_age and xid_age > freeze_max_age:
            findings.append(Finding("fail" if xid_age > _WRAPAROUND_DANGER else "warn", f"{name} (xid age)",
                                    f"{name}'s oldest unfrozen transaction id is {xid_age:,} transactions old, past "
                                    f"autovacuum_freeze_max_age ({freeze_max_age:,}): freezing lags (wraparound at 2.1 billion)",
                                    Fix.manual(f"VACUUM (FREEZE, ANALYZE) {name};"), {"xid_age": xid_age}))
    if (settings.get("autovacuum") or {}).get("setting") == "off":
        findings.insert(0, Finding("fail", "autovacuum", "autovacuum is off for the whole server",
                                   Fix.manual("ALTER SYSTEM SET autovacuum = on;", "SELECT pg_reload_conf();")))
    findings.sort(key=lambda f: f.severity != "fail")
    ratio_score = lognormal(worst_ratio, t["dead_ratio_warn"], t["dead_ratio_fail"]) if worst_ratio else 1.0
    others = [f for f in findings if "dead_ratio" not in f.evidence or f.evidence["dead_ratio"] < t["dead_ratio_warn"]]
    metrics = {"worst_dead_ratio": round(worst_ratio, 3), "tables_flagged": len(findings)}
    summary = (f"worst dead-tuple ratio {worst_ratio:.0%} (tables with {t['min_dead_tuples']:,}+ dead tuples)"
               if worst_ratio else f"no table has {t['min_dead_tuples']:,}+ dead tuples")
    return Outcome.scored(ratio_score * penalty(others), summary, metrics=metrics, findings=findings)
