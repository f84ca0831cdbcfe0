"""One fixed, hand-built Report for the format snapshots: every status, findings with each
kind of fix, a muted finding, awkward object names, api.latency's per-endpoint
percentiles, a baseline comparison and a failed gate. Volatile fields are fixed."""

from __future__ import annotations

from perfcheck.gate.baseline import Change, Comparison
from perfcheck.model import Applicability, CategoryScore, CheckResult, Finding, Fix, Report, Status


def sample_report(*, with_baseline: bool = True) -> Report:
    checks = [
        CheckResult(
            "db.timeouts", "database", "postgres", "Queries and idle transactions can run forever", Status.FAIL, 0.45,
            "statement_timeout = off, idle_in_transaction_session_timeout = 60s, lock_timeout = off",
            metrics={"statement_timeout_ms": 0, "idle_in_transaction_session_timeout_ms": 60000, "lock_timeout_ms": 0},
            findings=[
                Finding("fail", "statement_timeout", "statement_timeout is off (0): nothing stops a runaway statement; the target is 30s",
                        Fix(("ALTER DATABASE app SET statement_timeout = '30s';",), Applicability.MANUAL),
                        {"value_ms": 0, "target_ms": 30000}),
                Finding("warn", "lock_timeout", "lock_timeout is off (0): nothing stops a runaway lock wait; the target is 30s",
                        Fix(("ALTER DATABASE app SET lock_timeout = '30s';",), Applicability.MANUAL),
                        {"value_ms": 0, "target_ms": 30000}),
            ],
            weight=2,
        ),
        CheckResult(
            "db.fk_indexes", "database", "postgres", "Foreign keys without an index on the referencing columns", Status.WARN, 0.62,
            "2 foreign keys have no index",
            metrics={"unindexed": 2},
            findings=[
                Finding("warn", "public.plays (song_id)", "plays.song_id references songs and has no index (120000 rows)",
                        Fix(("CREATE INDEX CONCURRENTLY IF NOT EXISTS plays_song_id_idx ON public.plays (song_id);",)),
                        {"rows": 120000}),
                Finding("warn", 'public."Odd|Name" (`x` <y>)', "a name with | pipes, `backticks` and <tags> & ampersands",
                        Fix(('CREATE INDEX CONCURRENTLY IF NOT EXISTS "Odd|Name_x_idx" ON public."Odd|Name" (x);',)),
                        {"rows": 5000}, muted="legacy table, dropped next quarter"),
            ],
            weight=2,
        ),
        CheckResult(
            "db.unused_indexes", "database", "postgres", "Large indexes that are never scanned", Status.PASS, 0.95,
            "1 unused index (1.2 MB)",
            findings=[Finding("info", "public.songs_title_idx", "never scanned since the statistics were reset; 1.2 MB",
                              Fix(("DROP INDEX CONCURRENTLY public.songs_title_idx;",), Applicability.UNSAFE), {"bytes": 1258291})],
        ),
        CheckResult("db.slow_queries", "database", "postgres", "Slow statements", Status.ERROR, None,
                    "pg_stat_statements is not installed in this database"),
        CheckResult("cache.hit_rate", "cache", "redis", "Cache hits are above the target", Status.SKIP, None,
                    "no redis target configured (--redis or REDIS_URL)"),
        CheckResult(
            "api.latency", "api", "http", "Slow responses", Status.WARN, 0.71,
            "P95 of GET /api/songs is 131 ms (target 100 ms)",
            metrics={"targets_ms": {"p50_ms": 50.0, "p95_ms": 100.0, "p99_ms": 200.0}, "endpoints": {
                "GET /api/songs": {"p50_ms": 38.2, "p95_ms": 131.0, "p99_ms": 212.5, "max_ms": 260.1, "count": 200},
                "GET /api/songs/{id}": {"p50_ms": 4.1, "p95_ms": 9.8, "p99_ms": 15.2, "max_ms": 30.0, "count": 200},
                "GET /health": {"p50_ms": 1.2, "p95_ms": 2.0, "p99_ms": 3.1, "max_ms": 4.0, "count": 200},
            }},
            weight=4,
        ),
        CheckResult("mon.error_tracking", "monitoring", "none", "Errors are tracked", Status.MANUAL, None,
                    "Check that unhandled exceptions reach an error tracker (Sentry or similar) with the request context."),
    ]
    categories = [
        CategoryScore("database", "Database (PostgreSQL)", 60, 3, 1),
        CategoryScore("cache", "Cache (Redis)", None, 0, 0),
        CategoryScore("api", "API (HTTP)", 71, 1, 0),
        CategoryScore("monitoring", "Monitoring", None, 0, 0),
    ]
    report = Report(
        score=66, categories=categories, checks=checks,
        targets={"db": "postgresql://app:***@127.0.0.1:5432/app", "url": "http://127.0.0.1:8000"},
        errors=[], version="0.1.0", created_at="2026-01-02T03:04:05+00:00", duration_s=12.5,
    )
    if with_baseline:
        report.baseline = Comparison(
            regressions=[
                Change("status", "db.timeouts", "", "db.timeouts got worse: pass → fail (score 100 → 45): statement_timeout = off",
                       "pass", "fail"),
                Change("finding", "db.fk_indexes", "public.plays (song_id)",
                       "new finding in db.fk_indexes: public.plays (song_id): plays.song_id references songs and has no index",
                       None, "warn"),
                Change("latency", "api.latency", "GET /api/songs p95_ms",
                       "api.latency: p95_ms of GET /api/songs rose 60.0 → 131.0 ms (+118 %; noise band 18.0 ms)", 60.0, 131.0),
                Change("score", "database", "", "Database (PostgreSQL) score fell 92 → 60 (-32; tolerance 5)", 92, 60),
            ],
            improvements=[Change("finding", "db.unused_indexes", "public.old_idx", "db.unused_indexes: public.old_idx fixed", "warn", None)],
            notes=[Change("not_run", "cache.ttl", "", "cache.ttl was pass in the baseline and did not run this time", "pass", None)],
            muted=[Change("finding", "db.fk_indexes", 'public."Odd|Name" (`x` <y>)',
                          'new finding in db.fk_indexes: public."Odd|Name" (`x` <y>): a name with | pipes',
                          None, "warn", "legacy table, dropped next quarter")],
            baseline_created_at="2026-01-01T00:00:00+00:00", baseline_score=88, score=66,
        ).to_dict()
        report.gate = {"passed": False, "failures": ["4 regression(s) against the baseline: db.timeouts got worse: pass → fail"],
                       "warnings": ["api.latency: endpoints.GET /api/songs.p95_ms is 131, over the 120 allowed"]}
    return report
