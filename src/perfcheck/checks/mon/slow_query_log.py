"""`mon.slow_query_log`: Slow queries are logged and tracked."""

from __future__ import annotations

from perfcheck.checks.support.pg import setting_ms
from perfcheck.pg.stat_statements import ENABLE_PG_STAT_STATEMENTS
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal


@check("mon.slow_query_log", requires=["postgres.settings", "postgres.extensions"])
def slow_query_log(facts, t):
    limit = t["log_min_duration_ms"]
    logged = setting_ms(facts["postgres.settings"], "log_min_duration_statement")
    has_pss = "pg_stat_statements" in facts["postgres.extensions"]
    findings = []
    log_score = 1.0
    if logged is None or logged < 0:
        log_score = 0.0
        findings.append(Finding("fail", "log_min_duration_statement",
                                f"slow statements are not logged (log_min_duration_statement = -1); the target is {limit} ms",
                                Fix.manual(f"ALTER SYSTEM SET log_min_duration_statement = '{limit}ms';", "SELECT pg_reload_conf();"),
                                {"log_min_duration_ms": logged}))
    elif logged > limit:
        log_score = lognormal(logged, limit, limit * 10)
        findings.append(Finding("warn", "log_min_duration_statement",
                                f"only statements over {logged} ms are logged; the target is {limit} ms",
                                Fix.manual(f"ALTER SYSTEM SET log_min_duration_statement = '{limit}ms';", "SELECT pg_reload_conf();"),
                                {"log_min_duration_ms": logged}))
    # Installed but not preloaded, the extension's view errors. The setting is only
    # visible to superusers and pg_read_all_settings: unknown is not held against it.
    preload = (facts["postgres.settings"].get("shared_preload_libraries") or {}).get("setting")
    loaded = None if preload is None else "pg_stat_statements" in preload
    if not has_pss:
        findings.append(Finding("fail", "pg_stat_statements",
                                f"pg_stat_statements is not installed, so statement times are not tracked; enable it with {ENABLE_PG_STAT_STATEMENTS}",
                                Fix.manual("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;")))
    elif loaded is False:
        has_pss = False
        findings.append(Finding("fail", "pg_stat_statements",
                                "pg_stat_statements is installed but not loaded, so nothing is tracked: add it to "
                                "shared_preload_libraries and restart",
                                Fix.manual(f"ALTER SYSTEM SET shared_preload_libraries = '{preload + ',' if preload else ''}pg_stat_statements';  -- then restart")))
    score = log_score * (1.0 if has_pss else 0.5)
    shown = "off" if logged is None or logged < 0 else f"{logged} ms"
    state = "installed" if has_pss else "installed, not loaded" if loaded is False else "missing"
    summary = f"log_min_duration_statement = {shown}, pg_stat_statements {state}"
    return Outcome.scored(score, summary, metrics={"log_min_duration_ms": logged, "pg_stat_statements": has_pss},
                          findings=findings)
