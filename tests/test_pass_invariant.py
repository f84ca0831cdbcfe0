"""The pass invariant over every check (issue 12): a `pass` never carries a figure past its own
threshold, and every threshold in the checklist data is compared in the check that declares it.

A registry walk: each numeric threshold of each check is either swept here (facts built just
past it and far past it must never pass, a healthy value must) or listed with the reason it is
not a limit on a measured figure (a filter, a display count, a band). A new check or threshold
that is neither fails the walk. The same invariant is asserted on real audits in
tests/test_healthy_profiles.py (tests/pass_invariant.py)."""

from __future__ import annotations

import inspect
import math
import re
from typing import Any, Callable

import pytest

from pass_invariant import contradictions
from perfcheck.advisor import model as advisor_model
from perfcheck.model import Status
from perfcheck.registry import load_checks
from test_cache_checks import big, config, family, info, keys, latency as redis_latency, window
from test_database_checks import SERVER, _measured, _pool_facts, _session, _table, _timeout_facts, setting, stmt
from test_http_checks import ex, handshake
from test_latency_checks import facts as latency_facts, run

CHECKS = load_checks().checks
MB = 1024 * 1024
ASSET = "/static/app.3f9a1c2b.js"


def _slowlog(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"denied": None, "length": len(entries), "entries": entries, "now": 10_000_000, "slower_than_us": 10000}


def _entries(n: int, duration_us: int) -> list[dict[str, Any]]:
    return [{"id": i, "start_time": 10_000_000 - 60, "duration_us": duration_us, "command": "GET", "key": "k"}
            for i in range(n)]


def _levels(rate: float) -> dict[str, Any]:
    hits = round(rate * 1000)

    def fam(name: str, value: int) -> dict[str, Any]:
        return {"name": name, "samples": [{"name": f"{name}_total", "labels": {"cache_level": "l1"}, "value": value}]}

    return {"http.metrics": {"path": "/metrics", "status": 200,
                             "families": [fam("cache_hits", hits), fam("cache_misses", 1000 - hits)]}}


def _asset(**kw) -> dict[str, Any]:
    return {"http.assets": [ex(path=ASSET, kind="static", content_type="application/javascript", **kw)]}


def _html(**kw) -> list[dict[str, Any]]:
    return [ex(path="/", kind="html", content_type="text/html", **kw)]


def _frag(ratio: float) -> dict[str, Any]:
    return {"redis.info": info(used_memory=10 * MB, used_memory_rss=int(10 * MB * ratio), mem_fragmentation_ratio=ratio,
                               maxmemory=100 * MB, maxmemory_policy="allkeys-lru"), "redis.config": config()}


def _headroom(share: float) -> dict[str, Any]:
    return {"redis.info": info(used_memory=int(100 * MB * (1 - share)), mem_fragmentation_ratio=1.1,
                               maxmemory=100 * MB, maxmemory_policy="noeviction"), "redis.config": config()}


def _volatile(share: float) -> dict[str, Any]:
    return {"redis.info": info(maxmemory=64 * MB, maxmemory_policy="volatile-lru",
                               db0={"keys": 1000, "expires": round(share * 1000), "avg_ttl": 1000}),
            "redis.config": config()}


def _statements(mean_ms: float) -> dict[str, Any]:
    return {"postgres.statements": [stmt("SELECT name FROM t WHERE id = $1", calls=100, mean_ms=mean_ms)],
            "postgres.server": SERVER}


def _buffers(ratio: float) -> dict[str, Any]:
    return {"postgres.tables": [_table("a", hit=round(100_000 * ratio), read=100_000 - round(100_000 * ratio))],
            "postgres.settings": {"shared_buffers": setting(16384, "8kB")}}


def _slow_log(ms: float) -> dict[str, Any]:
    return {"postgres.settings": {"log_min_duration_statement": setting(int(ms), "ms")},
            "postgres.extensions": {"pg_stat_statements": {}}}


def _sequence(share: float) -> dict[str, Any]:
    return {"postgres.sequences": [{"schema": "public", "name": "s", "type": "bigint", "increment": 1, "cycle": False,
                                    "min_value": 1, "max_value": 1001, "last_value": 1 + math.ceil(share * 1000)}]}


def _vacuum(ratio: float, age_h: float = 1) -> dict[str, Any]:
    dead = math.ceil(ratio * 1_000_000)
    return {"postgres.tables": [{"schema": "public", "name": "t", "n_dead_tup": dead, "n_live_tup": 1_000_000 - dead,
                                 "vacuum_age_s": age_h * 3600}], "postgres.settings": {}}


def _bloat(ratio: float) -> dict[str, Any]:
    size = 100 * MB
    row = {"kind": "table", "schema": "public", "name": "t", "pages": size // 8192, "block_size": 8192,
           "fillfactor": 100, "exact": {"table_len": size, "free_bytes": math.ceil(ratio * size), "dead_bytes": 0}}
    return {"postgres.bloat": {"relations": [row], "pgstattuple": True}, "postgres.server": {"version_num": 160000}}


_GZIP = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
_GZIPPED_API = {"http.html": [], "http.endpoints": [ex(headers=_GZIP, body_bytes=5000, wire_bytes=900)]}
_GZIPPED_ASSET = _asset(headers={**_GZIP, "Cache-Control": "public, max-age=31536000, immutable"}, body_bytes=5000,
                        wire_bytes=900)

Build = Callable[[float], dict[str, Any]]
# (check, threshold key, "max" when more is worse or "min", facts for a value, a healthy value (or healthy facts),
#  owner when the
#  check is another branch's to fix: the sweep is then an expected failure until it lands)
SWEPT: list[tuple[str, str, str, Build, float, str | None]] = [
    ("api.latency", "p50_ms", "max", lambda v: latency_facts(GET_x=run(v, v, v)), 5, None),
    ("api.latency", "p95_ms", "max", lambda v: latency_facts(GET_x=run(1, v, v)), 5, None),
    ("api.latency", "p99_ms", "max", lambda v: latency_facts(GET_x=run(1, 2, v)), 5, None),
    ("api.ttfb", "ttfb_ms", "max", lambda v: latency_facts(GET_x=run(1, 2, 3, ttfb_p50_ms=v)), 1, None),
    ("api.compression", "min_bytes", "max",
     lambda v: {"http.html": [], "http.endpoints": [ex(body_bytes=int(v) + 1, wire_bytes=int(v) + 1)]}, _GZIPPED_API, None),
    ("cache.latency", "p50_ms", "max", lambda v: {"redis.latency": redis_latency(p50=v, p99=max(v, 0.3))}, 0.1, None),
    ("cache.latency", "p99_ms", "max", lambda v: {"redis.latency": redis_latency(p50=0.1, p99=v)}, 0.3, None),
    ("cache.latency", "p99_ms", "max",  # one command that blocked Redis past the round-trip target
     lambda v: {"redis.latency": redis_latency(slowlog=_slowlog(_entries(1, int(v * 1000))))}, 1.5, None),
    ("cache.latency", "max_slowlog", "max",
     lambda v: {"redis.latency": redis_latency(slowlog=_slowlog(_entries(int(v) + 1, 1500)))}, 0, None),
    ("cache.hit_rate", "target", "min", lambda v: {"redis.window": window(round(v * 1000), 1000 - round(v * 1000))},
     0.95, None),
    ("cache.levels", "target", "min", _levels, 0.95, None),
    ("cache.ttl", "min_share", "min", lambda v: {"redis.keys": keys({"user:*": family(1000, round(v * 1000))})},
     1.0, None),
    ("cache.big_keys", "max_string_bytes", "max",
     lambda v: {"redis.keys": keys({"blob:*": family(1, 1)}, largest=[big("blob:1", "string", int(v) + 1, int(v) + 1)])},
     100, None),
    ("cache.big_keys", "max_hash_fields", "max",
     lambda v: {"redis.keys": keys({"h:*": family(1, 1)}, largest=[big("h:1", "hash", 1000, int(v) + 1)])}, 10, None),
    ("cache.big_keys", "max_elements", "max",
     lambda v: {"redis.keys": keys({"l:*": family(1, 1)}, largest=[big("l:1", "list", 1000, int(v) + 1)])}, 10, None),
    ("cache.commands", "slow_usec_per_call", "max",
     lambda v: {"redis.info": info(cmdstat_hgetall={"calls": 100, "usec_per_call": v})}, 5, None),
    ("cache.eviction", "volatile_ttl_share", "min", _volatile, 1.0, None),
    ("cache.memory", "max_fragmentation", "max", _frag, 1.1, None),
    ("cache.memory", "min_headroom", "min", _headroom, 0.5, None),
    ("cdn.static_cache", "min_max_age_s", "min",
     lambda v: _asset(headers={"Cache-Control": f"public, max-age={int(v)}, immutable"}), 31536000 * 2, None),
    ("cdn.images", "max_image_bytes", "max",
     lambda v: {"http.assets": [ex(path="/i/a.1234abcd.webp", kind="static", content_type="image/webp",
                                   body_bytes=int(v) + 1, wire_bytes=int(v) + 1)]}, 1000, None),
    ("cdn.compression", "min_bytes", "max", lambda v: _asset(body_bytes=int(v) + 1, wire_bytes=int(v) + 1),
     _GZIPPED_ASSET, None),
    ("rt.heartbeat", "ping_interval_ms", "max", lambda v: handshake(pingInterval=int(v)), 25000, None),
    ("rt.heartbeat", "ping_timeout_ms", "min", lambda v: handshake(pingTimeout=int(v)), 60000, None),
    ("db.slow_queries", "mean_ms", "max", _statements, 1, None),
    ("db.cache_hit", "target", "min", _buffers, 0.999, None),
    ("db.pool", "connect_ms", "max", lambda v: _pool_facts([_session()], connect_ms=v), 1, None),
    ("db.pool", "usage_warn", "max", lambda v: _pool_facts([_session() for _ in range(int(v * 100) + 1)]), 0.1, None),
    ("db.pool", "min_max_connections", "min",
     lambda v: _pool_facts([_session()], max_connections=max(1, int(v) - 1)), 200, None),
    ("db.timeouts", "statement_timeout_s", "max", lambda v: _timeout_facts(statement=str(int(v * 1000) + 1)), 10,
     None),
    ("db.timeouts", "idle_in_transaction_timeout_s", "max", lambda v: _timeout_facts(idle=str(int(v * 1000) + 1)), 10,
     None),
    ("db.timeouts", "lock_timeout_s", "max", lambda v: _timeout_facts(lock=str(int(v * 1000) + 1)), 10, None),
    ("mon.slow_query_log", "log_min_duration_ms", "max", _slow_log, 50, None),
    ("db.sequences", "used_warn", "max", _sequence, 0.1, None),
    ("db.select_star", "min_columns", "max",
     lambda v: {"postgres.statements": [stmt("SELECT * FROM docs WHERE id = $1", calls=500)], "postgres.server": SERVER,
                "postgres.columns": _measured("public", "docs", [4] * math.ceil(v), ["integer"] * math.ceil(v))}, 3,
     None),
    ("db.prepared_statements", "max_plans_per_call", "max",
     lambda v: {"postgres.statements": [stmt("SELECT name FROM t WHERE id = $1", calls=1000, plans=math.ceil(v * 1000),
                                             plan_ms=1.0)], "postgres.server": SERVER,
                "postgres.settings": {"pg_stat_statements.track_planning": {"setting": "on"}}}, 0.01, None),
    ("db.pool", "min_avg_session_s", "min",
     lambda v: _pool_facts([_session()], stats={"sessions": 5000, "session_time": v * 1000 * 5000}), 60, None),
    ("db.vacuum", "dead_ratio_warn", "max", _vacuum, 0.02, None),
    ("db.vacuum", "max_vacuum_age_h", "max", lambda v: _vacuum(0.02, v), 1, None),
    ("db.select_star", "min_row_bytes", "max",
     lambda v: {"postgres.statements": [stmt("SELECT * FROM docs WHERE id = $1", calls=500)], "postgres.server": SERVER,
                "postgres.columns": _measured("public", "docs", [4, math.ceil(v)], ["integer", "text"])}, 40, None),
    ("db.bloat", "ratio_warn", "max", _bloat, 0.1, None),
]

# Thresholds that are not a limit on a measured figure, with the reason; a threshold must be here
# or swept above.
NOT_A_LIMIT: dict[tuple[str, str], str] = {
    ("api.ttfb", "percentile"): "which percentile is judged, not a limit",
    ("cache.hit_rate", "floor"): "where the score reaches 0.5; the limit is target",
    ("cache.hit_rate", "min_lookups"): "too little traffic: the check skips, it does not pass",
    ("cache.levels", "floor"): "where the score reaches 0.5; the limit is target",
    ("cache.ttl", "floor"): "where the score reaches 0.5; the limit is min_share",
    ("cache.big_keys", "top"): "how many keys are shown",
    ("cache.latency", "slowlog_hours"): "the slowlog window, not a figure",
    ("cache.eviction", "max_used_ratio"): "a full allkeys-* cache (or volatile-* with every key expiring) evicts as "
                                          "designed; with noeviction any fill fails anyway",
    ("cache.memory", "min_used_bytes"): "below it fragmentation is not judged (MEMORY DOCTOR's own rule)",
    ("db.cache_hit", "floor"): "where the score reaches 0.5; the limit is target",
    ("db.cache_hit", "min_reads"): "too few reads: the check skips",
    ("db.pool", "usage_fail"): "the fail level above usage_warn; usage_warn is swept",
    ("db.pool", "min_sessions"): "too few sessions to judge session length",
    ("db.slow_queries", "min_calls"): "a filter: rarer statements are not judged",
    ("db.slow_queries", "top"): "how many statements are shown",
    ("db.select_star", "min_calls"): "a filter",
    ("db.n_plus_one", "min_calls"): "a filter",
    ("db.n_plus_one", "ratio"): "a detection rule: any match is a finding",
    ("db.offset_pagination", "min_calls"): "a filter",
    ("db.offset_pagination", "max_blocks_per_row"): "warn or fail for any OFFSET: never a pass",
    ("db.offset_pagination", "mean_ms"): "warn or fail for any OFFSET: never a pass",
    ("db.prepared_statements", "min_calls"): "a filter",
    ("db.prepared_statements", "max_plan_share"): "only weighs re-planned statements' score (past max_plans_per_call, "
                                                  "already below a pass); it never fails plans that are reused",
    ("db.fk_indexes", "min_rows"): "a filter: smaller tables are left alone",
    ("db.unused_indexes", "min_size_bytes"): "a filter: smaller indexes are left alone",
    ("db.unused_indexes", "drop_min_stats_days"): "how old the statistics must be before apply-indexes --drop offers "
                                                  "an unused index; a caveat in the summary, not a limit on a pass",
    ("db.vacuum", "dead_ratio_fail"): "the fail level above dead_ratio_warn; dead_ratio_warn is swept",
    ("db.vacuum", "min_dead_tuples"): "a filter",
    ("db.long_transactions", "max_idle_in_transaction_s"): "sessions past it are findings by construction",
    ("db.long_transactions", "max_active_s"): "sessions past it are findings by construction",
    ("db.missing_indexes", "min_calls"): "a filter", ("db.missing_indexes", "min_mean_ms"): "a filter",
    ("db.missing_indexes", "min_saving"): "a filter", ("db.missing_indexes", "min_table_rows"): "a filter",
    ("db.missing_indexes", "max_statements"): "a bound on the work", ("db.missing_indexes", "max_selectivity"): "a filter",
    ("db.missing_indexes", "max_seconds"): "a bound on the work",
    ("db.bloat", "min_size_bytes"): "a filter: smaller tables and indexes are left alone",
    ("db.bloat", "max_exact"): "a bound on the work: how many of the largest relations pgstattuple measures exactly "
                              "(the rest are estimated, and judged the same)",
    ("db.bloat", "ratio_fail"): "the fail level above ratio_warn; ratio_warn is swept",
    ("db.sequences", "used_fail"): "the fail level above used_warn; used_warn is swept",
    ("db.primary_keys", "min_rows"): "a filter: smaller tables are left alone",
    ("db.missing_indexes", "workload_share_p10"): "any recommendation is at least a warning",
    ("db.missing_indexes", "workload_share_median"): "any recommendation is at least a warning",
}


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _past(limit: float, direction: str) -> list[float]:
    if direction == "max":
        return [limit * f for f in (1.02, 1.1, 1.5, 2, 5, 20)] if limit else [1, 1000, 1_000_000]
    if 0 < limit < 1:  # a share: short of it, down to nothing much
        return [limit - (limit * f) for f in (0.01, 0.05, 0.2, 0.5, 0.9)]
    return [limit * f for f in (0.98, 0.9, 0.5, 0.1)]


def _judge(check_id: str, facts: dict[str, Any]):
    chk = CHECKS[check_id]
    thresholds = dict(chk.meta.thresholds)
    return chk.judge(facts, thresholds), thresholds


def test_every_numeric_threshold_is_swept_or_explained():
    swept = {(c, k) for c, k, *_ in SWEPT}
    missing = [f"{cid}.{key}" for cid, chk in CHECKS.items() for key, value in chk.meta.thresholds.items()
               if _numeric(value) and (cid, key) not in swept and (cid, key) not in NOT_A_LIMIT]
    assert not missing, f"thresholds neither swept nor explained: {missing}"
    stale = [f"{c}.{k}" for c, k in [*swept, *NOT_A_LIMIT] if k not in (CHECKS[c].meta.thresholds if c in CHECKS else {})]
    assert not stale, f"listed thresholds that no check declares: {stale}"


def _source_of(chk) -> str:
    """The check's module and the perfcheck modules it uses (helpers the thresholds are handed to)."""
    module = inspect.getmodule(chk.judge)
    text = inspect.getsource(module)
    for value in vars(module).values():
        used = inspect.getmodule(value)
        if used is not None and used is not module and used.__name__.startswith("perfcheck."):
            try:
                text += inspect.getsource(used)
            except (OSError, TypeError):
                continue
    return text


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_every_threshold_is_compared_in_the_check_that_declares_it(check_id):
    chk = CHECKS[check_id]
    text = _source_of(chk)
    unread = [key for key in chk.meta.thresholds
              if not re.search(rf"[\"']{re.escape(key)}[\"']|\.{re.escape(key)}\b", text)]
    if check_id == "db.missing_indexes":  # handed to the advisor as its options' fields
        unread = [k for k in unread if k not in inspect.getsource(advisor_model)]
    assert not unread, f"{check_id} declares thresholds it never reads: {unread}"


@pytest.mark.parametrize("row", SWEPT, ids=[f"{c}.{k}#{i}" for i, (c, k, *_) in enumerate(SWEPT)])
def test_a_figure_past_its_threshold_never_passes(row, request):
    check_id, key, direction, build, healthy, owner = row
    if owner:
        request.applymarker(pytest.mark.xfail(reason=f"fixed on {owner}'s branch", strict=False))
    healthy_outcome, thresholds = _judge(check_id, healthy if isinstance(healthy, dict) else build(healthy))
    assert healthy_outcome.status is Status.PASS, (check_id, key, healthy, healthy_outcome.summary)
    limit = thresholds[key]
    wrong = []
    for value in _past(limit, direction):
        outcome, _ = _judge(check_id, build(value))
        if outcome.status is Status.PASS:
            wrong.append(f"{key}={value:g} (limit {limit}): {outcome.summary}")
    assert not wrong, f"{check_id} passes past its threshold: {wrong}"


@pytest.mark.parametrize("row", SWEPT, ids=[f"{c}.{k}#{i}" for i, (c, k, *_) in enumerate(SWEPT)])
def test_a_healthy_pass_contradicts_nothing(row):
    check_id, key, _, build, healthy, _ = row
    outcome, thresholds = _judge(check_id, healthy if isinstance(healthy, dict) else build(healthy))
    found = contradictions(check_id, outcome.status.value, outcome.metrics,
                           [f.to_dict(check_id) for f in outcome.findings], thresholds)
    assert not found
