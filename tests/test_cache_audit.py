"""The cache checks end to end: `perfcheck audit --redis URL` against real redis-server
processes the tests start (fresh ones where a case needs its own settings), with
traffic from a bounded background thread while the audit's hit-rate window is open."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from contextlib import contextmanager

import pytest
import redis

from redis_scenario import CACHE_CHECKS, READ_ONLY, commandstats, plant_problems
from helpers import category, check, perfcheck
from perfcheck.demo.sandbox import RedisServer, free_port


@pytest.fixture
def new_redis(redis_server):
    """Start fresh servers with the given extra arguments; all stopped at the end."""
    started = []

    def start(*args: str, port: int = 0) -> RedisServer:
        server = RedisServer(port=port, args=list(args)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def config_file(tmp_path, text: str) -> str:
    path = tmp_path / "perfcheck.yaml"
    path.write_text(text)
    return str(path)


@contextmanager
def traffic(url: str, hits: int, misses: int, *, max_requests: int = 100_000, max_seconds: float = 30):
    """GETs in a fixed pattern (hits existing keys, misses absent ones) until the block
    ends: bounded in requests and seconds, ~4,000 lookups a second."""
    stop = threading.Event()
    done = {"lookups": 0}

    def run() -> None:
        client = redis.Redis.from_url(url)
        pattern = ["user:1"] * hits + ["absent:1"] * misses
        deadline = time.monotonic() + max_seconds
        while not stop.is_set() and done["lookups"] < max_requests and time.monotonic() < deadline:
            pipe = client.pipeline(transaction=False)
            for key in pattern:
                pipe.get(key)
            pipe.execute()
            done["lookups"] += len(pattern)
            time.sleep(0.005)
        client.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        time.sleep(0.1)
        yield done
    finally:
        stop.set()
        thread.join(10)


def audit_json(url: str, *args: str, env: dict | None = None):
    run = perfcheck("audit", "--redis", url, "--only", "cache", "--format", "json", *args, env=env)
    assert run.code == 0, (run.code, run.err)
    return run


def one_line_error(run, *needles):
    assert run.code == 2, (run.code, run.out, run.err)
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("perfcheck: error:"), run.err
    assert "Traceback" not in run.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --- the two scenarios of the issue ---------------------------------------------------------

def test_planted_problems_are_each_reported_and_the_audit_only_reads(new_redis):
    server = new_redis()  # the defaults: noeviction, no maxmemory
    r = redis.Redis(port=server.port)
    plant_problems(r, blob_bytes=5 * 1024 * 1024, hash_fields=200_000)
    before_size, before_stats = r.dbsize(), commandstats(r)

    with traffic(server.url, hits=11, misses=9) as load:
        run = audit_json(server.url)
    report = run.json
    assert load["lookups"] > 1000

    hit = check(report, "cache.hit_rate")
    assert hit["status"] == "fail" and abs(hit["metrics"]["window_hit_rate"] - 0.55) < 0.03, hit
    assert [f["object"] for f in hit["findings"]] == ["keyspace"]

    ttl = check(report, "cache.ttl")
    assert ttl["status"] in ("fail", "warn")
    ttl_objects = [f["object"] for f in ttl["findings"]]
    assert ttl_objects[0] == "session:*" and "user:*" not in ttl_objects
    assert next(f for f in ttl["findings"] if f["object"] == "session:*")["evidence"]["with_ttl"] == 0

    eviction = check(report, "cache.eviction")
    assert eviction["status"] == "fail" and [f["object"] for f in eviction["findings"]] == ["maxmemory"]
    assert "CONFIG SET maxmemory-policy allkeys-lru" in eviction["findings"][0]["fix"]

    big = check(report, "cache.big_keys")
    assert big["status"] == "fail"
    by_object = {f["object"]: f for f in big["findings"]}
    assert set(by_object) == {"big:hash", "blob:report"}
    assert by_object["big:hash"]["evidence"]["length"] == 200_000
    assert by_object["blob:report"]["evidence"]["length"] == 5 * 1024 * 1024

    commands = check(report, "cache.commands")
    assert commands["status"] == "fail" and "KEYS" in [f["object"] for f in commands["findings"]]

    assert category(report, "cache")["score"] < 50

    # Read only: nothing but read commands were sent, the keys and their TTLs are as they were.
    sent = {name for name, calls in commandstats(r).items() if calls > before_stats.get(name, 0)}
    assert sent <= READ_ONLY, sent - READ_ONLY
    assert r.dbsize() == before_size and r.ttl("session:00000000") == -1 and r.strlen("blob:report") == 5 * 1024 * 1024


def test_a_healthy_cache_passes(new_redis, tmp_path):
    server = new_redis("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    r = redis.Redis(port=server.port)
    pipe = r.pipeline(transaction=False)
    for i in range(300):
        pipe.set(f"user:{i}", "x" * 100, ex=3600)
        pipe.hset(f"product:{i}", mapping={"name": f"p{i}", "price": i})
        pipe.expire(f"product:{i}", 600)
    pipe.execute()
    # Loopback round trips on a busy 2-core CI box have millisecond outliers; this case is
    # about the other checks, so its latency target is lenient.
    config = config_file(tmp_path, "checks:\n  cache.latency:\n"
                                   "    thresholds: {p99_ms: 20, p50_ms: 5}\n")
    with traffic(server.url, hits=9, misses=1):
        report = audit_json(server.url, "--config", config).json
    for check_id in CACHE_CHECKS:
        result = check(report, check_id)
        assert result["status"] == "pass", result
    assert abs(check(report, "cache.hit_rate")["metrics"]["window_hit_rate"] - 0.9) < 0.03
    assert check(report, "cache.ttl")["metrics"]["ttl_share"] == 1.0
    assert category(report, "cache")["score"] >= 90


def test_no_traffic_in_the_window_is_said_not_scored(redis_server, tmp_path):
    r = redis.Redis(port=redis_server.port, db=3)
    r.set("user:1", "x", ex=60)
    report = audit_json(redis_server.url.replace("/0", "/3"), "--only", "cache.hit_rate", "--config",
                        config_file(tmp_path, "redis: {window_s: 0.3}\n")).json
    hit = check(report, "cache.hit_rate")
    assert hit["status"] == "skip" and "no cache traffic to judge" in hit["summary"] and "lifetime" in hit["summary"]


# --- restricted users ---------------------------------------------------------------------------

@pytest.fixture
def acl_server(new_redis):
    server = new_redis()
    admin = redis.Redis(port=server.port)
    admin.execute_command("ACL", "SETUSER", "auditor", "on", ">s3cret-pw", "~*", "&*", "+@all", "-config", "-slowlog")
    admin.execute_command("ACL", "SETUSER", "blind", "on", ">s3cret-pw", "~*", "&*", "+@all", "-info")
    admin.execute_command("ACL", "SETUSER", "app", "on", ">s3cret-pw", "~user:*", "&*", "+@all")
    for i in range(50):
        admin.set(f"user:{i}", "x", ex=600)
        admin.set(f"other:{i}", "y", ex=600)
    return server


def test_a_user_without_config_or_slowlog_still_gets_the_other_checks(acl_server):
    url = f"redis://auditor:s3cret-pw@127.0.0.1:{acl_server.port}/0"
    run = audit_json(url)
    assert "s3cret-pw" not in run.out + run.err
    report = run.json
    eviction = check(report, "cache.eviction")
    assert eviction["status"] == "fail" and "CONFIG GET is not allowed for this user (NOPERM)" in eviction["summary"]
    latency = check(report, "cache.latency")
    assert latency["status"] in ("pass", "warn") and "slowlog not readable" in latency["summary"]
    assert {"SLOWLOG"} <= {f["object"] for f in latency["findings"]}
    for check_id in ("cache.ttl", "cache.big_keys", "cache.memory", "cache.commands"):
        assert check(report, check_id)["status"] in ("pass", "warn", "fail"), check(report, check_id)
    assert report["targets"]["redis"] == f"redis://auditor:***@127.0.0.1:{acl_server.port}/0"


def test_a_user_without_info_gets_errors_with_the_reason_and_the_key_checks(acl_server):
    report = audit_json(f"redis://blind:s3cret-pw@127.0.0.1:{acl_server.port}/0").json
    for check_id in ("cache.hit_rate", "cache.eviction", "cache.memory", "cache.commands"):
        result = check(report, check_id)
        assert result["status"] == "error" and "NOPERM" in result["summary"], result
    assert check(report, "cache.ttl")["status"] == "pass"
    assert check(report, "cache.big_keys")["status"] == "pass"
    assert check(report, "cache.latency")["status"] in ("pass", "warn")


def test_a_user_limited_to_some_keys_is_told_how_many_were_not_read(acl_server):
    report = audit_json(f"redis://app:s3cret-pw@127.0.0.1:{acl_server.port}/0", "--only", "cache.ttl",
                        "--only", "cache.big_keys").json
    for check_id in ("cache.ttl", "cache.big_keys"):
        result = check(report, check_id)
        assert result["status"] == "pass" and "50 keys not read: this user may not read some keys" in result["summary"]
        assert result["metrics"]["unreadable_keys"] == 50


def test_a_unix_socket_url(new_redis, tmp_path):
    socket = tmp_path / "redis.sock"
    new_redis("--unixsocket", str(socket), "--unixsocketperm", "700")
    report = audit_json(f"unix://{socket}?db=0", "--only", "cache.eviction").json
    assert check(report, "cache.eviction")["status"] == "fail"


# --- TLS ------------------------------------------------------------------------------------------

@pytest.fixture
def tls_server(new_redis, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = free_port()
    server = new_redis("--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                       "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", port=port)
    return port, cert


def test_rediss_audits_a_tls_server_and_refuses_an_unverified_certificate(tls_server):
    port, cert = tls_server
    report = audit_json(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}", "--only", "cache.eviction").json
    assert check(report, "cache.eviction")["status"] == "fail"  # judged: the TLS session worked
    one_line_error(perfcheck("audit", "--redis", f"rediss://127.0.0.1:{port}/0", "--only", "cache"),
                   "TLS handshake failed", "certificate verify failed")


# --- bad input --------------------------------------------------------------------------------------

def test_unreachable_redis_alone_is_exit_2():
    one_line_error(perfcheck("audit", "--redis", f"redis://127.0.0.1:{free_port()}/0", "--only", "cache"),
                   "redis: cannot connect", "connection refused")


def test_wrong_password_is_exit_2_and_secret_free(acl_server):
    run = perfcheck("audit", "--redis", f"redis://auditor:not-the-pw@127.0.0.1:{acl_server.port}/0", "--only", "cache")
    line = one_line_error(run, "wrong username or password", "auditor:***@")
    assert "not-the-pw" not in line + run.out


def test_tls_to_a_plain_port_is_exit_2(redis_server, tmp_path):
    run = perfcheck("audit", "--redis", f"rediss://127.0.0.1:{redis_server.port}/0", "--only", "cache",
                    "--config", config_file(tmp_path, "redis: {connect_timeout_s: 0.5}\n"))
    one_line_error(run, "is this a TLS port?")


@pytest.mark.parametrize("suffix, needle", [("/abc", "whole number"), ("/99", "database 99 does not exist"),
                                            ("/0?bogus=1", "unknown URL parameter 'bogus'")])
def test_bad_database_number_or_parameter_is_exit_2(redis_server, suffix, needle):
    url = f"redis://127.0.0.1:{redis_server.port}{suffix}"
    one_line_error(perfcheck("audit", "--redis", url, "--only", "cache"), needle)


def test_bad_scheme_is_exit_2(redis_server):
    one_line_error(perfcheck("audit", "--redis", f"http://127.0.0.1:{redis_server.port}/0"), "must start with redis://")


def test_with_a_database_too_the_cache_checks_error_and_the_audit_goes_on(database):
    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    run = perfcheck("audit", "--db", database.url, "--redis", url, "--only", "cache", "--only", "db.timeouts",
                    "--format", "json")
    assert run.code == 0, run.err
    report = run.json
    for check_id in CACHE_CHECKS:
        result = check(report, check_id)
        assert result["status"] == "error" and "connection refused" in result["summary"], result
    assert check(report, "db.timeouts")["status"] in ("pass", "warn", "fail")
    assert any("redis: cannot connect" in line for line in report["errors"])
    assert category(report, "cache")["score"] is None
