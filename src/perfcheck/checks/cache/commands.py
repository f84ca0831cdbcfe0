"""`cache.commands`: No dangerous or slow commands in use."""

from __future__ import annotations

from perfcheck.checks.support.redis import plural, severity, window_of
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import lognormal

# Replication's own commands: their per-call time is not something the application waits for.
_REPLICATION = {"sync", "psync", "replconf"}
# Administration and monitoring (an operator's or a tool's, perfcheck's own included), not the
# application's workload: their per-call time says nothing about how the application uses Redis.
_ADMIN = {"config", "info", "slowlog", "client", "latency", "memory", "acl", "command", "debug", "monitor", "save",
          "bgsave", "bgrewriteaof", "lastsave", "module", "cluster", "replicaof", "slaveof", "role", "shutdown",
          "failover", "dbsize", "hello", "auth", "select", "reset", "time", "object", "swapdb", "lolwut"}


def is_admin(stat: str) -> bool:
    """'config|resetstat' -> True: the command family is administration."""
    return stat.split("|", 1)[0] in _ADMIN


def command_name(stat: str) -> str:
    """'config|get' (INFO commandstats) -> 'CONFIG GET'."""
    return stat.replace("|", " ").upper()


def uptime_text(seconds: int) -> str:
    days, hours = seconds // 86400, seconds // 3600
    return f"{days} days" if days >= 2 else f"{hours} h" if hours >= 2 else f"{max(1, seconds // 60)} min"


@check("cache.commands", requires=["redis.info"])
def commands(facts, t):
    info = facts["redis.info"]
    window = window_of(facts)
    during = (window or {}).get("commands") or {}
    dangerous = {name.lower() for name in t["dangerous"]}
    uptime = uptime_text(int(info.get("uptime_in_seconds", 0)))
    stats = {name.removeprefix("cmdstat_"): value for name, value in info.items()
             if name.startswith("cmdstat_") and isinstance(value, dict)}
    findings: list[Finding] = []
    admin: list[str] = []
    scores = [1.0]
    for name, stat in sorted(stats.items(), key=lambda kv: -int(kv[1].get("calls", 0))):
        calls = int(stat.get("calls", 0))
        per_call = float(stat.get("usec_per_call", 0))
        if name in dangerous and calls:
            scores.append(0.2)
            in_window = f", {during[name]:,} during the audit" if during.get(name) else ""
            findings.append(Finding("fail", command_name(name),
                                    f"{command_name(name)} was called {plural(calls, 'time')} in the last {uptime} "
                                    f"(commandstats since the last reset{in_window}), {per_call:,.0f} µs a call: it "
                                    "blocks every other client while it runs"
                                    + ("; iterate with SCAN cursor MATCH pattern COUNT 1000 instead" if name == "keys" else
                                       "; use the ASYNC form, and keep it out of the application's reach"),
                                    Fix.manual(f"ACL SETUSER <application user> -{name.replace('|', ' ')}"),
                                    {"calls": calls, "usec_per_call": per_call, "calls_in_window": during.get(name, 0)}))
        elif per_call > t["slow_usec_per_call"] and calls and is_admin(name):
            admin.append(command_name(name))
        elif per_call > t["slow_usec_per_call"] and calls and name not in _REPLICATION:
            part = lognormal(per_call, t["slow_usec_per_call"], t["slow_usec_per_call"] * 10)
            scores.append(part)
            findings.append(Finding(severity(part), command_name(name),
                                    f"{per_call / 1000:,.1f} ms a call over {calls:,} calls (limit "
                                    f"{t['slow_usec_per_call'] / 1000:g} ms): an O(N) command on large keys; read in "
                                    "pages (HSCAN, SSCAN, ZSCAN, LRANGE with bounds) or split the keys", None,
                                    {"calls": calls, "usec_per_call": per_call}))
    score = min(scores)
    metrics = {"commands_seen": len(stats), "dangerous_in_use": [f.object for f in findings if f.severity == "fail"],
               "uptime_s": int(info.get("uptime_in_seconds", 0)), "slow_admin_commands": admin}
    if not findings:
        aside = (f"; administration left aside: {', '.join(admin[:4])}" if admin else "")
        return Outcome.passed(f"none of {', '.join(sorted(n.upper() for n in dangerous))} in use and no workload command "
                              f"over {t['slow_usec_per_call'] / 1000:g} ms a call (stats of the last {uptime}){aside}",
                              metrics=metrics)
    summary = f"{plural(len(findings), 'dangerous or slow command')} in use: {', '.join(f.object for f in findings[:4])}"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)
