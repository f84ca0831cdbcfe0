"""`db.pool`: Connections are pooled with headroom."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.pg import client_sessions, grant, hidden_session, int_setting, penalty
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal

_POOLERS = ("pgbouncer", "odyssey", "pgcat", "pgpool", "supavisor")


# Connection-URL parameters by which drivers and ORMs size their pools.
_POOL_SIZE_PARAMS = ("pool_size", "max_pool_size", "pool_max", "connection_limit", "max_connections", "maxpoolsize")


def _pooler(connection: dict, activity: list[dict], probed: dict) -> str | None:
    """Why we think a pooler stands between the URL and the server, or None."""
    if probed.get("pooler"):
        mode = f" in {probed['mode']} mode" if probed.get("mode") else ""
        return f"{probed['pooler']}{mode}: " + "; ".join(probed.get("evidence") or [])
    url_port, server_port = connection.get("url_port"), connection.get("server_port")
    if url_port and server_port and url_port != server_port:
        return f"the URL's port {url_port} is not the server's port {server_port}"
    params = {k.lower(): v for k, v in (connection.get("url_params") or {}).items()}
    if params.get("pgbouncer", "").lower() in ("true", "1", "on"):
        return "pgbouncer=true in the URL"
    names = {(row.get("application_name") or "").lower() for row in activity}
    found = next((p for p in _POOLERS for name in names if p in name), None)
    return f"a {found} session in pg_stat_activity" if found else None


def _driver_pool(params: dict[str, Any]) -> dict[str, int]:
    return {key: int(params[key]) for key in _POOL_SIZE_PARAMS if str(params.get(key, "")).isdigit()}


def kept_open(sessions: list[dict], t) -> int:
    """Client sessions of the application kept open for reuse: idle, connected for at least
    min_avg_session_s (a pool's connections wait idle between requests; a connection opened
    per request is gone once the request is served)."""
    return sum(1 for row in sessions if row.get("state") == "idle" and (row.get("application_name") or "") != "perfcheck"
               and (row.get("backend_age_s") or 0) >= t["min_avg_session_s"])


def _latency_findings(pooler: str | None, driver_pool: dict[str, int], latency: dict, stats: dict, kept: int,
                      t) -> list[Finding]:
    """The checklist asks for connection pooling and a connection overhead under connect_ms:
    no pooler and no sign of a pool (a pool size in the URL, connections kept open, long
    sessions) is a warning, and so is a connect time past the target."""
    connect_ms, trip_ms = latency["connect_ms"], latency["round_trip_ms"]
    evidence = {"connect_ms": round(connect_ms, 2), "round_trip_ms": round(trip_ms, 3), "target_ms": t["connect_ms"]}
    opened, session_ms = stats.get("sessions"), stats.get("session_time")
    long_sessions = kept > 0 or bool(opened and session_ms is not None and opened >= t["min_sessions"]
                                     and session_ms / opened >= t["min_avg_session_s"] * 1000)
    if pooler:
        if connect_ms <= t["connect_ms"]:
            return []
        return [Finding("warn", "pooler", f"a new connection through the pooler takes {connect_ms:.1f} ms "
                                          f"(target {t['connect_ms']} ms)", None, evidence)]
    if connect_ms > t["connect_ms"]:
        pooled = (f"the driver's pool ({', '.join(f'{k}={v}' for k, v in driver_pool.items())}) pays it for each "
                  f"connection it opens; " if driver_pool else "")
        return [Finding("warn", "pooler",
                        f"no pooler in front of the server: a new connection costs {connect_ms:.1f} ms (target "
                        f"{t['connect_ms']} ms) against {trip_ms:.2f} ms for a round trip on an open one; {pooled}"
                        f"put PgBouncer (transaction mode) in front", None, evidence)]
    if driver_pool or long_sessions:
        return []
    return [Finding("warn", "pooler",
                    "no pooler detected in front of the server, the URL sizes no pool (connection_limit, "
                    "pool_size…) and no client keeps an idle connection open: the checklist asks for connection "
                    "pooling; put PgBouncer in front or the driver's pool", None, evidence)]


def _url_findings(connection: dict, params: dict[str, Any], pooler: str | None, usable: int) -> list[Finding]:
    """The client-side pool settings the URL carries, against the server, or the pooler."""
    findings = []
    note = connection.get("url_note")
    if note:
        findings.append(Finding("info", "url", note, None, {"set_aside": connection.get("set_aside") or []}))
    for key, size in _driver_pool(params).items():
        if pooler:
            findings.append(Finding("info", f"url:{key}",
                                    f"the URL's {key}={size} sizes the application's connections to the pooler, "
                                    f"which reach the server only through the pooler's own pool", None,
                                    {key: size, "reaches_server": False}))
        elif size > usable:
            findings.append(Finding("warn", f"url:{key}",
                                    f"the URL's {key}={size} exceeds the {usable} usable connections: one application "
                                    f"instance alone could exhaust the server", None,
                                    {key: size, "usable": usable, "reaches_server": True}))
    wait = str(params.get("pool_timeout", ""))
    if wait.isdigit() and int(wait) == 0:
        findings.append(Finding("warn", "url:pool_timeout",
                                "the URL's pool_timeout=0 lets a request wait forever for a free connection: set "
                                "a few seconds (the checklist's 20)", None, {"pool_timeout": 0}))
    return findings


def _usage_finding(sessions: int, usable: int, usage: float, t) -> list[Finding]:
    if usage < t["usage_warn"]:
        return []
    return [Finding("fail" if usage >= t["usage_fail"] else "warn", "max_connections",
                    f"{sessions} of {usable} usable connections are open ({usage:.0%}); new clients are refused at the "
                    f"limit: pool (PgBouncer in transaction mode) instead of opening more",
                    None, {"connections": sessions, "usable": usable, "usage": round(usage, 3)})]


@check("db.pool", requires=["postgres.settings", "postgres.activity", "postgres.connection",
                            "postgres.connect_latency", "postgres.database_stats", "postgres.pooler"])
def pool(facts, t):
    settings = facts["postgres.settings"]
    max_connections = int_setting(settings, "max_connections")
    usable = max(1, max_connections - int_setting(settings, "superuser_reserved_connections"))
    sessions = client_sessions(facts["postgres.activity"])
    states: dict[str, int] = {}
    for row in sessions:
        state = "hidden" if hidden_session(row) else row["state"]  # other roles' state needs pg_read_all_stats
        states[state] = states.get(state, 0) + 1
    usage = len(sessions) / usable
    latency, connection = facts["postgres.connect_latency"], facts["postgres.connection"]
    probed = facts.get("postgres.pooler") or {}
    pooler = _pooler(connection, facts["postgres.activity"], probed)
    params = {k.lower(): v for k, v in (connection.get("url_params") or {}).items()}
    findings = _usage_finding(len(sessions), usable, usage, t)
    score = lognormal(usage, t["usage_warn"], t["usage_fail"]) if usage > 0 else 1.0
    others = []
    if max_connections < t["min_max_connections"]:
        others.append(Finding("warn", "max_connections",
                              f"max_connections = {max_connections} leaves no headroom for {t['min_max_connections']} connections",
                              Fix.manual(f"ALTER SYSTEM SET max_connections = {t['min_max_connections']};  -- then restart"),
                              {"max_connections": max_connections, "target": t["min_max_connections"]}))
    stats = facts["postgres.database_stats"]
    kept = kept_open(sessions, t)
    others += _latency_findings(pooler, _driver_pool(params), latency, stats, kept, t)
    opened, session_ms = stats.get("sessions"), stats.get("session_time")
    if opened and session_ms is not None and opened >= t["min_sessions"] and session_ms / opened < t["min_avg_session_s"] * 1000:
        others.append(Finding("warn", "sessions",
                              f"{opened:,} sessions since the statistics were reset lasted {session_ms / opened:.0f} ms on average: "
                              f"the application seems to connect per request; keep connections in a pool",
                              None, {"sessions": opened, "avg_session_ms": round(session_ms / opened, 1)}))
    others += _url_findings(connection, params, pooler, usable)
    findings += others
    connect_ms, trip_ms = latency["connect_ms"], latency["round_trip_ms"]
    metrics = {"max_connections": max_connections, "usable": usable, "connections": len(sessions), "usage": round(usage, 3),
               "states": states, "pooler": pooler, "pooler_name": probed.get("pooler"), "pool_mode": probed.get("mode"),
               "connect_ms": round(connect_ms, 2), "round_trip_ms": round(trip_ms, 3),
               "url_pool_params": {k: params[k] for k in params if "pool" in k or k in _POOL_SIZE_PARAMS},
               "sessions_opened": opened, "kept_open": kept}
    return Outcome.scored(score * penalty(others), _summary(facts, states, len(sessions), usable, usage, latency, pooler, t),
                          metrics=metrics, findings=findings)


def _summary(facts, states: dict[str, int], sessions: int, usable: int, usage: float, latency: dict,
             pooler: str | None, t) -> str:
    # The verdict rests on counts, which hidden sessions are part of; only their states are unknown.
    hidden = states.get("hidden", 0)
    idle_tx = f"{states.get('idle in transaction', 0)} idle in transaction"
    if hidden:
        idle_tx = f"{idle_tx} among the {sessions - hidden} whose state this role sees ({grant(facts)} shows the other {hidden})"
    connect_ms = latency["connect_ms"]
    within = "within" if connect_ms <= t["connect_ms"] else "over"
    where = f"pooler: {pooler}" if pooler else "no pooler detected"
    return (f"{sessions}/{usable} connections in use ({usage:.0%}), {idle_tx}; connect {connect_ms:.1f} ms "
            f"({within} the {t['connect_ms']} ms target) vs round trip {latency['round_trip_ms']:.2f} ms; {where}")
