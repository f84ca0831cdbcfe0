"""The PostgreSQL checks: pure functions of the facts the postgres collector gathered."""

from __future__ import annotations

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import higher_is_better, lognormal
from perfcheck.pg.names import qualified, quote_ident
from perfcheck.checks.pg import (
    format_ms,
    grant,
    hidden_session,
    int_setting,
    penalty,
    setting_ms,
    short_sql,
    unless_hidden,
)

# --- db.timeouts -----------------------------------------------------------------

_TIMEOUTS = [
    # setting, threshold key, share of the score, severity when unset
    ("statement_timeout", "statement_timeout_s", 0.45, "fail"),
    ("idle_in_transaction_session_timeout", "idle_in_transaction_timeout_s", 0.45, "fail"),
    ("lock_timeout", "lock_timeout_s", 0.10, "warn"),
]


def _set_timeout(name: str, value: str, server: dict, role_settings: list[dict]) -> Fix:
    """ALTER DATABASE … SET, unless a role-level setting for this role would override it."""
    database = quote_ident(server["database"])
    if any(row["name"] == name and row["level"] != "database" for row in role_settings):
        target = f"ROLE {quote_ident(server['user'])} IN DATABASE {database}"
    else:
        target = f"DATABASE {database}"
    return Fix.manual(f"ALTER {target} SET {name} = '{value}';")


@check("db.timeouts", requires=["postgres.settings", "postgres.server", "postgres.role_settings"])
def timeouts(facts, t):
    settings = facts["postgres.settings"]
    score = 0.0
    findings = []
    metrics = {}
    for name, key, share, severity in _TIMEOUTS:
        target_ms = int(t[key] * 1000)
        # reset_val: the value a new session of this role gets (perfcheck's own session overrides some).
        value = setting_ms(settings, name, "reset_val")
        metrics[f"{name}_ms"] = value
        fix = _set_timeout(name, format_ms(target_ms), facts["postgres.server"], facts["postgres.role_settings"])
        if not value:
            findings.append(Finding(severity, name, f"{name} is off (0): nothing stops a runaway "
                                    f"{'lock wait' if name == 'lock_timeout' else 'statement' if name == 'statement_timeout' else 'idle transaction'}; "
                                    f"the target is {format_ms(target_ms)}", fix, {"value_ms": value, "target_ms": target_ms}))
        elif value > target_ms:
            part = lognormal(value, target_ms, target_ms * 4)
            score += share * part
            findings.append(Finding("warn", name, f"{name} is {format_ms(value)}, above the {format_ms(target_ms)} target",
                                    fix, {"value_ms": value, "target_ms": target_ms}))
        else:
            score += share
    shown = ", ".join(f"{name} = {format_ms(metrics[f'{name}_ms'])}" for name, *_ in _TIMEOUTS)
    return Outcome.scored(score, shown, metrics=metrics, findings=findings)


# --- db.pool ---------------------------------------------------------------------------

_POOLERS = ("pgbouncer", "odyssey", "pgcat", "pgpool", "supavisor")
# Connection-URL parameters by which drivers and ORMs size their pools.
_POOL_SIZE_PARAMS = ("pool_size", "max_pool_size", "pool_max", "connection_limit", "max_connections", "maxpoolsize")


def _client_session(row: dict) -> bool:
    """A session of a client. Another role's hidden row has no backend_type: a client's has
    a user and a database, while the checkpointer, walwriter, autovacuum and replication
    launchers and workers lack one or the other (and must not count as connections)."""
    if row.get("backend_type"):
        return row["backend_type"] == "client backend"
    return bool(row.get("user")) and bool(row.get("database"))


def _client_sessions(activity: list[dict]) -> list[dict]:
    return [row for row in activity if _client_session(row)]


def _pooler(connection: dict, activity: list[dict]) -> str | None:
    """Why we think a pooler stands between the URL and the server, or None."""
    url_port, server_port = connection.get("url_port"), connection.get("server_port")
    if url_port and server_port and url_port != server_port:
        return f"the URL's port {url_port} is not the server's port {server_port}"
    params = {k.lower(): v for k, v in (connection.get("url_params") or {}).items()}
    if params.get("pgbouncer", "").lower() in ("true", "1", "on"):
        return "pgbouncer=true in the URL"
    names = {(row.get("application_name") or "").lower() for row in activity}
    found = next((p for p in _POOLERS for name in names if p in name), None)
    return f"a {found} session in pg_stat_activity" if found else None


@check("db.pool", requires=["postgres.settings", "postgres.activity", "postgres.connection",
                            "postgres.connect_latency", "postgres.database_stats"])
def pool(facts, t):
    settings = facts["postgres.settings"]
    max_connections = int_setting(settings, "max_connections")
    usable = max(1, max_connections - int_setting(settings, "superuser_reserved_connections"))
    sessions = _client_sessions(facts["postgres.activity"])
    states: dict[str, int] = {}
    for row in sessions:
        state = "hidden" if hidden_session(row) else row["state"]  # other roles' state needs pg_read_all_stats
        states[state] = states.get(state, 0) + 1
    usage = len(sessions) / usable
    latency = facts["postgres.connect_latency"]
    connection = facts["postgres.connection"]
    pooler = _pooler(connection, facts["postgres.activity"])
    findings = []
    score = lognormal(usage, t["usage_warn"], t["usage_fail"]) if usage > 0 else 1.0
    if usage >= t["usage_warn"]:
        findings.append(Finding(
            "fail" if usage >= t["usage_fail"] else "warn", "max_connections",
            f"{len(sessions)} of {usable} usable connections are open ({usage:.0%}); new clients are refused at the limit: "
            f"pool (PgBouncer in transaction mode) instead of opening more",
            None, {"connections": len(sessions), "usable": usable, "usage": round(usage, 3)}))
    others = []
    if max_connections < t["min_max_connections"]:
        others.append(Finding("warn", "max_connections",
                              f"max_connections = {max_connections} leaves no headroom for {t['min_max_connections']} connections",
                              Fix.manual(f"ALTER SYSTEM SET max_connections = {t['min_max_connections']};  -- then restart"),
                              {"max_connections": max_connections, "target": t["min_max_connections"]}))
    connect_ms, trip_ms = latency["connect_ms"], latency["round_trip_ms"]
    if pooler and connect_ms > t["connect_ms"]:
        others.append(Finding("warn", "pooler",
                              f"a new connection through the pooler takes {connect_ms:.1f} ms (target {t['connect_ms']} ms)",
                              None, {"connect_ms": round(connect_ms, 2), "round_trip_ms": round(trip_ms, 3)}))
    elif not pooler and connect_ms > t["connect_ms"]:
        others.append(Finding("info", "pooler",
                              f"no pooler detected in front of the server: a new connection costs {connect_ms:.1f} ms against "
                              f"{trip_ms:.2f} ms for a round trip on an open one, so the application must keep its connections "
                              f"in a pool (its driver's pool or PgBouncer)",
                              None, {"connect_ms": round(connect_ms, 2), "round_trip_ms": round(trip_ms, 3)}))
    stats = facts["postgres.database_stats"]
    opened, session_ms = stats.get("sessions"), stats.get("session_time")
    if opened and session_ms is not None and opened >= t["min_sessions"] and session_ms / opened < t["min_avg_session_s"] * 1000:
        others.append(Finding("warn", "sessions",
                              f"{opened:,} sessions since the statistics were reset lasted {session_ms / opened:.0f} ms on average: "
                              f"the application seems to connect per request; keep connections in a pool",
                              None, {"sessions": opened, "avg_session_ms": round(session_ms / opened, 1)}))
    params = {k.lower(): v for k, v in (connection.get("url_params") or {}).items()}
    for key in _POOL_SIZE_PARAMS:
        if str(params.get(key, "")).isdigit() and int(params[key]) > usable:
            others.append(Finding("warn", f"url:{key}",
                                  f"the URL's {key}={params[key]} exceeds the {usable} usable connections: one application "
                                  f"instance alone could exhaust the server", None, {key: int(params[key]), "usable": usable}))
    findings += others
    metrics = {"max_connections": max_connections, "usable": usable, "connections": len(sessions), "usage": round(usage, 3),
               "states": states, "pooler": pooler, "connect_ms": round(connect_ms, 2), "round_trip_ms": round(trip_ms, 3),
               "url_pool_params": {k: params[k] for k in params if "pool" in k or k in _POOL_SIZE_PARAMS},
               "sessions_opened": opened}
    # The verdict rests on counts, which hidden sessions are part of; only their states are unknown.
    hidden = states.get("hidden", 0)
    idle_tx = f"{states.get('idle in transaction', 0)} idle in transaction"
    if hidden:
        idle_tx = f"{idle_tx} among the {len(sessions) - hidden} whose state this role sees ({grant(facts)} shows the other {hidden})"
    summary = (f"{len(sessions)}/{usable} connections in use ({usage:.0%}), {idle_tx}; connect {connect_ms:.1f} ms vs round "
               f"trip {trip_ms:.2f} ms; " + (f"pooler: {pooler}" if pooler else "no pooler detected"))
    return Outcome.scored(score * penalty(others), summary, metrics=metrics, findings=findings)


# --- db.cache_hit ------------------------------------------------------------------------

@check("db.cache_hit", requires=["postgres.tables", "postgres.settings"])
def cache_hit(facts, t):
    hits = reads = 0
    per_table = []
    for table in facts["postgres.tables"]:
        hit = (table.get("heap_blks_hit") or 0) + (table.get("idx_blks_hit") or 0)
        read = (table.get("heap_blks_read") or 0) + (table.get("idx_blks_read") or 0)
        hits, reads = hits + hit, reads + read
        if hit + read >= t["min_reads"] and hit / (hit + read) < t["floor"]:
            per_table.append((read, hit, table))
    if hits + reads < t["min_reads"]:
        return Outcome.skip(f"only {hits + reads:,} buffer accesses on these tables since the statistics were reset: "
                            f"too few to judge (needs {t['min_reads']:,})")
    ratio = hits / (hits + reads)
    score = higher_is_better(ratio, t["target"], t["floor"])
    findings = []
    for read, hit, table in sorted(per_table, key=lambda item: -item[0])[:10]:
        name = qualified(table["schema"], table["name"])
        findings.append(Finding("warn", name, f"{hit / (hit + read):.1%} of {hit + read:,} buffer accesses to {name} hit the cache "
                                f"({read:,} blocks read from disk or the OS cache)", None,
                                {"hit_ratio": round(hit / (hit + read), 4), "blocks_read": read, "blocks_hit": hit}))
    shared = facts["postgres.settings"].get("shared_buffers") or {}
    if score < 0.9 and shared.get("setting"):
        size_mb = int(shared["setting"]) * (8 if shared.get("unit") == "8kB" else 1) // 1024
        findings.insert(0, Finding(
            "fail" if score < 0.5 else "warn", "shared_buffers",
            f"{ratio:.2%} of reads hit shared buffers (target {t['target']:.0%}); shared_buffers is {size_mb} MB: "
            f"give it about 25 % of the memory, or shrink the working set",
            Fix.manual(f"ALTER SYSTEM SET shared_buffers = '{max(128, size_mb * 2)}MB';  -- then restart"),
            {"hit_ratio": round(ratio, 4), "shared_buffers_mb": size_mb}))
    metrics = {"hit_ratio": round(ratio, 5), "blocks_hit": hits, "blocks_read": reads}
    return Outcome.scored(score, f"{ratio:.2%} of {hits + reads:,} table and index block accesses hit shared buffers",
                          metrics=metrics, findings=findings)


# --- db.vacuum ---------------------------------------------------------------------------

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


# --- db.long_transactions ----------------------------------------------------------------

@check("db.long_transactions", requires=["postgres.activity", "postgres.server"])
def long_transactions(facts, t):
    database = facts["postgres.server"]["database"]
    sessions = [row for row in _client_sessions(facts["postgres.activity"])
                if row.get("application_name") != "perfcheck"]
    here = [row for row in sessions if row.get("database") == database]
    # A hidden session outside any transaction cannot be a long one; one inside (or not
    # known to be outside) may be, for all this role can tell.
    hidden = [row for row in here if hidden_session(row)]
    hidden_open = sum(1 for row in hidden if row.get("in_transaction") is not False)
    findings = []
    for row in here:
        if hidden_session(row):
            continue
        state = row.get("state") or ""
        if state.startswith("idle in transaction"):
            age, limit, what = row.get("state_age_s"), t["max_idle_in_transaction_s"], state
        elif state == "active":
            age, limit, what = row.get("xact_age_s"), t["max_active_s"], "in a transaction, active"
        else:
            continue
        if age is None or age < limit:
            continue
        who = f"{row.get('user')}@{row.get('database')}" + (f" ({row['application_name']})" if row.get("application_name") else "")
        findings.append(Finding(
            "fail", f"pid {row['pid']}",
            f"pid {row['pid']} {who} has been {what} for {age:.0f} s (limit {limit} s): it holds its locks and stops "
            f"vacuum from removing dead tuples; last statement: {short_sql(row.get('query'), 100)}",
            Fix.manual(f"SELECT pg_terminate_backend({int(row['pid'])});"),
            {"pid": row["pid"], "state": state, "age_s": round(float(age), 1), "xact_age_s": row.get("xact_age_s")}))
    findings.sort(key=lambda f: -f.evidence["age_s"])
    metrics = {"sessions": len(here), "other_databases": len(sessions) - len(here), "long": len(findings),
               "hidden_sessions": len(hidden), "hidden_in_transaction": hidden_open}
    note = (f"; {len(hidden)} sessions of other roles are hidden from this role, none in a transaction"
            if hidden and not hidden_open else "")
    if not findings:
        outcome = Outcome.passed(f"no session in {database} idle in transaction over {t['max_idle_in_transaction_s']} s "
                                 f"or in a transaction over {t['max_active_s']} s{note}", metrics=metrics)
    else:
        outcome = Outcome.scored(penalty(findings), f"{len(findings)} sessions in long transactions{note}",
                                 metrics=metrics, findings=findings)
    return unless_hidden(outcome, hidden_open, f"sessions of other roles in a transaction in {database} "
                                               f"(their state and age)", facts)
