"""The Redis collector: one connection, read-only commands, every key sampled once.

What the audit sends never changes the data: INFO, CONFIG GET, SLOWLOG GET, DBSIZE,
SCAN (with COUNT, never KEYS), MEMORY USAGE, PTTL, TYPE and collection lengths, PING and
GET. Two side effects cannot be avoided and are accounted for:

* PTTL, TYPE, GET and the length commands are key lookups, so Redis counts them in
  keyspace_hits/misses. perfcheck counts its own lookups and subtracts them from the
  hit-rate window (exactly, since the window opens before the first and closes after the
  last). MEMORY USAGE and SCAN do not count, so sizes come from MEMORY USAGE for every
  scanned key while TTLs are read only for a smaller sample.
* Reading an already expired key makes Redis reclaim it (lazy expiry), as any read does.

The per-key batches are written as raw RESP on one connection, one bytes format a key:
redis-py's pipeline spends ~7 µs a command in Python, several times what Redis spends,
and the 1,000,000-key benchmark (benchmarks/redis_scale.py) needs the difference.
"""

from __future__ import annotations

import gc
import heapq
import math
import re
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoPermissionError
from redis.retry import Retry

from perfcheck.model import Status
from perfcheck.redact import redact_url, scrub, secrets_in_url
from perfcheck.collectors import Collector, FactUnavailable, TargetError

# Settings read with CONFIG GET when allowed; cache.eviction reads the two maxmemory
# values from INFO memory first, so a user without CONFIG still gets that check.
CONFIG_PARAMS = ("maxmemory", "maxmemory-policy", "activedefrag", "slowlog-log-slower-than",
                 "slowlog-max-len", "latency-tracking")
COMMAND_TIMEOUT_S = 10  # a single reply; a batch of 1,000 MEMORY USAGE answers in about a millisecond
SCAN_COUNT = 1000  # keys asked of each SCAN: few round trips, each one short for the server
MAX_FAMILIES = 500  # distinct key families tracked; beyond this they count under "(other)"
SLOWLOG_ENTRIES = 128  # the server's default slowlog-max-len
LENGTH_COMMANDS = {"string": b"STRLEN", "hash": b"HLEN", "list": b"LLEN", "set": b"SCARD",
                   "zset": b"ZCARD", "stream": b"XLEN"}
OWN_CLIENT_NAME = "perfcheck"
_ID_SEGMENT = re.compile(r"^(?:\d+|[0-9a-fA-F-]{8,}|[A-Za-z0-9_-]{20,})$")
_ID_RUN = re.compile(r"[0-9a-fA-F]{8,}|\d+")
_KEY_DENIED = re.compile(r"access (?:one of the keys|a key\b|the '.*' key)")


# --- connecting ------------------------------------------------------------------------

def database_number(url: str) -> int:
    """The db number from the URL path or ?db=; a bad one is a one-line ValueError."""
    parts = urlsplit(url)
    raw = parse_qs(parts.query).get("db", [""])[0] or (parts.path.strip("/") if parts.scheme != "unix" else "")
    if raw == "":
        return 0
    if not raw.isdigit():
        raise ValueError(f"the database number must be a whole number, not {raw!r}")
    return int(raw)


def connect(url: str, options: dict[str, Any]) -> redis.Redis:
    """A client that has answered PING; raises TargetError (one line, no secrets).

    The first connection (TCP, TLS handshake, AUTH, SELECT) is bounded by connect_timeout_s;
    the client handed back allows COMMAND_TIMEOUT_S for a reply."""
    timeout = float(options.get("connect_timeout_s", 5))
    try:
        database_number(url)
        probe = _client(url, timeout, timeout)
    except ValueError as exc:
        raise TargetError(scrub(f"redis: bad URL {redact_url(url)}: {exc}", secrets_in_url(url))) from None
    try:
        probe.ping()
    except NoPermissionError:
        pass  # connected and logged in; this user just may not PING
    except (redis.RedisError, OSError) as exc:
        raise TargetError(describe_connect_error(url, exc, timeout)) from None
    except (TypeError, ValueError) as exc:  # redis-py passes unknown ?name=value on as keyword arguments
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        reason = f"unknown URL parameter {unknown.group(1)!r}" if unknown else str(exc)
        raise TargetError(scrub(f"redis: bad URL {redact_url(url)}: {reason}", secrets_in_url(url))) from None
    finally:
        probe.close()
    client = _client(url, timeout, max(timeout, COMMAND_TIMEOUT_S))
    try:
        client.client_setname(OWN_CLIENT_NAME)  # recognisable in CLIENT LIST and the slowlog
    except NoPermissionError:
        pass
    except (redis.RedisError, OSError) as exc:
        client.close()
        raise TargetError(describe_connect_error(url, exc, timeout)) from None
    return client


def _client(url: str, connect_timeout: float, reply_timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=reply_timeout,
                                retry=Retry(NoBackoff(), 0), decode_responses=False)


def describe_connect_error(url: str, exc: BaseException, timeout: float) -> str:
    message = " ".join(str(exc).split()) or type(exc).__name__
    tls = urlsplit(url).scheme == "rediss"
    if isinstance(exc, redis.AuthenticationError):
        if "invalid username-password" in message or "WRONGPASS" in message:
            reason = "wrong username or password"
        elif "NOAUTH" in message or "authenticated" in message or "Authentication required" in message:
            reason = "the server requires a password (redis://[USER]:PASSWORD@HOST)"
        else:
            reason = f"login refused: {message}"
    elif isinstance(exc, redis.TimeoutError):
        reason = f"no answer within {timeout:g} s"
        if tls:
            reason += " (is this a TLS port? rediss:// needs one; use redis:// for a plain port)"
    elif isinstance(exc, redis.ResponseError) and "DB index is out of range" in message:
        reason = f"database {database_number(url)} does not exist on this server (DB index is out of range)"
    elif "Connection refused" in message:
        reason = "connection refused"
    elif "SSL" in message or "ssl" in message or "certificate" in message:
        reason = f"TLS handshake failed: {message.split(': ', 1)[-1]}"
    elif "Connection closed by server" in message and not tls:
        reason = "the server closed the connection (does it expect TLS? then use rediss://)"
    else:
        reason = re.sub(r"^Error \d+ connecting to \S+\. ", "", message)
    return scrub(f"redis: cannot connect to {redact_url(url)}: {reason}", secrets_in_url(url))


# --- helpers ---------------------------------------------------------------------------

def key_family(key: str) -> str:
    """The family a key belongs to, for per-prefix figures: "user:42" -> "user:*",
    "cache:user:42:posts" -> "cache:user:*", "session_9f8e7d6c" -> "session_*"."""
    if ":" in key:
        kept = []
        for segment in key.split(":")[:-1]:
            if len(kept) == 2 or _ID_SEGMENT.match(segment):
                break
            kept.append(segment)
        return ":".join(kept) + ":*" if kept else "*"
    return _ID_RUN.sub("*", key)


def show_key(key: bytes) -> str:
    return key.decode("utf-8", "backslashreplace")


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {}

    def rank(p: float) -> float:  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]

    return {"p50": round(rank(50), 4), "p90": round(rank(90), 4), "p99": round(rank(99), 4),
            "max": round(ordered[-1], 4), "count": len(ordered)}


def resp(*args: bytes) -> bytes:
    """One command in RESP, the Redis wire format (used for the raw per-key batches)."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def memory_usage_template(samples: int) -> bytes:
    """`MEMORY USAGE <key> SAMPLES n` in RESP with a %b hole for the key: one format
    operation a key is four times faster than resp() on the 1,000,000-key benchmark."""
    n = b"%d" % samples
    return b"*5\r\n$6\r\nMEMORY\r\n$5\r\nUSAGE\r\n$%%d\r\n%%b\r\n$7\r\nSAMPLES\r\n$%d\r\n%b\r\n" % (len(n), n)


PTTL_TEMPLATE = b"*2\r\n$4\r\nPTTL\r\n$%d\r\n%b\r\n"


@contextmanager
def steady_timing() -> Iterator[None]:
    """Round trips timed from Python include waiting for the GIL, which another collector's
    thread holds for up to the switch interval (5 ms); shorten it, and hold off the garbage
    collector, while timing."""
    interval = sys.getswitchinterval()
    enabled = gc.isenabled()
    sys.setswitchinterval(0.0001)
    gc.disable()
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if enabled:
            gc.enable()


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _command_denied(reason: str | None) -> bool:
    """A whole command refused (not just some keys): no use sending it again."""
    return bool(reason) and "some keys" not in reason


class RedisCollector(Collector):
    target = "redis"
    providers = {
        "redis.info": "_info",
        "redis.config": "_config",
        "redis.keys": "_keys",
        "redis.latency": "_latency",
        "redis.window": "_window",
    }

    client: redis.Redis | None = None
    needed: set[str] = set()  # the facts asked for in this run (set by gather)

    def open(self) -> None:
        self.client = connect(self.url, self.options)
        self.db = database_number(self.url)
        self.own = {"hits": 0, "misses": 0}  # perfcheck's own key lookups since the window opened
        self.window_opened = time.monotonic()
        self.info_start: dict[str, Any] | None = None
        self.info_error = ""
        try:
            self.info_start = self.client.info("all")
        except redis.RedisError as exc:
            self.info_error = f"INFO failed: {self.describe_error(exc)}"

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def gather(self, needed: set[str], step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
        self.needed = set(needed)
        return super().gather(needed, step)

    def describe_error(self, exc: Exception) -> str:
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, NoPermissionError):
            message = f"permission denied: {message} (NOPERM)"
        elif isinstance(exc, redis.TimeoutError):
            message = f"Redis did not answer within {COMMAND_TIMEOUT_S} s"
        elif isinstance(exc, redis.ConnectionError):
            message = f"lost the connection to Redis: {message}"
        return scrub(message, self.secrets)

    def _denial(self, command: str, exc: redis.RedisError) -> str:
        text = str(exc)
        # "...access one of the keys used as arguments" (Redis 6, 7.0), "No permissions to access a key" (7.2 on)
        if isinstance(exc, NoPermissionError) and _KEY_DENIED.search(text):
            return f"this user may not read some keys (NOPERM on {command})"
        if isinstance(exc, NoPermissionError):
            return f"{command} is not allowed for this user (NOPERM)"
        if "unknown command" in text:
            return f"{command} is disabled or renamed on this server"
        return f"{command} failed: {self.describe_error(exc)}"

    # --- facts ---------------------------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        if self.info_start is None:
            raise FactUnavailable(self.info_error, Status.ERROR)
        return self.info_start

    def _config(self) -> dict[str, Any]:
        """CONFIG GET values; a user without CONFIG gets the reason instead (the checks go on)."""
        assert self.client is not None
        values: dict[str, str] = {}
        for name in CONFIG_PARAMS:
            try:
                got = self.client.config_get(name)
            except redis.ResponseError as exc:
                return {"values": values, "denied": self._denial("CONFIG GET", exc)}
            values.update({k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                           for k, v in got.items()})
        return {"values": values, "denied": None}

    def _keys(self) -> dict[str, Any]:
        """A bounded SCAN: MEMORY USAGE of every scanned key (no lookup stats, no LRU
        touch), PTTL of the first `ttl_sample_keys`, TYPE and length of the largest."""
        assert self.client is not None
        budget_keys = max(1, _int(self.options.get("sample_keys"), 1_000_000))
        budget_s = max(0.05, float(self.options.get("sample_seconds", 1.0)))
        ttl_budget = max(0, _int(self.options.get("ttl_sample_keys"), 10_000))
        keep = max(1, _int(self.options.get("largest_keys"), 256))
        samples = max(0, _int(self.options.get("memory_samples"), 5))
        memory_usage = memory_usage_template(samples)

        dbsize = int(self.client.dbsize())
        started = time.monotonic()
        scanned = total_bytes = ttl_sampled = with_ttl = 0
        families: dict[str, list[int]] = {}  # family -> [keys, with_ttl, bytes] over the TTL sample
        largest: list[tuple[int, bytes]] = []  # a min-heap of (bytes, key)
        # A user may lack a command (then it is not sent again) or only some keys (~pattern ACLs).
        memory_denied = ttl_denied = None
        memory_denied_keys = ttl_denied_keys = 0
        cursor = b"0"
        stopped_by = "end"
        conn = self.client.connection_pool.get_connection()
        try:
            while True:
                conn.send_packed_command([resp(b"SCAN", cursor, b"COUNT", b"%d" % SCAN_COUNT)])
                cursor, keys = conn.read_response()
                keys = keys[: budget_keys - scanned]
                sized = keys if not _command_denied(memory_denied) else []
                with_ttl_read = keys[: max(0, ttl_budget - ttl_sampled)] if not _command_denied(ttl_denied) else []
                batch = [memory_usage % (len(key), key) for key in sized]
                batch += [PTTL_TEMPLATE % (len(key), key) for key in with_ttl_read]
                if batch:
                    conn.send_packed_command([b"".join(batch)])
                sizes = [self._reply(conn) for _ in sized]
                ttls = [self._reply(conn) for _ in with_ttl_read]
                for key, size in zip(sized, sizes):
                    if isinstance(size, redis.ResponseError):
                        memory_denied = memory_denied or self._denial("MEMORY USAGE", size)
                        memory_denied_keys += 1
                        continue
                    if size is None:  # gone since SCAN returned it
                        continue
                    total_bytes += size
                    if len(largest) < keep:
                        heapq.heappush(largest, (size, key))
                    elif size > largest[0][0]:
                        heapq.heapreplace(largest, (size, key))
                for i, (key, ttl) in enumerate(zip(with_ttl_read, ttls)):
                    size = sizes[i] if i < len(sizes) else None
                    if isinstance(ttl, redis.ResponseError):
                        ttl_denied = ttl_denied or self._denial("PTTL", ttl)
                        ttl_denied_keys += 1
                        continue
                    if ttl == -2:  # gone: Redis counted a miss
                        self.own["misses"] += 1
                        continue
                    self.own["hits"] += 1
                    ttl_sampled += 1
                    has_ttl = ttl >= 0
                    with_ttl += has_ttl
                    family = key_family(show_key(key))
                    if family not in families and len(families) >= MAX_FAMILIES:
                        family = "(other)"
                    entry = families.setdefault(family, [0, 0, 0])
                    entry[0] += 1
                    entry[1] += has_ttl
                    entry[2] += size if isinstance(size, int) else 0
                scanned += len(keys)
                if cursor in (b"0", 0):
                    break
                if _command_denied(memory_denied) and (_command_denied(ttl_denied) or ttl_sampled >= ttl_budget):
                    stopped_by = "permissions"
                    break
                if scanned >= budget_keys:
                    stopped_by = "key budget"
                    break
                if time.monotonic() - started >= budget_s:
                    stopped_by = "time budget"
                    break
            details = self._describe_largest(conn, sorted(largest, reverse=True))
        except BaseException:
            conn.disconnect()  # replies may be left unread: never hand this connection out again
            raise
        finally:
            self.client.connection_pool.release(conn)
        if memory_denied and ttl_denied and not largest and not ttl_sampled:
            raise FactUnavailable(f"{memory_denied}; {ttl_denied}", Status.ERROR)
        keyspace = (self.info_start or {}).get(f"db{self.db}")
        return {
            "db": self.db,
            "dbsize": dbsize,
            "keyspace": {"keys": keyspace.get("keys", 0), "expires": keyspace.get("expires", 0)}
            if isinstance(keyspace, dict) else ({"keys": 0, "expires": 0} if self.info_start else None),
            "scanned": scanned,
            "complete": stopped_by == "end",
            "stopped_by": stopped_by,
            "seconds": round(time.monotonic() - started, 3),
            "total_bytes": total_bytes,
            "ttl_sampled": ttl_sampled,
            "with_ttl": with_ttl,
            "families": {name: {"keys": n, "with_ttl": t, "bytes": b} for name, (n, t, b) in families.items()},
            "largest": details,
            "memory_samples": samples,
            "memory_usage_denied": memory_denied,
            "memory_denied_keys": memory_denied_keys,
            "ttl_denied": ttl_denied,
            "ttl_denied_keys": ttl_denied_keys,
        }

    def _describe_largest(self, conn: Any, largest: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
        """TYPE, then the length, of the largest keys (two round trips for all of them)."""
        if not largest:
            return []
        conn.send_packed_command([b"".join(resp(b"TYPE", key) for _, key in largest)])
        types = [self._reply(conn) for _ in largest]
        kinds = []
        for reply in types:
            kind = reply.decode() if isinstance(reply, bytes) else None
            self.own["misses" if kind == "none" else "hits"] += kind is not None
            kinds.append(kind)
        asks = [(i, LENGTH_COMMANDS[k]) for i, k in enumerate(kinds) if k in LENGTH_COMMANDS]
        lengths: dict[int, int | None] = {}
        if asks:
            conn.send_packed_command([b"".join(resp(cmd, largest[i][1]) for i, cmd in asks)])
            for i, _ in asks:
                reply = self._reply(conn)
                if isinstance(reply, int):
                    lengths[i] = reply
                    # Collections are never empty, so 0 means the key went away (a miss).
                    self.own["misses" if reply == 0 and kinds[i] not in ("string", "stream") else "hits"] += 1
                else:
                    self.own["hits"] += 1  # WRONGTYPE: the key was replaced, but it was found
        return [{"key": show_key(key), "bytes": size, "type": kinds[i], "length": lengths.get(i),
                 "family": key_family(show_key(key))}
                for i, (size, key) in enumerate(largest) if kinds[i] != "none"]

    @staticmethod
    def _reply(conn: Any) -> Any:
        try:
            return conn.read_response()
        except redis.ResponseError as exc:  # the error reply is consumed; the next replies are intact
            return exc

    def _latency(self) -> dict[str, Any]:
        """PING and GET round trips over a bounded sample, and the slowlog."""
        assert self.client is not None
        count = max(2, _int(self.options.get("latency_samples"), 200))
        probe, probe_kind = self._probe_key()
        ping, get = resp(b"PING"), resp(b"GET", probe)
        timings: dict[str, list[float]] = {"ping": [], "get": []}
        conn = self.client.connection_pool.get_connection()
        try:
            with steady_timing():
                for i in range(count):
                    name, payload = ("ping", ping) if i % 2 == 0 else ("get", get)
                    t0 = time.perf_counter_ns()
                    conn.send_packed_command([payload], check_health=False)
                    reply = self._reply(conn)
                    timings[name].append((time.perf_counter_ns() - t0) / 1e6)
                    if name == "get":
                        self.own["misses" if reply is None else "hits"] += 1
        except BaseException:
            conn.disconnect()
            raise
        finally:
            self.client.connection_pool.release(conn)
        every = timings["ping"] + timings["get"]
        return {
            "samples": len(every),
            "probe": probe_kind,
            "ping_ms": percentiles(timings["ping"]),
            "get_ms": percentiles(timings["get"]),
            "all_ms": percentiles(every),
            "slowlog": self._slowlog(),
            "server": self._server_percentiles(),
        }

    def _server_percentiles(self) -> dict[str, dict[str, Any]] | None:
        """Per-command percentiles measured inside Redis (INFO latencystats, Redis 7+), in µs."""
        info = self.info_start or {}
        found = {}
        for name, value in info.items():
            if name.startswith("latency_percentiles_usec_") and isinstance(value, dict):
                command = name.removeprefix("latency_percentiles_usec_")
                stats = info.get(f"cmdstat_{command}")
                found[command.replace("|", " ").upper()] = {
                    "p50": value.get("p50"), "p99": value.get("p99"), "p99.9": value.get("p99.9"),
                    "calls": stats.get("calls") if isinstance(stats, dict) else None}
        return found or None

    def _probe_key(self) -> tuple[bytes, str]:
        """A small existing key for the GET sample (RANDOMKEY and MEMORY USAGE count no
        lookups); a missing key name when there is none."""
        assert self.client is not None
        try:
            key = self.client.randomkey()
            if key is not None and (self.client.memory_usage(key) or 0) <= 1024:
                return key, "existing key"
        except redis.RedisError:
            pass
        return b"perfcheck:latency-probe", "missing key"

    def _slowlog(self) -> dict[str, Any]:
        assert self.client is not None
        try:
            raw = self.client.execute_command("SLOWLOG GET", SLOWLOG_ENTRIES)
            length = int(self.client.execute_command("SLOWLOG LEN"))
        except redis.ResponseError as exc:
            return {"denied": self._denial("SLOWLOG", exc)}
        entries = []
        for item in raw:
            args = item.get("command", b"") if isinstance(item, dict) else b""
            name = item.get("client_name", b"") if isinstance(item, dict) else b""
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            if name == OWN_CLIENT_NAME:
                continue
            words = args.split(b" ", 2) if isinstance(args, bytes) else str(args).split(" ", 2)
            command = show_key(words[0]).upper() if isinstance(words[0], bytes) else str(words[0]).upper()
            key = words[1] if len(words) > 1 else b""
            # Only the command and its first argument (the key): values may be secrets.
            entries.append({"id": item.get("id"), "start_time": item.get("start_time"),
                            "duration_us": item.get("duration"), "command": command,
                            "key": (show_key(key) if isinstance(key, bytes) else str(key))[:80]})
        try:
            now = int(self.client.time()[0])
        except redis.RedisError:
            now = int(time.time())
        config = self.fact_or_none("redis.config") or {}
        slower_than = (config.get("values") or {}).get("slowlog-log-slower-than")
        return {"denied": None, "length": length, "entries": entries, "now": now,
                "slower_than_us": _int(slower_than) if slower_than is not None else None}

    def fact_or_none(self, name: str) -> Any:
        try:
            return self.fact(name)
        except FactUnavailable:
            return None

    def _window(self) -> dict[str, Any]:
        """The second INFO sample, at least `window_s` after the first; perfcheck's own
        lookups are subtracted, so the rate is the application's."""
        assert self.client is not None
        for name in sorted(self.needed - {"redis.window"}):  # close the window after our own work
            try:
                self.fact(name)
            except FactUnavailable:
                pass
        if self.info_start is None:
            raise FactUnavailable(self.info_error, Status.ERROR)
        wait = self.window_opened + float(self.options.get("window_s", 1.0)) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        end = self.client.info("all")
        seconds = time.monotonic() - self.window_opened
        start = self.info_start

        def delta(name: str) -> int:
            return max(0, _int(end.get(name)) - _int(start.get(name)))

        commands = {}
        for name, value in end.items():
            if name.startswith("cmdstat_") and isinstance(value, dict):
                before = start.get(name) if isinstance(start.get(name), dict) else {}
                calls = _int(value.get("calls")) - _int(before.get("calls"))
                if calls > 0:
                    commands[name.removeprefix("cmdstat_")] = calls
        own_hits, own_misses = self.own["hits"], self.own["misses"]
        return {
            "seconds": round(seconds, 3),
            "hits": max(0, delta("keyspace_hits") - own_hits),
            "misses": max(0, delta("keyspace_misses") - own_misses),
            "own_hits": own_hits,
            "own_misses": own_misses,
            "evicted_keys": delta("evicted_keys"),
            "expired_keys": delta("expired_keys"),
            "lifetime_hits": max(0, _int(end.get("keyspace_hits")) - own_hits),
            "lifetime_misses": max(0, _int(end.get("keyspace_misses")) - own_misses),
            "uptime_s": _int(end.get("uptime_in_seconds")),
            "commands": commands,
        }
