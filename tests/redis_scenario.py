"""The Redis cache scenario shared by the cache tests: the planted problems of the issue,
and what the audit may send (anything else in commandstats would mean it wrote)."""

from __future__ import annotations

import redis

CACHE_CHECKS = ["cache.hit_rate", "cache.ttl", "cache.eviction", "cache.big_keys", "cache.latency",
                "cache.memory", "cache.commands"]
# Everything the audit may send, as Redis 7 names it in commandstats.
READ_ONLY = {"info", "config|get", "slowlog|get", "slowlog|len", "dbsize", "scan", "memory|usage", "pttl", "type",
             "strlen", "hlen", "llen", "scard", "zcard", "xlen", "ping", "get", "randomkey", "time", "hello",
             "auth", "select", "client|setname", "client|setinfo",
             # the key scan inside Redis (Redis 7): a cached script run read-only, and the
             # SCAN/MEMORY USAGE/PTTL/TIME it calls (counted under their own names too)
             "script|load", "evalsha_ro"}
# Redis 6 counts container commands without their subcommand (`config`, not `config|get`).
READ_ONLY_REDIS_6 = READ_ONLY | {"config", "slowlog", "memory", "client"}


def commandstats(client: redis.Redis) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): stat["calls"] for name, stat in client.info("commandstats").items()}


def plant_problems(r: redis.Redis, *, blob_bytes: int, hash_fields: int) -> None:
    """user:* keys with TTLs, session:* keys without, a big string, a big hash, KEYS in use."""
    pipe = r.pipeline(transaction=False)
    for i in range(300):
        pipe.set(f"user:{i}", "x" * 100, ex=3600)
    for i in range(200):
        pipe.set(f"session:{i:08x}", "s" * 40)  # no TTL
    pipe.execute()
    r.set("blob:report", b"z" * blob_bytes)
    for start in range(0, hash_fields, 20_000):
        r.hset("big:hash", mapping={f"field:{i}": i for i in range(start, min(start + 20_000, hash_fields))})
    r.keys("user:*")  # the application "uses" KEYS
