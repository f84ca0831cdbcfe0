"""The cache checks on hand-built facts (no server): every branch of each judgement, and
the collector's pure helpers. The facts have the shape the Redis collector gathers."""

from __future__ import annotations

import pytest
import redis

from perfcheck.checks import cache
from perfcheck.collectors import Unavailable
from perfcheck.collectors.redis import (
    RedisCollector,
    database_number,
    describe_connect_error,
    key_family,
    percentiles,
    resp,
)
from perfcheck.model import Status
from perfcheck.runner import judge as run_judge

MB = 1024 * 1024


def judge(chk, facts, **overrides):
    return chk.judge(facts, {**chk.meta.thresholds, **overrides})


def objects(outcome):
    return {f.object: f for f in outcome.findings}


# --- fact builders -----------------------------------------------------------------------

def window(hits, misses, *, seconds=1.0, lifetime_hits=None, lifetime_misses=None, own=(0, 0), evicted=0, commands=None):
    return {"seconds": seconds, "hits": hits, "misses": misses, "own_hits": own[0], "own_misses": own[1],
            "evicted_keys": evicted, "expired_keys": 0,
            "lifetime_hits": hits if lifetime_hits is None else lifetime_hits,
            "lifetime_misses": misses if lifetime_misses is None else lifetime_misses,
            "uptime_s": 3600, "commands": commands or {}}


def keys(families=None, *, dbsize=None, largest=(), complete=True, keyspace=None, ttl_denied=None, memory_denied=None):
    families = families or {}
    sampled = sum(f["keys"] for f in families.values())
    dbsize = sampled if dbsize is None else dbsize
    return {"db": 0, "dbsize": dbsize,
            "keyspace": keyspace if keyspace is not None else {"keys": dbsize,
                                                               "expires": sum(f["with_ttl"] for f in families.values())},
            "scanned": dbsize if complete else dbsize // 2, "complete": complete,
            "stopped_by": "end" if complete else "time budget", "seconds": 0.2, "total_bytes": 1000,
            "ttl_sampled": sampled, "with_ttl": sum(f["with_ttl"] for f in families.values()),
            "families": families, "largest": list(largest), "memory_samples": 5,
            "memory_usage_denied": memory_denied, "ttl_denied": ttl_denied}


def family(n, with_ttl, nbytes=100):
    return {"keys": n, "with_ttl": with_ttl, "bytes": nbytes * n}


def big(key, kind, nbytes, length):
    return {"key": key, "type": kind, "bytes": nbytes, "length": length, "family": key_family(key)}


def info(**fields):
    base = {"used_memory": 2 * MB, "used_memory_rss": 3 * MB, "mem_fragmentation_ratio": 1.5,
            "maxmemory": 0, "maxmemory_policy": "noeviction", "total_system_memory": 16 * 1024 * MB,
            "used_memory_peak": 2 * MB, "evicted_keys": 0, "uptime_in_seconds": 7200, "total_error_replies": 0,
            "db0": {"keys": 100, "expires": 100, "avg_ttl": 1000}}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def config(denied=None, **values):
    return {"values": {k.replace("_", "-"): v for k, v in values.items()}, "denied": denied}


def latency(p50=0.1, p99=0.3, *, slowlog=None, server=None):
    rt = {"p50": p50, "p90": p99, "p99": p99, "max": p99, "count": 200}
    return {"samples": 200, "probe": "existing key", "ping_ms": rt, "get_ms": rt, "all_ms": rt,
            "slowlog": slowlog if slowlog is not None else {"denied": None, "length": 0, "entries": [], "now": 10_000_000,
                                                            "slower_than_us": 10000},
            "server": server}


# --- cache.hit_rate ------------------------------------------------------------------------

def test_hit_rate_over_the_target_passes():
    out = judge(cache.hit_rate, {"redis.window": window(900, 100, lifetime_hits=50, lifetime_misses=50)})
    assert out.status is Status.PASS and out.score > 0.9
    assert "90% of 1,000 lookups" in out.summary and "lifetime: 50%" in out.summary
    assert out.metrics["window_hit_rate"] == 0.9 and not out.findings


def test_hit_rate_of_55_percent_fails_with_the_window_figures():
    out = judge(cache.hit_rate, {"redis.window": window(550, 450, own=(300, 2))})
    assert out.status is Status.FAIL
    finding = objects(out)["keyspace"]
    assert finding.severity == "fail" and "55% of 1,000 lookups" in finding.message
    assert finding.evidence["misses"] == 450 and out.metrics["own_lookups_excluded"] == 302


def test_hit_rate_between_floor_and_target_warns():
    out = judge(cache.hit_rate, {"redis.window": window(740, 260)})
    assert out.status is Status.WARN and objects(out)["keyspace"].severity == "warn"


def test_no_traffic_in_the_window_is_skipped_not_100_or_0_percent_and_shows_the_lifetime():
    out = judge(cache.hit_rate, {"redis.window": window(3, 1, lifetime_hits=7000, lifetime_misses=3000)})
    assert out.status is Status.SKIP and out.score is None
    assert "no cache traffic" in out.summary and "4 lookups" in out.summary
    assert "lifetime: 70% of 10,000 lookups" in out.summary
    assert out.metrics["lifetime_hit_rate"] == 0.7


def test_no_traffic_ever():
    out = judge(cache.hit_rate, {"redis.window": window(0, 0)})
    assert out.status is Status.SKIP and "no lookups since the stats were last reset" in out.summary


def test_min_lookups_is_a_threshold():
    out = judge(cache.hit_rate, {"redis.window": window(9, 1)}, min_lookups=5)
    assert out.status is Status.PASS


# --- cache.ttl -----------------------------------------------------------------------------

def test_ttl_all_keys_expire():
    out = judge(cache.ttl, {"redis.keys": keys({"user:*": family(500, 500)})})
    assert out.status is Status.PASS and out.score == 1.0 and not out.findings
    assert "100% of all 500 keys have a TTL" in out.summary and "INFO keyspace: 100%" in out.summary


def test_ttl_names_the_family_without_ttls():
    facts = {"redis.keys": keys({"user:*": family(600, 600), "session:*": family(400, 0)}, dbsize=2000,
                                complete=False, keyspace={"keys": 2000, "expires": 1180})}
    out = judge(cache.ttl, facts)
    assert out.status is Status.FAIL
    finding = objects(out)["session:*"]
    assert finding.severity == "fail" and "400 of 400 sampled session:* keys have no TTL" in finding.message
    assert finding.evidence["estimated_keys"] == 800
    assert finding.fix.text == "SET session:<id> <value> EX <seconds>" and finding.fix.applicability.value == "manual"
    assert "user:*" not in objects(out)
    assert "60% of 1,000 sampled keys" in out.summary and "INFO keyspace: 59% of all 2,000 keys" in out.summary


def test_ttl_family_findings_are_never_worse_than_the_check():
    out = judge(cache.ttl, {"redis.keys": keys({"user:*": family(999, 999), "config:*": family(1, 0)})})
    assert out.status is Status.PASS and objects(out)["config:*"].severity == "info"


def test_ttl_ignore_leaves_families_out():
    facts = {"redis.keys": keys({"user:*": family(100, 100), "config:*": family(50, 0)})}
    assert judge(cache.ttl, facts).status is Status.FAIL
    out = judge(cache.ttl, facts, ignore=["config:*"])
    assert out.status is Status.PASS and out.metrics["sampled"] == 100
    only = judge(cache.ttl, facts, ignore=["*"])
    assert only.status is Status.SKIP and "ignored" in only.summary


def test_ttl_empty_database_is_skipped():
    out = judge(cache.ttl, {"redis.keys": keys({})})
    assert out.status is Status.SKIP and "no keys" in out.summary


def test_ttl_denied_is_an_error():
    out = judge(cache.ttl, {"redis.keys": keys({}, dbsize=10, ttl_denied="PTTL is not allowed for this user (NOPERM)")})
    assert out.status is Status.ERROR and "NOPERM" in out.summary


def test_ttl_without_keyspace_cross_check():
    out = judge(cache.ttl, {"redis.keys": keys({"a:*": family(10, 10)}, keyspace={})})
    assert out.status is Status.PASS and "INFO keyspace" not in out.summary


# --- cache.eviction ------------------------------------------------------------------------

def test_noeviction_without_maxmemory_fails():
    out = judge(cache.eviction, {"redis.info": info(), "redis.config": config()})
    assert out.status is Status.FAIL and out.score == 0.0
    finding = objects(out)["maxmemory"]
    assert "no maxmemory and maxmemory-policy noeviction" in finding.message
    assert finding.fix.statements == ("CONFIG SET maxmemory 256mb", "CONFIG SET maxmemory-policy allkeys-lru", "CONFIG REWRITE")
    assert finding.fix.applicability.value == "manual"


def test_a_policy_without_maxmemory_never_applies():
    out = judge(cache.eviction, {"redis.info": info(maxmemory_policy="allkeys-lru"), "redis.config": config()})
    assert out.status is Status.FAIL and out.score == 0.25 and "never applies" in objects(out)["maxmemory"].message


def test_suggested_maxmemory_fits_the_data_and_the_host():
    assert cache.suggest_maxmemory(1024 * MB, 0) == "2gb"
    assert cache.suggest_maxmemory(10 * MB, 0) == "256mb"
    assert cache.suggest_maxmemory(900 * MB, 1024 * MB) == "768mb"


def test_noeviction_with_maxmemory_fails_and_worse_when_full():
    half = judge(cache.eviction, {"redis.info": info(maxmemory=4 * MB), "redis.config": config()})
    assert half.status is Status.FAIL and "maxmemory-policy" in objects(half)
    full = judge(cache.eviction, {"redis.info": info(maxmemory=2 * MB + 1), "redis.config": config()})
    assert full.score < half.score


def test_volatile_policy_with_keys_lacking_ttls_fails():
    facts = {"redis.info": info(maxmemory=64 * MB, maxmemory_policy="volatile-lru",
                                db0={"keys": 1000, "expires": 300}, db1={"keys": 1000, "expires": 700}),
             "redis.config": config()}
    out = judge(cache.eviction, facts)
    assert out.status is Status.FAIL
    assert "50% of the 2,000 keys have none" in objects(out)["maxmemory-policy"].message


def test_volatile_policy_when_every_key_has_a_ttl_passes():
    out = judge(cache.eviction, {"redis.info": info(maxmemory=64 * MB, maxmemory_policy="volatile-ttl"),
                                 "redis.config": config()})
    assert out.status is Status.PASS and not out.findings


def test_allkeys_lru_with_maxmemory_passes_and_allkeys_random_warns():
    good = judge(cache.eviction, {"redis.info": info(maxmemory=64 * MB, maxmemory_policy="allkeys-lru"),
                                  "redis.config": config()})
    assert good.status is Status.PASS and "maxmemory 64.0 MB (3% used), policy allkeys-lru" == good.summary
    rand = judge(cache.eviction, {"redis.info": info(maxmemory=64 * MB, maxmemory_policy="allkeys-random"),
                                  "redis.config": config()})
    assert rand.status is Status.WARN


def test_maxmemory_above_the_hosts_ram_warns():
    out = judge(cache.eviction, {"redis.info": info(maxmemory=32 * 1024 * MB, maxmemory_policy="allkeys-lfu"),
                                 "redis.config": config()})
    assert out.status is Status.WARN and "more than the host's" in objects(out)["maxmemory"].message


def test_oom_errors_and_evictions_are_reported():
    facts = {"redis.info": info(maxmemory=64 * MB, maxmemory_policy="allkeys-lru", evicted_keys=1234,
                                errorstat_OOM={"count": 17}),
             "redis.config": config(), "redis.window": window(10, 10, evicted=56)}
    out = judge(cache.eviction, facts)
    assert out.status is Status.FAIL and "17 commands were refused" in objects(out)["OOM"].message
    evicted = objects(out)["evicted_keys"]
    assert evicted.severity == "info" and "56 in the 1.0 s window" in evicted.message
    assert out.metrics["evicted_in_window"] == 56


def test_config_denied_still_judged_from_info_memory():
    out = judge(cache.eviction, {"redis.info": info(maxmemory=64 * MB, maxmemory_policy="allkeys-lru"),
                                 "redis.config": config("CONFIG GET is not allowed for this user (NOPERM)")})
    assert out.status is Status.PASS and "read from INFO memory: CONFIG GET is not allowed" in out.summary


def test_redis_6_0_without_errorstats_says_oom_errors_are_not_counted():
    facts = {"redis.info": info(maxmemory=64 * MB, maxmemory_policy="noeviction", total_error_replies=None),
             "redis.config": config()}
    out = judge(cache.eviction, facts)
    assert out.metrics["oom_errors"] is None and "OOM errors not counted (INFO errorstats needs Redis 6.2)" in out.summary
    assert "OOM" not in objects(out)
    counted = judge(cache.eviction, {**facts, "redis.info": info(maxmemory=64 * MB, maxmemory_policy="noeviction")})
    assert counted.metrics["oom_errors"] == 0 and "not counted" not in counted.summary


@pytest.mark.parametrize("message", ["this user has no permissions to access one of the keys used as arguments",  # 6, 7.0
                                     "No permissions to access a key"])  # 7.2 on
def test_a_key_denial_is_told_apart_from_a_command_denial_in_every_version(message):
    collector = RedisCollector("redis://127.0.0.1/0", {}, [])
    assert collector._denial("PTTL", redis.exceptions.NoPermissionError(message)) == \
        "this user may not read some keys (NOPERM on PTTL)"
    command = redis.exceptions.NoPermissionError("User app has no permissions to run the 'config|get' command")
    assert collector._denial("CONFIG GET", command) == "CONFIG GET is not allowed for this user (NOPERM)"


def test_old_info_without_maxmemory_falls_back_to_config_or_errors():
    old = info(maxmemory=None, maxmemory_policy=None)
    out = judge(cache.eviction, {"redis.info": old, "redis.config": config(maxmemory="67108864", maxmemory_policy="allkeys-lru")})
    assert out.status is Status.PASS
    denied = judge(cache.eviction, {"redis.info": old, "redis.config": config("CONFIG GET is not allowed for this user (NOPERM)")})
    assert denied.status is Status.ERROR and "NOPERM" in denied.summary


# --- cache.big_keys ------------------------------------------------------------------------

def test_no_big_keys_passes_and_names_the_largest():
    out = judge(cache.big_keys, {"redis.keys": keys({"a:*": family(10, 10)}, largest=[big("a:1", "string", 500, 400)])})
    assert out.status is Status.PASS and "the largest, a:1, is a string of 500 bytes" in out.summary


def test_big_string_and_big_hash_are_named_largest_first():
    largest = [big("big:hash", "hash", 11 * MB, 200_000), big("big:blob", "string", 5 * MB + 64, 5 * MB),
               big("ok:list", "list", 20_000, 900), big("long:list", "list", 30_000, 1001),
               big("mod:json", "ReJSON-RL", 9 * MB, None)]
    out = judge(cache.big_keys, {"redis.keys": keys({"a:*": family(10, 10)}, dbsize=10, largest=largest)})
    assert out.status is Status.FAIL
    found = objects(out)
    assert list(found) == ["big:hash", "big:blob", "long:list"]
    assert "hash of 200,000 fields, 11.0 MB (limit 5,000 fields)" in found["big:hash"].message
    assert "string of 5.0 MB" in found["big:blob"].message and found["big:blob"].severity == "fail"
    assert found["long:list"].severity == "warn" and found["big:hash"].evidence["length"] == 200_000
    assert out.metrics["offenders"] == 3


def test_big_keys_thresholds_and_top_are_configurable():
    largest = [big(f"set:{i}", "set", 50_000, 2000 + i) for i in range(5)]
    facts = {"redis.keys": keys({"set:*": family(5, 5)}, largest=largest)}
    out = judge(cache.big_keys, facts, top=2)
    assert len(out.findings) == 2 and "(and 3 more)" in out.summary
    assert judge(cache.big_keys, facts, max_elements=10_000).status is Status.PASS


def test_stream_and_zset_lengths_count_as_elements():
    largest = [big("s", "stream", 90_000, 5000), big("z", "zset", 90_000, 5000)]
    out = judge(cache.big_keys, {"redis.keys": keys({"x": family(2, 2)}, largest=largest)})
    assert set(objects(out)) == {"s", "z"}


def test_big_keys_on_a_partial_scan_says_how_much_was_seen():
    out = judge(cache.big_keys, {"redis.keys": keys({"a:*": family(10, 10)}, dbsize=1000, complete=False,
                                                    largest=[big("a:1", "string", 200_000, 199_000)])})
    assert "500 of 1,000 keys scanned (stopped by the time budget; raise redis.sample_seconds to scan them all)" in out.summary


def test_big_keys_memory_usage_denied_and_empty():
    out = judge(cache.big_keys, {"redis.keys": keys({}, dbsize=5, memory_denied="MEMORY USAGE is not allowed")})
    assert out.status is Status.ERROR
    assert judge(cache.big_keys, {"redis.keys": keys({})}).status is Status.SKIP


# --- cache.latency -------------------------------------------------------------------------

def test_fast_round_trips_pass():
    out = judge(cache.latency, {"redis.latency": latency()})
    assert out.status is Status.PASS and "p50 0.10 ms, p99 0.30 ms over 200 PING/GET" in out.summary
    assert "0 slowlog entries in the last 24 h" in out.summary


def test_slow_round_trips_are_findings():
    out = judge(cache.latency, {"redis.latency": latency(p50=4, p99=30)})
    assert out.status is Status.FAIL
    assert {"round trip p50", "round trip p99"} <= set(objects(out))


def test_recent_slowlog_entries_are_grouped_by_command_and_old_ones_ignored():
    now = 10_000_000
    entries = ([{"id": i, "start_time": now - 60, "duration_us": 20_000 + i, "command": "HGETALL", "key": "big:hash"}
                for i in range(30)]
               + [{"id": 99, "start_time": now - 3 * 86400, "duration_us": 90_000, "command": "KEYS", "key": "*"}])
    slowlog = {"denied": None, "length": 31, "entries": entries, "now": now, "slower_than_us": 10000}
    out = judge(cache.latency, {"redis.latency": latency(slowlog=slowlog)})
    assert out.metrics["slowlog_recent"] == 30 and "KEYS" not in objects(out)
    finding = objects(out)["HGETALL"]
    assert "30 slowlog entries" in finding.message and "20.0 ms (key big:hash)" in finding.message
    assert out.score < judge(cache.latency, {"redis.latency": latency()}).score
    assert judge(cache.latency, {"redis.latency": latency(slowlog=slowlog)}, slowlog_hours=100).metrics["slowlog_recent"] == 31


def test_slowlog_denied_is_a_note_not_fatal():
    out = judge(cache.latency, {"redis.latency": latency(slowlog={"denied": "SLOWLOG is not allowed for this user (NOPERM)"})})
    assert out.status is Status.PASS and "slowlog not readable" in out.summary
    assert objects(out)["SLOWLOG"].severity == "info"


def test_slowlog_switched_off_is_noted_with_the_setting():
    slowlog = {"denied": None, "length": 0, "entries": [], "now": 1, "slower_than_us": -1}
    finding = objects(judge(cache.latency, {"redis.latency": latency(slowlog=slowlog)}))["slowlog-log-slower-than"]
    assert finding.fix.text == "CONFIG SET slowlog-log-slower-than 10000"


def test_server_side_percentiles_name_slow_commands():
    server = {"KEYS": {"p50": 900.0, "p99": 12_000.0, "p99.9": 15_000.0, "calls": 40},
              "GET": {"p50": 1.0, "p99": 3.0, "p99.9": 5.0, "calls": 10_000}}
    out = judge(cache.latency, {"redis.latency": latency(server=server)})
    assert "p99 12.0 ms inside Redis over 40 calls" in objects(out)["KEYS"].message and "GET" not in objects(out)


# --- cache.memory --------------------------------------------------------------------------

def test_fragmentation_is_ignored_when_little_memory_is_used():
    out = judge(cache.memory, {"redis.info": info(mem_fragmentation_ratio=3.0), "redis.config": config()})
    assert out.status is Status.PASS and out.metrics["fragmentation_judged"] is False
    assert "fragmentation not judged below 5.0 MB used" in out.summary


def test_high_fragmentation_suggests_activedefrag_or_a_restart():
    big_info = info(used_memory=1024 * MB, used_memory_rss=2048 * MB, mem_fragmentation_ratio=2.0,
                    used_memory_peak=1024 * MB)
    out = judge(cache.memory, {"redis.info": big_info, "redis.config": config(activedefrag="no")})
    finding = objects(out)["mem_fragmentation_ratio"]
    assert out.status in (Status.WARN, Status.FAIL) and "fragmentation 2.00" in finding.message
    assert finding.fix.statements[0] == "CONFIG SET activedefrag yes"
    on = judge(cache.memory, {"redis.info": big_info, "redis.config": config(activedefrag="yes")})
    assert "restart" in objects(on)["mem_fragmentation_ratio"].fix.text


def test_resident_below_used_means_swapping():
    out = judge(cache.memory, {"redis.info": info(used_memory=100 * MB, used_memory_rss=60 * MB,
                                                  mem_fragmentation_ratio=0.6, used_memory_peak=100 * MB),
                               "redis.config": config()})
    assert out.status is Status.WARN and "swapped out" in objects(out)["mem_fragmentation_ratio"].message


def test_headroom_matters_unless_the_cache_evicts_all_keys():
    full = dict(used_memory=60 * MB, used_memory_rss=62 * MB, mem_fragmentation_ratio=1.03,
                used_memory_peak=60 * MB, maxmemory=64 * MB)
    noevict = judge(cache.memory, {"redis.info": info(**full, maxmemory_policy="noeviction"), "redis.config": config()})
    assert noevict.status is Status.FAIL and "writes will soon fail" in objects(noevict)["maxmemory"].message
    volatile = judge(cache.memory, {"redis.info": info(**full, maxmemory_policy="volatile-lru"), "redis.config": config()})
    assert volatile.status is Status.FAIL and volatile.score > noevict.score
    lru = judge(cache.memory, {"redis.info": info(**full, maxmemory_policy="allkeys-lru"), "redis.config": config()})
    assert lru.status is Status.PASS and "as a allkeys-lru cache should" in lru.summary


def test_no_maxmemory_and_the_host_nearly_full():
    out = judge(cache.memory, {"redis.info": info(used_memory=15 * 1024 * MB, used_memory_rss=15 * 1024 * MB,
                                                  mem_fragmentation_ratio=1.0, used_memory_peak=15 * 1024 * MB),
                               "redis.config": config()})
    assert out.status is Status.FAIL and "total_system_memory" in objects(out)


def test_memory_on_an_old_server_without_host_ram_and_a_past_peak():
    old = info(total_system_memory=None, used_memory=10 * MB, used_memory_rss=11 * MB, mem_fragmentation_ratio=1.1,
               used_memory_peak=40 * MB)
    out = judge(cache.memory, {"redis.info": old, "redis.config": config("CONFIG GET is disabled")})
    assert out.status is Status.PASS and "the host's RAM unknown" in out.summary
    assert objects(out)["used_memory_peak"].severity == "info"


# --- cache.commands ------------------------------------------------------------------------

def cmdstat(calls, usec_per_call=1.0):
    return {"calls": calls, "usec": int(calls * usec_per_call), "usec_per_call": usec_per_call,
            "rejected_calls": 0, "failed_calls": 0}


def test_clean_commandstats_pass():
    out = judge(cache.commands, {"redis.info": info(cmdstat_get=cmdstat(10_000), cmdstat_set=cmdstat(5_000, 2.0))})
    assert out.status is Status.PASS and "none of FLUSHALL, FLUSHDB, KEYS in use" in out.summary


def test_keys_and_flushall_are_dangerous():
    facts = {"redis.info": info(cmdstat_keys=cmdstat(3, 581.0), cmdstat_flushall=cmdstat(1, 20.0)),
             "redis.window": window(0, 0, commands={"keys": 2})}
    out = judge(cache.commands, facts)
    assert out.status is Status.FAIL and out.score == 0.2
    keys_finding = objects(out)["KEYS"]
    assert "called 3 times in the last 2 h" in keys_finding.message and "2 during the audit" in keys_finding.message
    assert "SCAN" in keys_finding.message and keys_finding.fix.text == "ACL SETUSER <application user> -keys"
    assert "ASYNC" in objects(out)["FLUSHALL"].message
    assert out.metrics["dangerous_in_use"] == ["KEYS", "FLUSHALL"]


def test_slow_commands_warn_and_replication_is_left_out():
    facts = {"redis.info": info(cmdstat_hgetall=cmdstat(100, 2500.0), cmdstat_psync=cmdstat(1, 90_000.0),
                                **{"cmdstat_config|get": cmdstat(2, 10.0)})}
    out = judge(cache.commands, facts)
    assert set(objects(out)) == {"HGETALL"} and out.status is Status.WARN
    assert "2.5 ms a call over 100 calls" in objects(out)["HGETALL"].message


def test_the_dangerous_list_is_a_threshold():
    facts = {"redis.info": info(cmdstat_keys=cmdstat(3), cmdstat_save=cmdstat(1))}
    out = judge(cache.commands, facts, dangerous=["save"])
    assert set(objects(out)) == {"SAVE"}


def test_command_names_show_subcommands():
    assert cache.command_name("config|get") == "CONFIG GET"


# --- the runner's handling of facts that could not be had ------------------------------------

def test_an_unavailable_fact_becomes_the_checks_outcome():
    facts = {"redis.info": Unavailable("INFO failed: permission denied (NOPERM)", Status.ERROR)}
    out = run_judge(cache.commands, facts, cache.commands.meta.thresholds, [])
    assert out.status is Status.ERROR and "NOPERM" in out.summary


# --- collector helpers -----------------------------------------------------------------------

@pytest.mark.parametrize("key, expected", [
    ("user:42", "user:*"), ("session:9f8e7d6c5b4a", "session:*"), ("cache:user:42:posts", "cache:user:*"),
    ("a:b:c:d", "a:b:*"), ("42:x", "*"), ("session_9f8e7d6c", "session_*"), ("counter", "counter"),
    ("page:/home", "page:*"), ("order:123:items", "order:*"),
])
def test_key_family(key, expected):
    assert key_family(key) == expected


def test_percentiles_are_nearest_rank():
    got = percentiles([float(i) for i in range(1, 101)])
    assert (got["p50"], got["p90"], got["p99"], got["max"], got["count"]) == (50.0, 90.0, 99.0, 100.0, 100)
    assert percentiles([]) == {}


@pytest.mark.parametrize("url, db", [("redis://h:6379", 0), ("redis://h:6379/", 0), ("redis://h/3", 3),
                                     ("redis://h/?db=5", 5), ("unix:///tmp/r.sock?db=2", 2)])
def test_database_number(url, db):
    assert database_number(url) == db


def test_bad_database_number():
    with pytest.raises(ValueError, match="whole number"):
        database_number("redis://h/abc")


def test_resp_is_the_redis_wire_format():
    assert resp(b"GET", b"k:1") == b"*2\r\n$3\r\nGET\r\n$3\r\nk:1\r\n"


@pytest.mark.parametrize("exc, url, needle", [
    (redis.AuthenticationError("invalid username-password pair or user is disabled."), "redis://u:s3cret@h/0",
     "wrong username or password"),
    (redis.AuthenticationError("NOAUTH Authentication required."), "redis://h/0", "requires a password"),
    (redis.TimeoutError("Timeout connecting to server"), "rediss://:s3cret@h/0", "is this a TLS port?"),
    (redis.ResponseError("DB index is out of range"), "redis://h/99", "database 99 does not exist"),
    (redis.ConnectionError("Error 111 connecting to h:1. Connection refused."), "redis://h:1/0", "connection refused"),
    (redis.ConnectionError("Connection closed by server."), "redis://h/0", "does it expect TLS?"),
])
def test_connect_errors_are_one_secret_free_line(exc, url, needle):
    message = describe_connect_error(url, exc, 5)
    assert needle in message and "\n" not in message and "s3cret" not in message
    assert message.startswith("redis: cannot connect to ")


def test_the_fast_templates_are_the_same_wire_format():
    from perfcheck.collectors.redis import PTTL_TEMPLATE, memory_usage_template

    key = b"user:\xff 42"
    assert memory_usage_template(5) % (len(key), key) == resp(b"MEMORY", b"USAGE", key, b"SAMPLES", b"5")
    assert memory_usage_template(12) % (len(key), key) == resp(b"MEMORY", b"USAGE", key, b"SAMPLES", b"12")
    assert PTTL_TEMPLATE % (len(key), key) == resp(b"PTTL", key)


def test_keys_a_restricted_user_may_not_read_are_counted_not_hidden():
    facts = keys({"user:*": family(30, 30)}, dbsize=60, largest=[big("user:1", "string", 60, 1)])
    facts.update(ttl_denied="this user may not read some keys (NOPERM on PTTL)", ttl_denied_keys=30,
                 memory_usage_denied="this user may not read some keys (NOPERM on MEMORY USAGE)", memory_denied_keys=30)
    ttl_out = judge(cache.ttl, {"redis.keys": facts})
    assert ttl_out.status is Status.PASS and "30 keys not read: this user may not read some keys" in ttl_out.summary
    big_out = judge(cache.big_keys, {"redis.keys": facts})
    assert big_out.status is Status.PASS and big_out.metrics["unreadable_keys"] == 30
    assert "30 keys not read" in big_out.summary
