"""The big-key scan on real redis-server processes: a planted keyspace of small keys with
big ones of every type anywhere in it, scanned whole with the default settings, from a
random cursor (wrapping round), cut short by a budget (the share seen is said), keys
whose names hold CRLF and NUL bytes, and a three-primary Redis Cluster (every primary
scanned). Small keyspaces keep it quick; the million-key run is benchmarks/redis_scale.py."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
import redis

from helpers import check, perfcheck
from perfcheck.collectors import redis as redis_collector
from perfcheck.collectors.redis import RawReplies, RedisCollector, rev64, show_key
from perfcheck.demo.sandbox import RedisServer, free_port

SMALL_KEYS = 20_000
ODD_KEY = b"odd\r\nkey\x00\xff"


def plant(client: redis.Redis, small: int = SMALL_KEYS) -> dict[bytes, int]:
    """Small strings and hashes, plus 20 big keys of every type; returns the big keys' MEMORY USAGE."""
    pipe = client.pipeline(transaction=False)
    for i in range(small):
        if i % 4:
            pipe.set(f"user:{i}", b"v" * 40)
        else:
            pipe.hset(f"profile:{i}", mapping={"a": 1, "b": 2})
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    for i in range(5):
        client.set(f"blob:{i}", b"x" * (60_000 + 20_000 * i))
        client.hset(f"catalog:{i}", mapping={f"f{n}": n for n in range(2_000 + 500 * i)})
        client.rpush(f"queue:{i}", *[b"item-%d" % n for n in range(3_000 + 500 * i)])
        client.zadd(f"board:{i}", {f"m{n}": n for n in range(1_500 + 300 * i)})
    client.set(ODD_KEY, b"y" * 200_000)
    big = [k for k in client.scan_iter(count=1000) if not k.startswith((b"user:", b"profile:"))]
    return {key: client.memory_usage(key) for key in big}


def top(sizes: dict[bytes, int], n: int = 20) -> set[str]:
    return {show_key(key) for key in sorted(sizes, key=sizes.get, reverse=True)[:n]}


def scan(url: str, **options) -> dict:
    collector = RedisCollector(url, options, [])
    collector.open()
    try:
        return collector.fact("redis.keys")
    finally:
        collector.close()


def named(fact: dict) -> set[str]:
    return {item["key"] for item in fact["largest"]}


@pytest.fixture(scope="module")
def planted(redis_server):
    client = redis.Redis(port=redis_server.port, db=3)
    client.flushdb()
    sizes = plant(client)
    yield redis_server.url.rsplit("/", 1)[0] + "/3", sizes
    client.flushdb()


def test_a_default_scan_reads_every_key_and_names_the_20_largest(planted, redis_server):
    url, sizes = planted
    before = redis.Redis(port=redis_server.port).info("commandstats")
    fact = scan(url)
    assert fact["complete"] and fact["stopped_by"] == "end" and fact["share_seen"] == 1.0
    assert fact["scanned"] == fact["dbsize"] == SMALL_KEYS + len(sizes) and fact["sized_keys"] == fact["dbsize"]
    assert top(sizes) <= named(fact)
    assert fact["largest"][0]["bytes"] == max(sizes.values())
    odd = next(item for item in fact["largest"] if item["key"] == show_key(ODD_KEY))
    assert odd["type"] == "string" and odd["length"] == 200_000 and odd["bytes"] == sizes[ODD_KEY]
    after = redis.Redis(port=redis_server.port).info("commandstats")
    assert "cmdstat_keys" not in after or after["cmdstat_keys"] == before.get("cmdstat_keys")
    assert after["cmdstat_scan"]["calls"] - before.get("cmdstat_scan", {"calls": 0})["calls"] >= SMALL_KEYS // 500


# The script, with one walk (the TTL sample is half the keys) or two (the second from halfway
# round, once a small TTL sample is taken), or per key.
@pytest.mark.parametrize("inside, ttl_sample_keys", [(True, 10_000), (True, 100), (False, 100)])
def test_a_scan_from_a_random_cursor_wraps_round_and_sees_every_key_once(planted, monkeypatch, inside,
                                                                         ttl_sample_keys):
    url, sizes = planted
    monkeypatch.setattr(redis_collector, "RANDOM_START_MIN_KEYS", 0)
    monkeypatch.setattr(redis_collector, "USE_SCRIPT", inside)
    for seed in (1, 2, 3, 4, 5):
        random.seed(seed)
        fact = scan(url, largest_keys=64, ttl_sample_keys=ttl_sample_keys)
        assert fact["ttl_sampled"] == ttl_sample_keys
        assert fact["complete"] and fact["share_seen"] == 1.0
        assert fact["scanned"] == fact["sized_keys"] == fact["dbsize"]  # the walks end exactly where they must
        assert top(sizes) <= named(fact)
        assert len({item["key"] for item in fact["largest"]}) == len(fact["largest"]) == 64  # no key twice


def test_a_scan_cut_short_says_what_share_it_saw_and_starts_somewhere_else_each_time(planted, monkeypatch):
    url, _ = planted
    monkeypatch.setattr(redis_collector, "RANDOM_START_MIN_KEYS", 0)
    seen = []
    for seed in (1, 2):
        random.seed(seed)
        fact = scan(url, sample_keys=4_000)
        assert not fact["complete"] and fact["stopped_by"] == "key budget" and fact["scanned"] == 4_000
        assert 0.05 < fact["share_seen"] < 0.5 and abs(fact["share_seen"] - 4_000 / fact["dbsize"]) < 0.1
        seen.append({item["key"] for item in fact["largest"]})
    assert seen[0] != seen[1]


def test_two_walks_in_flight_stop_exactly_at_the_key_budget(planted, monkeypatch):
    url, _ = planted
    monkeypatch.setattr(redis_collector, "RANDOM_START_MIN_KEYS", 0)
    monkeypatch.setattr(redis_collector, "SCRIPT_SPLIT_MARGIN_KEYS", 1_000)  # two walks early, one call near the end
    for seed in (1, 2, 3):
        random.seed(seed)
        fact = scan(url, sample_keys=15_000, ttl_sample_keys=100)
        assert fact["stopped_by"] == "key budget" and fact["scanned"] == fact["sized_keys"] == 15_000
        assert fact["ttl_sampled"] == 100 and abs(fact["share_seen"] - 15_000 / fact["dbsize"]) < 0.1


def test_the_big_keys_summary_gives_the_share_of_the_keyspace_seen(planted, tmp_path):
    url, _ = planted
    config = tmp_path / "perfcheck.yaml"
    config.write_text("redis: {sample_keys: 3000}\n")
    run = perfcheck("audit", "--redis", url, "--only", "cache.big_keys", "--format", "json", "--config", str(config))
    big = check(run.json, "cache.big_keys")
    assert "3,000 of 20,021 keys scanned (stopped by the key budget; raise redis.sample_keys to scan them all)" \
        in big["summary"] and "of the keyspace seen" in big["summary"]
    assert big["metrics"]["share_seen"] < 1 and big["metrics"]["nodes"] == 1


def scan_counted(url: str, port: int, **options) -> tuple[dict, dict[str, int], dict[str, int]]:
    """The scan's fact, perfcheck's own lookups, and the server's: keyspace hits/misses and
    the calls of each command while the scan ran."""
    admin = redis.Redis(port=port)
    collector = RedisCollector(url, options, [])
    collector.open()
    try:
        before, calls = admin.info("stats"), admin.info("commandstats")
        own = dict(collector.own)
        fact = collector.fact("redis.keys")
        after, calls_after = admin.info("stats"), admin.info("commandstats")
    finally:
        collector.close()
    counted = {k: collector.own[k] - own[k] for k in ("hits", "misses")}
    server = {"hits": after["keyspace_hits"] - before["keyspace_hits"],
              "misses": after["keyspace_misses"] - before["keyspace_misses"]}
    server.update({name.removeprefix("cmdstat_"): stat["calls"] - calls.get(name, {"calls": 0})["calls"]
                   for name, stat in calls_after.items()})
    return fact, counted, server


def test_the_scan_inside_redis_and_the_per_key_scan_find_the_same(planted, redis_server, monkeypatch):
    url, sizes = planted
    inside, own_inside, server_inside = scan_counted(url, redis_server.port)
    monkeypatch.setattr(redis_collector, "USE_SCRIPT", False)
    per_key, own_per_key, server_per_key = scan_counted(url, redis_server.port)
    assert server_inside.get("evalsha_ro", 0) >= 1 and server_per_key.get("evalsha_ro", 0) == 0
    assert server_inside["memory|usage"] >= SMALL_KEYS  # the script's own calls are counted as such
    for fact in (inside, per_key):
        assert fact["complete"] and fact["scanned"] == fact["sized_keys"] == fact["dbsize"]
        assert top(sizes) <= named(fact) and fact["ttl_sampled"] == 10_000
    assert [i["key"] for i in inside["largest"][:20]] == [i["key"] for i in per_key["largest"][:20]]
    assert inside["families"].keys() == per_key["families"].keys()
    assert abs(inside["total_bytes"] - per_key["total_bytes"]) < 0.01 * per_key["total_bytes"]
    # perfcheck's own lookups (PTTL, TYPE, lengths) are exactly what Redis counted: the hit rate stays the app's
    assert own_inside == {k: server_inside[k] for k in ("hits", "misses")} == own_per_key
    assert own_per_key == {k: server_per_key[k] for k in ("hits", "misses")}


@pytest.fixture
def restricted(planted, redis_server):
    """Users without scripting, without EVALSHA_RO, and limited to some keys (Redis 7's ACLs)."""
    url, sizes = planted
    admin = redis.Redis(port=redis_server.port)
    if int(admin.info("server")["redis_version"].split(".")[0]) < 7:
        pytest.skip("EVALSHA_RO is Redis 7's")
    users = {"noscripts": ["~*", "+@all", "-@scripting"], "noevalro": ["~*", "+@all", "-evalsha_ro"],
             "someusers": ["~user:*", "~profile:*", "+@all"]}
    for name, rules in users.items():
        admin.execute_command("ACL", "SETUSER", name, "on", ">pw", *rules)
    port = redis_server.port
    yield {name: f"redis://{name}:pw@127.0.0.1:{port}/3" for name in users}, sizes
    for name in users:
        admin.execute_command("ACL", "DELUSER", name)


def test_a_user_who_may_not_run_the_script_gets_the_per_key_scan(restricted, redis_server):
    urls, sizes = restricted
    for user in ("noscripts", "noevalro"):
        fact, own, server = scan_counted(urls[user], redis_server.port)
        assert fact["complete"] and fact["scanned"] == fact["sized_keys"] == fact["dbsize"], user
        assert top(sizes) <= named(fact) and fact["memory_usage_denied"] is None
        assert own == {k: server[k] for k in ("hits", "misses")}
        assert server["memory|usage"] >= SMALL_KEYS and server["scan"] >= SMALL_KEYS // 100


# The denial within the TTL sample (pcall), in a call that took the last of it, or past it (call).
@pytest.mark.parametrize("ttl_sample_keys", [10_000, 50, 0])
def test_a_user_limited_to_some_keys_falls_back_mid_scan_and_counts_every_lookup(restricted, redis_server,
                                                                                 ttl_sample_keys):
    urls, sizes = restricted
    fact, own, server = scan_counted(urls["someusers"], redis_server.port, ttl_sample_keys=ttl_sample_keys)
    assert server.get("evalsha_ro", 0) >= 1  # the script ran until its first key this user may not read
    assert fact["complete"] and fact["memory_denied_keys"] == len(sizes)  # the big keys are none of user:*, profile:*
    assert fact["sized_keys"] == fact["dbsize"] - len(sizes)
    assert "may not read some keys" in fact["memory_usage_denied"]
    assert own == {k: server[k] for k in ("hits", "misses")}  # the failing step's lookups too


def test_raw_replies_read_binary_keys_and_one_line_replies_split_anywhere():
    class Trickle:  # hands the bytes over a few at a time, as a slow network would
        def __init__(self, data: bytes) -> None:
            self.data = data

        def recv(self, _size: int) -> bytes:
            chunk, self.data = self.data[:3], self.data[3:]
            return chunk

    keys = [ODD_KEY, b"", b"user:1", b"\r\n"]
    scan_reply = b"*2\r\n$2\r\n17\r\n*%d\r\n" % len(keys) + b"".join(b"$%d\r\n%b\r\n" % (len(k), k) for k in keys)
    reader = RawReplies(Trickle(scan_reply + b":120\r\n$-1\r\n-NOPERM no\r\n"))
    assert reader.scan_reply() == (17, keys)
    first, gone, denied = reader.lines(3)
    assert first == b":120" and redis_collector.parse_line(gone) is None
    assert isinstance(redis_collector.parse_line(denied), redis.exceptions.NoPermissionError)
    assert rev64(1) == 2 ** 63 and rev64(0) == 0 and rev64(2 ** 64 - 1) == 2 ** 64 - 1


@pytest.fixture
def cluster():
    if not shutil.which("redis-cli"):
        pytest.skip("redis-cli is not installed")
    servers = [RedisServer(args=["--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
                                 "--cluster-port", str(free_port())]) for _ in range(3)]
    try:
        for server in servers:
            server.start()
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{s.port}" for s in servers],
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        client = redis.RedisCluster(host="127.0.0.1", port=servers[0].port)
        yield servers, client
        client.close()
    finally:
        for server in servers:
            server.stop()


def test_a_cluster_has_every_primary_scanned(cluster):
    servers, client = cluster
    for _ in range(100):  # the cluster may need a moment before every slot is served
        try:
            client.set("probe", b"1")
            break
        except redis.RedisError:
            subprocess.run(["sleep", "0.1"])
    sizes = {}
    for i in range(12):
        key = f"big:{i}"
        client.set(key, b"z" * (20_000 + 5_000 * i))
        sizes[key.encode()] = client.memory_usage(key)
    for start in range(0, 3_000, 500):
        client.mset_nonatomic({f"small:{n}": b"s" for n in range(start, start + 500)})
    fact = scan(f"redis://127.0.0.1:{servers[0].port}/0")
    assert fact["nodes"] == 3 and fact["complete"]
    assert fact["dbsize"] == fact["scanned"] == 3_000 + 12 + 1
    assert {show_key(key) for key in sizes} <= named(fact)
    assert [item["bytes"] for item in fact["largest"]] == sorted((item["bytes"] for item in fact["largest"]), reverse=True)
