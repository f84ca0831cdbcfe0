"""The cache checks: pure functions of what the Redis collector gathered.

Facts (see collectors/redis.py): `redis.info` (INFO all when the window opened),
`redis.config` (CONFIG GET values, or why they could not be read), `redis.keys` (the
bounded key scan), `redis.latency` (round trips, slowlog, server-side percentiles) and
`redis.window` (what changed between two INFO samples, perfcheck's own lookups taken out).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import higher_is_better, lognormal, status_for
from perfcheck.units import format_bytes

MB = 1024 * 1024
# Replication's own commands: their per-call time is not something the application waits for.
_REPLICATION = {"sync", "psync", "replconf"}


def severity(score: float) -> str:
    status = status_for(score).value
    return "info" if status == "pass" else status


def command_name(stat: str) -> str:
    """'config|get' (INFO commandstats) -> 'CONFIG GET'."""
    return stat.replace("|", " ").upper()


def window_of(facts: Any) -> dict[str, Any] | None:
    """The hit-rate window when another selected check had it gathered."""
    window = facts.get("redis.window")
    return window if isinstance(window, dict) else None


def uptime_text(seconds: int) -> str:
    days, hours = seconds // 86400, seconds // 3600
    return f"{days} days" if days >= 2 else f"{hours} h" if hours >= 2 else f"{max(1, seconds // 60)} min"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# --- cache.hit_rate --------------------------------------------------------------------

@check("cache.hit_rate", requires=["redis.window"])
def hit_rate(facts, t):
    w = facts["redis.window"]
    lookups = w["hits"] + w["misses"]
    lifetime = w["lifetime_hits"] + w["lifetime_misses"]
    window_rate = w["hits"] / lookups if lookups else None
    lifetime_rate = w["lifetime_hits"] / lifetime if lifetime else None
    seconds = w["seconds"]
    metrics = {"window_s": seconds, "window_lookups": lookups, "window_hit_rate": window_rate,
               "lifetime_lookups": lifetime, "lifetime_hit_rate": lifetime_rate,
               "own_lookups_excluded": w["own_hits"] + w["own_misses"]}
    lifetime_text = (f"{lifetime_rate:.0%} of {lifetime:,} lookups since the stats were last reset"
                     if lifetime_rate is not None else "no lookups since the stats were last reset")
    if lookups < t["min_lookups"]:
        # The lifetime counters include every earlier audit's own reads (Redis cannot tell
        # them apart), so on a quiet server they say little: report them, judge nothing.
        return Outcome.skip(f"no cache traffic to judge in the {seconds:.1f} s window ({lookups} lookups; raise "
                            f"redis.window_s or audit under load); lifetime: {lifetime_text}", metrics=metrics)
    rate = window_rate
    summary = f"{rate:.0%} of {lookups:,} lookups hit in the {seconds:.1f} s window (lifetime: {lifetime_text})"
    score = higher_is_better(rate, t["target"], t["floor"])
    findings = []
    if rate < t["target"]:
        findings.append(Finding(severity(score), "keyspace",
                                f"{rate:.0%} of {lookups:,} lookups hit in the {seconds:.1f} s window (target "
                                f"{t['target']:.0%}), {w['misses']:,} misses: cache what is read often, with keys "
                                "that repeat and TTLs long enough to be hit",
                                None, {"hit_rate": round(rate, 4), "hits": w["hits"], "misses": w["misses"],
                                       "window_s": seconds, "target": t["target"]}))
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


# --- cache.ttl -------------------------------------------------------------------------

@check("cache.ttl", requires=["redis.keys"])
def ttl(facts, t):
    k = facts["redis.keys"]
    if k.get("ttl_denied") and not k["ttl_sampled"]:
        return Outcome.error(k["ttl_denied"])
    ignore = list(t.get("ignore") or [])
    families = {name: f for name, f in k["families"].items() if not any(fnmatchcase(name, p) for p in ignore)}
    sampled = sum(f["keys"] for f in families.values())
    with_ttl = sum(f["with_ttl"] for f in families.values())
    keyspace = k.get("keyspace") or {}
    keyspace_share = keyspace["expires"] / keyspace["keys"] if keyspace.get("keys") else None
    metrics = {"db": k["db"], "dbsize": k["dbsize"], "sampled": sampled, "with_ttl": with_ttl,
               "keyspace_ttl_share": keyspace_share}
    if not k["dbsize"] or not k["ttl_sampled"]:
        return Outcome.skip(f"db{k['db']} has no keys to judge", metrics=metrics)
    if not sampled:
        return Outcome.skip(f"every sampled key is in an ignored family ({', '.join(ignore)})", metrics=metrics)
    share = with_ttl / sampled
    metrics["ttl_share"] = share
    score = higher_is_better(share, t["min_share"], t["floor"])
    cross = (f"; INFO keyspace: {keyspace_share:.0%} of all {keyspace['keys']:,} keys in db{k['db']}"
             if keyspace_share is not None else "")
    of = f"{sampled:,} sampled keys" if sampled < k["dbsize"] else f"all {sampled:,} keys"
    findings = []
    lacking = sorted(((name, f) for name, f in families.items() if f["with_ttl"] < f["keys"]),
                     key=lambda item: item[1]["keys"] - item[1]["with_ttl"], reverse=True)
    for name, f in lacking:
        family_share = f["with_ttl"] / f["keys"]
        if family_share >= t["min_share"]:
            continue
        family_score = higher_is_better(family_share, t["min_share"], t["floor"])
        estimate = round((f["keys"] / k["ttl_sampled"]) * k["dbsize"])
        example = name.replace("*", "<id>") if "*" in name else name
        findings.append(Finding(
            # A family is never reported as worse than the check as a whole.
            severity(max(family_score, score)), name,
            f"{f['keys'] - f['with_ttl']:,} of {plural(f['keys'], 'sampled ' + name + ' key')} "
            f"{'has' if f['keys'] == 1 else 'have'} no TTL ({family_share:.0%} with one; about "
            f"{plural(estimate, 'key')} of this family in db{k['db']}): they live until memory runs out",
            Fix.manual(f"SET {example} <value> EX <seconds>"),
            {"sampled": f["keys"], "with_ttl": f["with_ttl"], "share": round(family_share, 4),
             "estimated_keys": estimate, "sampled_bytes": f["bytes"]}))
    summary = f"{share:.0%} of {of} have a TTL{cross}"
    if findings:
        summary += f"; without: {', '.join(f.object for f in findings[:3])}"
    if k.get("ttl_denied_keys"):
        metrics["unreadable_keys"] = k["ttl_denied_keys"]
        summary += f"; {plural(k['ttl_denied_keys'], 'key')} not read: {k['ttl_denied']}"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


# --- cache.eviction --------------------------------------------------------------------

def suggest_maxmemory(used: int, system: int) -> str:
    """A starting point a person can adjust: room for twice today's data, at least 256 MB,
    never more than three quarters of the host's RAM."""
    size = max(2 * used, 256 * MB)
    if system:
        size = min(size, int(system * 0.75))
    if size >= 1024 * MB and size % (1024 * MB) < 64 * MB:
        return f"{size // (1024 * MB)}gb"
    return f"{-(-size // MB)}mb"


@check("cache.eviction", requires=["redis.info", "redis.config"])
def eviction(facts, t):
    info, config = facts["redis.info"], facts["redis.config"]
    values = config.get("values") or {}
    maxmemory = info.get("maxmemory", values.get("maxmemory"))
    policy = info.get("maxmemory_policy", values.get("maxmemory-policy"))
    if maxmemory is None or policy is None:
        return Outcome.error(f"maxmemory and maxmemory-policy are not in INFO memory here, and "
                             f"{config.get('denied') or 'CONFIG GET did not return them'}")
    maxmemory, policy = int(maxmemory), str(policy)
    used = int(info.get("used_memory", 0))
    system = int(info.get("total_system_memory", 0) or 0)
    keys = sum(v.get("keys", 0) for name, v in info.items() if name.startswith("db") and isinstance(v, dict))
    expires = sum(v.get("expires", 0) for name, v in info.items() if name.startswith("db") and isinstance(v, dict))
    evicted = int(info.get("evicted_keys", 0))
    window = window_of(facts)
    oom = info.get("errorstat_OOM", {}).get("count", 0) if isinstance(info.get("errorstat_OOM"), dict) else 0
    if "total_error_replies" not in info and not oom:
        oom = None  # INFO errorstats came with Redis 6.2: before it, OOM refusals are not counted anywhere
    ratio = used / maxmemory if maxmemory else None
    metrics = {"maxmemory": maxmemory, "maxmemory_policy": policy, "used_memory": used, "used_ratio": ratio,
               "evicted_keys": evicted, "evicted_in_window": window["evicted_keys"] if window else None,
               "oom_errors": oom, "ttl_share": expires / keys if keys else None}
    fix = Fix.manual(f"CONFIG SET maxmemory {suggest_maxmemory(used, system)}", "CONFIG SET maxmemory-policy allkeys-lru",
               "CONFIG REWRITE")
    findings = []
    if maxmemory == 0:
        score = 0.0 if policy == "noeviction" else 0.25
        why = ("and maxmemory-policy noeviction" if policy == "noeviction"
               else f"so maxmemory-policy {policy} never applies")
        findings.append(Finding("fail", "maxmemory",
                                f"no maxmemory {why}: Redis grows until the host runs out of memory "
                                f"({format_bytes(used)} used now)", fix,
                                {"maxmemory": 0, "maxmemory_policy": policy, "used_memory": used}))
        summary = f"no maxmemory, policy {policy}, {format_bytes(used)} used"
    else:
        summary = f"maxmemory {format_bytes(maxmemory)} ({ratio:.0%} used), policy {policy}"
        if policy == "noeviction":
            full = ratio > t["max_used_ratio"]
            score = 0.05 if full else 0.3
            findings.append(Finding("fail", "maxmemory-policy",
                                    f"noeviction: once the cache is full ({ratio:.0%} of {format_bytes(maxmemory)} now) "
                                    "writes fail with OOM errors instead of evicting old entries",
                                    Fix.manual("CONFIG SET maxmemory-policy allkeys-lru", "CONFIG REWRITE"),
                                    {"maxmemory_policy": policy, "used_ratio": round(ratio, 4)}))
        elif policy.startswith("volatile-"):
            share = expires / keys if keys else 1.0
            score = 1.0 if share >= t["volatile_ttl_share"] else min(0.85, 0.9 * share / t["volatile_ttl_share"])
            if ratio > t["max_used_ratio"]:
                score = min(score, 0.9 * share)
            if share < t["volatile_ttl_share"]:
                findings.append(Finding(severity(score), "maxmemory-policy",
                                        f"{policy} evicts only keys with a TTL, and {1 - share:.0%} of the {keys:,} keys "
                                        f"have none: when memory is full ({ratio:.0%} now) those cannot be evicted and "
                                        "writes fail with OOM errors",
                                        Fix.manual("CONFIG SET maxmemory-policy allkeys-lru", "CONFIG REWRITE"),
                                        {"maxmemory_policy": policy, "ttl_share": round(share, 4), "keys": keys}))
        elif policy == "allkeys-random":
            score = 0.7
            findings.append(Finding("warn", "maxmemory-policy",
                                    "allkeys-random evicts hot keys as readily as cold ones; allkeys-lru or allkeys-lfu "
                                    "keep what is read often",
                                    Fix.manual("CONFIG SET maxmemory-policy allkeys-lru", "CONFIG REWRITE"),
                                    {"maxmemory_policy": policy}))
        else:
            score = 1.0
        if system and maxmemory > system:
            score = min(score, 0.6)
            findings.append(Finding("warn", "maxmemory",
                                    f"maxmemory {format_bytes(maxmemory)} is more than the host's "
                                    f"{format_bytes(system)} of RAM: the limit will never be reached before swapping",
                                    Fix.manual(f"CONFIG SET maxmemory {suggest_maxmemory(used, system)}", "CONFIG REWRITE"), {"maxmemory": maxmemory, "total_system_memory": system}))
    if oom:
        score = min(score, 0.3)
        findings.append(Finding("fail", "OOM", f"{oom:,} commands were refused with OOM errors since the stats were "
                                "last reset: the cache could not make room for writes", fix, {"oom_errors": oom}))
    if evicted or (window and window["evicted_keys"]):
        during = f", {window['evicted_keys']:,} in the {window['seconds']:.1f} s window" if window else ""
        findings.append(Finding("info", "evicted_keys",
                                f"{evicted:,} keys evicted since the stats were last reset{during}: normal for a full "
                                "cache; if the hit rate is low, maxmemory is too small for the working set", None,
                                {"evicted_keys": evicted}))
        summary += f", {evicted:,} evicted"
    if oom is None and maxmemory:
        summary += "; OOM errors not counted (INFO errorstats needs Redis 6.2)"
    if config.get("denied"):
        metrics["config"] = config["denied"]
        summary += f" (read from INFO memory: {config['denied']})"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


# --- cache.big_keys --------------------------------------------------------------------

def _limit(item: dict[str, Any], t: dict[str, Any]) -> tuple[float, float, str] | None:
    """(measured, limit, unit) for a key's type, or None when no limit applies."""
    kind = item.get("type")
    if kind == "string":
        size = item["length"] if item.get("length") is not None else item["bytes"]
        return size, t["max_string_bytes"], "bytes"
    if item.get("length") is None:
        return None
    if kind == "hash":
        return item["length"], t["max_hash_fields"], "fields"
    if kind in ("list", "set", "zset", "stream"):
        return item["length"], t["max_elements"], "elements"
    return None


@check("cache.big_keys", requires=["redis.keys"])
def big_keys(facts, t):
    k = facts["redis.keys"]
    if k.get("memory_usage_denied") and not k["largest"]:
        return Outcome.error(k["memory_usage_denied"])
    scanned, dbsize = k["scanned"], k["dbsize"]
    hint = {"time budget": "; raise redis.sample_seconds to scan them all",
            "key budget": "; raise redis.sample_keys to scan them all"}.get(k["stopped_by"], "")
    coverage = (f"every key scanned ({dbsize:,})" if k["complete"]
                else f"{scanned:,} of {dbsize:,} keys scanned (stopped by the {k['stopped_by']}{hint})")
    metrics = {"scanned": scanned, "dbsize": dbsize, "complete": k["complete"], "scan_s": k["seconds"],
               "scanned_bytes": k["total_bytes"],
               "largest": [{"key": i["key"], "type": i["type"], "bytes": i["bytes"], "length": i["length"]}
                           for i in k["largest"][:5]]}
    if not dbsize:
        return Outcome.skip(f"db{k['db']} has no keys to judge", metrics=metrics)
    offenders = []
    for item in k["largest"]:
        limit = _limit(item, t)
        if limit and limit[0] > limit[1]:
            offenders.append((item, *limit))
    metrics["offenders"] = len(offenders)
    if k.get("memory_denied_keys"):
        metrics["unreadable_keys"] = k["memory_denied_keys"]
        coverage += f", {plural(k['memory_denied_keys'], 'key')} not read: {k['memory_usage_denied']}"
    if not offenders:
        largest = k["largest"][0] if k["largest"] else None
        biggest = f"; the largest, {largest['key']}, is a {largest['type']} of {format_bytes(largest['bytes'])}" if largest else ""
        return Outcome.passed(f"no key over the limits, {coverage}{biggest}", metrics=metrics)
    worst = max(measured / limit for _, measured, limit, _ in offenders)
    score = min(0.89, lognormal(worst, 1.0, 10.0))
    findings = []
    for item, measured, limit, unit in offenders[: int(t["top"])]:
        size = f"{format_bytes(measured)}" if unit == "bytes" else f"{int(measured):,} {unit}"
        shown_limit = format_bytes(limit) if unit == "bytes" else f"{int(limit):,} {unit}"
        extra = "" if unit == "bytes" else f", {format_bytes(item['bytes'])}"
        advice = ("compress it or split it" if item["type"] == "string"
                  else "split it into smaller keys (e.g. buckets by a hash of the member) and read it in pages")
        findings.append(Finding(severity(lognormal(measured / limit, 1.0, 10.0)), item["key"],
                                f"{item['type']} of {size}{extra} (limit {shown_limit}): every read, write or delete "
                                f"blocks Redis while it runs; {advice}", None,
                                {"type": item["type"], "bytes": item["bytes"], "length": item["length"], "limit": limit}))
    more = f" (and {len(offenders) - len(findings)} more)" if len(offenders) > len(findings) else ""
    summary = f"{plural(len(offenders), 'key')} over the limits{more}, {coverage}; largest {offenders[0][0]['key']}"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


# --- cache.latency ---------------------------------------------------------------------

@check("cache.latency", requires=["redis.latency"])
def latency(facts, t):
    lat = facts["redis.latency"]
    rt = lat["all_ms"]
    p50, p99 = rt["p50"], rt["p99"]
    s50 = lognormal(p50, t["p50_ms"], t["p50_ms"] * 5)
    s99 = lognormal(p99, t["p99_ms"], t["p99_ms"] * 5)
    metrics = {"samples": lat["samples"], "p50_ms": p50, "p90_ms": rt["p90"], "p99_ms": p99, "max_ms": rt["max"],
               "ping_ms": lat["ping_ms"], "get_ms": lat["get_ms"]}
    findings = []
    for name, value, limit, part in (("p50", p50, t["p50_ms"], s50), ("p99", p99, t["p99_ms"], s99)):
        if value > limit:
            findings.append(Finding(severity(part), f"round trip {name}",
                                    f"{name} {value:.2f} ms over {lat['samples']} PING/GET round trips (target {limit} ms): "
                                    "keep Redis close to the application and pipeline commands", None,
                                    {name + "_ms": value, "target_ms": limit}))
    slowlog = lat.get("slowlog") or {}
    parts = [(s50 + s99) / 2]  # the round trip, then the slowlog: the worse one is the score
    summary = f"round trip p50 {p50:.2f} ms, p99 {p99:.2f} ms over {lat['samples']} PING/GET"
    if slowlog.get("denied"):
        findings.append(Finding("info", "SLOWLOG", f"{slowlog['denied']}: slow commands were not checked", None))
        summary += "; slowlog not readable"
    elif "entries" in slowlog:
        since = slowlog["now"] - t["slowlog_hours"] * 3600
        recent = [e for e in slowlog["entries"] if (e.get("start_time") or 0) >= since]
        metrics["slowlog_recent"] = len(recent)
        metrics["slowlog_length"] = slowlog.get("length")
        slow_score = 1.0 if not recent else lognormal(len(recent), t["max_slowlog"], t["max_slowlog"] * 5)
        parts.append(slow_score)
        summary += f"; {len(recent)} slowlog entries in the last {t['slowlog_hours']} h"
        by_command: dict[str, list[dict[str, Any]]] = {}
        for entry in recent:
            by_command.setdefault(entry["command"], []).append(entry)
        for command, entries in sorted(by_command.items(), key=lambda kv: -len(kv[1])):
            slowest = max(entries, key=lambda e: e.get("duration_us") or 0)
            findings.append(Finding(severity(slow_score), command,
                                    f"{len(entries)} slowlog entries in the last {t['slowlog_hours']} h, the slowest "
                                    f"{(slowest.get('duration_us') or 0) / 1000:.1f} ms (key {slowest['key']})", None,
                                    {"entries": len(entries), "slowest_us": slowest.get("duration_us"),
                                     "key": slowest["key"]}))
        slower_than = slowlog.get("slower_than_us")
        if slower_than is not None and slower_than < 0:
            findings.append(Finding("info", "slowlog-log-slower-than",
                                    "the slowlog is off, so slow commands leave no trace",
                                    Fix.manual("CONFIG SET slowlog-log-slower-than 10000"),
                                    {"slowlog_log_slower_than": slower_than}))
    for command, stats in sorted((lat.get("server") or {}).items(), key=lambda kv: -(kv[1].get("p99") or 0)):
        p99_server_ms = (stats.get("p99") or 0) / 1000
        if p99_server_ms > t["p99_ms"] and (stats.get("calls") or 0) >= 10:
            findings.append(Finding("info", command,
                                    f"p99 {p99_server_ms:.1f} ms inside Redis over {stats['calls']:,} calls "
                                    "(INFO latencystats)", None, {"server_p99_ms": p99_server_ms, "calls": stats["calls"]}))
    return Outcome.scored(min(parts), summary, metrics=metrics, findings=findings)


# --- cache.memory ----------------------------------------------------------------------

@check("cache.memory", requires=["redis.info", "redis.config"])
def memory(facts, t):
    info, config = facts["redis.info"], facts["redis.config"]
    used = int(info.get("used_memory", 0))
    rss = int(info.get("used_memory_rss", 0) or 0)
    ratio = info.get("mem_fragmentation_ratio")
    maxmemory = int(info.get("maxmemory", (config.get("values") or {}).get("maxmemory", 0)) or 0)
    policy = str(info.get("maxmemory_policy", (config.get("values") or {}).get("maxmemory-policy", "")))
    system = int(info.get("total_system_memory", 0) or 0)
    peak = int(info.get("used_memory_peak", 0) or 0)
    metrics = {"used_memory": used, "used_memory_rss": rss, "fragmentation_ratio": ratio, "maxmemory": maxmemory,
               "total_system_memory": system, "used_memory_peak": peak}
    findings = []
    scores = [1.0]
    notes = []
    judged_fragmentation = used >= t["min_used_bytes"] and isinstance(ratio, (int, float))
    metrics["fragmentation_judged"] = judged_fragmentation
    if not judged_fragmentation:
        notes.append(f"fragmentation not judged below {format_bytes(t['min_used_bytes'])} used")
    elif ratio > t["max_fragmentation"]:
        part = lognormal(ratio - 1, t["max_fragmentation"] - 1, (t["max_fragmentation"] - 1) * 3)
        scores.append(part)
        defrag = (config.get("values") or {}).get("activedefrag")
        fix = (Fix.manual("restart Redis in a quiet period (activedefrag is already on)")
               if defrag == "yes" else Fix.manual("CONFIG SET activedefrag yes", "CONFIG REWRITE"))
        findings.append(Finding(severity(part), "mem_fragmentation_ratio",
                                f"fragmentation {ratio:.2f}: {format_bytes(rss)} resident for {format_bytes(used)} of data "
                                f"(MEMORY DOCTOR flags over 1.4); the difference is memory the host cannot use", fix,
                                {"ratio": ratio, "used_memory": used, "used_memory_rss": rss}))
    elif ratio < 1.0:
        scores.append(0.5)
        findings.append(Finding("warn", "mem_fragmentation_ratio",
                                f"fragmentation {ratio:.2f}: Redis holds {format_bytes(used)} but only {format_bytes(rss)} "
                                "is resident, so part of it is probably swapped out (every access to it is a disk read)",
                                None, {"ratio": ratio, "used_memory": used, "used_memory_rss": rss}))
    if maxmemory:
        headroom = 1 - used / maxmemory
        metrics["headroom"] = headroom
        if headroom < t["min_headroom"] and not policy.startswith("allkeys-"):
            part = 0.1 if policy == "noeviction" else 0.4
            scores.append(part)
            findings.append(Finding(severity(part), "maxmemory",
                                    f"{headroom:.0%} headroom: {format_bytes(used)} of {format_bytes(maxmemory)} used with "
                                    f"policy {policy}, so writes will soon fail with OOM errors",
                                    Fix.manual(f"CONFIG SET maxmemory {suggest_maxmemory(used, system)}", "CONFIG REWRITE"), {"headroom": round(headroom, 4), "maxmemory": maxmemory}))
        elif headroom < t["min_headroom"]:
            notes.append(f"full at {1 - headroom:.0%} of maxmemory and evicting, as a {policy} cache should")
        headroom_text = f"{headroom:.0%} headroom under maxmemory {format_bytes(maxmemory)}"
    elif system:
        headroom = 1 - max(rss, used) / system
        metrics["headroom"] = headroom
        headroom_text = f"no maxmemory; {headroom:.0%} of the host's {format_bytes(system)} free of Redis"
        if headroom < t["min_headroom"]:
            scores.append(0.1)
            findings.append(Finding("fail", "total_system_memory",
                                    f"Redis uses {format_bytes(max(rss, used))} of the host's {format_bytes(system)} with no "
                                    "maxmemory: the kernel will kill it or swap",
                                    Fix.manual(f"CONFIG SET maxmemory {suggest_maxmemory(used, system)}", "CONFIG REWRITE"), {"headroom": round(headroom, 4)}))
    else:
        headroom_text = "no maxmemory and the host's RAM unknown"
    if judged_fragmentation and peak > 1.5 * used:
        findings.append(Finding("info", "used_memory_peak",
                                f"the peak ({format_bytes(peak)}) is far above today's use ({format_bytes(used)}): the "
                                "allocator may hold the difference as fragmentation", None,
                                {"used_memory_peak": peak, "used_memory": used}))
    score = min(scores)
    ratio_text = f"fragmentation {ratio:.2f}" if isinstance(ratio, (int, float)) else "fragmentation unknown"
    summary = f"{format_bytes(used)} used, {ratio_text}, {headroom_text}"
    if notes:
        summary += f" ({'; '.join(notes)})"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


# --- cache.commands --------------------------------------------------------------------

@check("cache.commands", requires=["redis.info"])
def commands(facts, t):
    info = facts["redis.info"]
    window = window_of(facts)
    during = (window or {}).get("commands") or {}
    dangerous = {name.lower() for name in t["dangerous"]}
    uptime = uptime_text(int(info.get("uptime_in_seconds", 0)))
    stats = {name.removeprefix("cmdstat_"): value for name, value in info.items()
             if name.startswith("cmdstat_") and isinstance(value, dict)}
    findings = []
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
               "uptime_s": int(info.get("uptime_in_seconds", 0))}
    if not findings:
        return Outcome.passed(f"none of {', '.join(sorted(n.upper() for n in dangerous))} in use and no command over "
                              f"{t['slow_usec_per_call'] / 1000:g} ms a call (stats of the last {uptime})", metrics=metrics)
    summary = f"{plural(len(findings), 'dangerous or slow command')} in use: {', '.join(f.object for f in findings[:4])}"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)
