"""The Redis collector: one connection, read-only commands, every key sampled once.

What the audit sends never changes the data: INFO, CONFIG GET, SLOWLOG GET, DBSIZE,
SCAN (with COUNT, never KEYS), MEMORY USAGE, PTTL, TYPE and collection lengths, PING and
GET, and on Redis 7 SCRIPT LOAD and EVALSHA_RO of one read-only script that sends the
same SCAN, MEMORY USAGE and PTTL (and TIME) from inside Redis. Three side effects cannot
be avoided and are accounted for:

* PTTL, TYPE, GET and the length commands are key lookups, so Redis counts them in
  keyspace_hits/misses. perfcheck counts its own lookups (the script says how many it
  made) and subtracts them from the hit-rate window (exactly, since the window opens
  before the first and closes after the last). MEMORY USAGE and SCAN do not count, so
  sizes come from MEMORY USAGE for every scanned key while TTLs are read only for a
  smaller sample.
* Reading an already expired key makes Redis reclaim it (lazy expiry), as any read does.
* SCRIPT LOAD keeps the scan script (about 3 KB) in the server's script cache until a
  restart or SCRIPT FLUSH.

The key scan runs inside Redis where it may (EVALSHA_RO, Redis 7+): each call does SCAN
steps and MEMORY USAGE of their keys for about 0.3 ms and sends back only the totals, the
TTL sample's keys, and the keys larger than the smallest of the largest kept so far; the
client has next to nothing to do, and Redis spends about 2 µs a key. Where the script is
not allowed (no EVALSHA_RO, a user without scripting, or a key this user may not read),
the per-key path does the rest from the same cursor: batches written as raw RESP on one
connection, one bytes format a key, and their one-line replies read straight off the
socket (RawReplies), two batches in flight. The whole keyspace is scanned unless a budget
stops it (a million keys take two to four seconds inside Redis on a busy 2-core host,
five or so per key: benchmarks/redis_scale.py); a scan that may be cut short starts at a random cursor and
says what share of the hash table it walked. In a Redis Cluster every primary is scanned.
"""

from __future__ import annotations

import gc
import heapq
import math
import random
import re
import socket
import sys
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
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
SCAN_COUNT = 100  # keys asked of each SCAN: ~0.09 ms of server time (250 took ~0.2 ms and, once, over 1 ms on a busy host)
SAMPLE_KEYS = 10_000_000  # the default key budget: a whole keyspace up to 10M keys...
SAMPLE_SECONDS = 10.0  # ...within this long (a million keys take 2-5 s on a busy 2-core host)
RANDOM_START_MIN_KEYS = 100_000  # a larger keyspace is walked from a random cursor (a cut-short scan sees new keys)
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

# The scan done inside Redis (EVALSHA_RO, Redis 7+): SCAN steps and MEMORY USAGE of their keys
# (PTTL too while the TTL sample wants keys) until `want` keys or `budget` µs, whichever
# first, never more than `left` keys, and no key past the cursor `last` (where the walk
# ends: the step that goes past it is done again a bucket at a time, up to it). It sends
# back the totals, every key of the TTL sample, and otherwise only the keys larger than
# `floor` (the smallest of the largest kept so far). In a call that has made no lookup
# (no PTTL) an error (a command or a key this user may not read) fails the whole call;
# otherwise the failing step is undone: the call ends with that step's cursor and counts
# its lookups (hits, misses) for the hit rate. redis.call is used where it can be: it
# costs a third less than redis.pcall a key.
SCAN_SCRIPT = b"""
local cursor, count, want, left = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local floor, samples, ttl_left, budget = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local last = ARGV[9]
local function now() local t = redis.call('TIME') return t[1] * 1000000 + t[2] end
local stop = now() + budget
local seen, sized, total, steps, trimmed, big, sampled = 0, 0, 0, 0, 0, {}, {}
local function passed(c)  -- c past `last` in SCAN's order (bit-reversed; both below 2^53)
  if last == '' or c == last then return false end
  if c == '0' then return true end  -- the table's end
  local a, b = tonumber(c), tonumber(last)
  while true do
    local x, y = a % 2, b % 2
    if x ~= y then return x > y end
    a, b = (a - x) / 2, (b - y) / 2
  end
end
local function scan_step(c)  -- the next step's keys and cursor, never a key past `last`
  local reply = redis.call('SCAN', c, 'COUNT', count)
  if not passed(reply[1]) then return reply[2], reply[1] end
  local keys = {}  -- the step went past: again, a bucket at a time (COUNT 1 ends at a bucket with keys)
  repeat
    reply = redis.call('SCAN', c, 'COUNT', 1)
    if passed(reply[1]) then return keys, last end  -- that bucket is past `last`
    for i = 1, #reply[2] do keys[#keys + 1] = reply[2][i] end
    c = reply[1]
  until c == last
  return keys, last
end
local function sample_step(keys, n)
  local s_sized, s_total, s_big, s_sampled, hits, misses = 0, 0, {}, {}, 0, 0
  for i = 1, n do
    local key = keys[i]
    local size = redis.pcall('MEMORY', 'USAGE', key, 'SAMPLES', samples)
    if type(size) == 'table' then return 'MEMORY USAGE: ' .. size.err, hits, misses end
    if size then s_sized = s_sized + 1; s_total = s_total + size end
    if (#sampled + #s_sampled) / 3 < ttl_left then
      local ttl = redis.pcall('PTTL', key)
      if type(ttl) == 'table' then return 'PTTL: ' .. ttl.err, hits, misses end
      if ttl == -2 then misses = misses + 1 else hits = hits + 1 end
      s_sampled[#s_sampled + 1] = key; s_sampled[#s_sampled + 1] = size or -1; s_sampled[#s_sampled + 1] = ttl
    elseif size and size > floor then
      s_big[#s_big + 1] = key; s_big[#s_big + 1] = size
    end
  end
  sized, total = sized + s_sized, total + s_total
  for i = 1, #s_big do big[#big + 1] = s_big[i] end
  for i = 1, #s_sampled do sampled[#sampled + 1] = s_sampled[i] end
end
repeat
  local keys, next_cursor = scan_step(cursor)
  local n = math.min(#keys, left - seen)
  if #sampled / 3 < ttl_left or #sampled > 0 then
    local err, hits, misses = sample_step(keys, n)
    if err then return {cursor, seen, sized, total, big, sampled, steps, trimmed, err, hits, misses} end
  else
    for i = 1, n do
      local size
      if samples == '5' then size = redis.call('MEMORY', 'USAGE', keys[i])
      else size = redis.call('MEMORY', 'USAGE', keys[i], 'SAMPLES', samples) end
      if size then
        sized = sized + 1; total = total + size
        if size > floor then big[#big + 1] = keys[i]; big[#big + 1] = size end
      end
    end
  end
  cursor, seen, steps = next_cursor, seen + n, steps + 1
  if n < #keys then trimmed = 1 end
until trimmed == 1 or cursor == '0' or cursor == last or seen >= want or now() >= stop
return {cursor, seen, sized, total, big, sampled, steps, trimmed, '', 0, 0}
"""
USE_SCRIPT = True  # scan inside Redis when it allows EVALSHA_RO (tests set False for the per-key path)
SCRIPT_SCAN_COUNT = 50  # COUNT of the script's SCAN steps (the last step of a call overshoots its budget by one)
SCRIPT_WANT_KEYS = 512  # keys a script call sizes at most...
SCRIPT_SPLIT_MARGIN_KEYS = 100_000  # two calls in flight only while the key budget left is more than this
SCRIPT_BUDGET_US = 250  # ...and µs it starts SCAN steps for: a call takes ~0.33 ms (p99 ~0.5 ms at load 2.5 on 2 cores)


def scan_command(cursor: int) -> bytes:
    return resp(b"SCAN", b"%d" % cursor, b"COUNT", b"%d" % SCAN_COUNT)


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


# --- the key scan ------------------------------------------------------------------------

def rev64(cursor: int) -> int:
    """SCAN walks the hash table in reverse-binary order: the bit-reversed cursor over 2**64
    is the share of the walk done, whatever the table's size."""
    return int(f"{cursor & (2 ** 64 - 1):064b}"[::-1], 2)


class Walk:
    """Where a SCAN has got to along the bit-reversed cursor's range (2**64 positions: its
    share of the hash table). It starts at cursor `start` and covers `span` positions,
    wrapping round at the table's end (cursor 0); the script stops it exactly at `last`."""

    def __init__(self, start: int, span: int = 2 ** 64) -> None:
        self.start, self.start_at, self.span = start, rev64(start), span
        self.cursor, self.lap, self.walked = start, 0, 0
        self.done = False

    def advance(self, cursor: int) -> bool:
        """Take the cursor SCAN gave next; True when the walk has covered its span."""
        if cursor == 0:
            self.lap += 2 ** 64  # the table's end: on from its start
        self.cursor = cursor
        self.walked = self.lap + rev64(cursor) - self.start_at
        self.done = self.walked >= self.span or self.lap > 2 ** 64
        return self.done

    @property
    def last(self) -> bytes:
        """The cursor where the walk ends, when that is before the table's end in this lap."""
        end = self.start_at + self.span - self.lap
        return b"%d" % rev64(end) if 0 < end < 2 ** 64 else b""

    def passes(self, cursor: int) -> bool:
        """Whether a step that ends at `cursor` went past where the walk ends."""
        last = self.last
        return bool(last) and cursor != int(last) and (cursor == 0 or rev64(cursor) > rev64(int(last)))

    def share(self) -> float:
        """The share of the hash table walked."""
        return min(self.span, max(0, self.walked)) / 2 ** 64

    def split(self) -> Walk:
        """Leave the second half of a whole walk not yet halfway to a walk of its own, from
        cursor start ^ 1 (the bit-reversed position plus 2**63): this one ends there."""
        self.span = 2 ** 63
        return Walk(self.start ^ 1, 2 ** 63)


def start_cursor(keys: int) -> int:
    """A random cursor with only the low bits a table of `keys` keys uses (a hash table has
    at least as many buckets as keys): exact as a Lua number (below 2**53), as the script
    needs it."""
    bits = max(1, min(64, keys.bit_length() - 1))
    return rev64(random.getrandbits(bits) << (64 - bits))


class RawReplies:
    """Replies read straight off the connection's socket. The per-key replies (MEMORY USAGE,
    PTTL: an integer, a null or an error) are one line each, so a batch of 1,000 is one
    split instead of 1,000 parser calls; SCAN's reply is parsed in full."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buf = b""
        self.pos = 0  # where the unread replies start in buf

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise redis.TimeoutError("Timeout reading from socket") from None
        except OSError as exc:
            raise redis.ConnectionError(str(exc)) from None
        if not chunk:
            raise redis.ConnectionError("Redis closed the connection")
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0

    def lines(self, n: int) -> list[bytes]:
        """The next n single-line replies, without their CRLF."""
        if n == 0:
            return []
        while self.buf.count(b"\r\n", self.pos) < n:
            self._fill()
        parts = self.buf[self.pos:].split(b"\r\n", n)
        self.buf, self.pos = parts.pop(), 0
        return parts

    def line(self) -> bytes:
        end = self.buf.find(b"\r\n", self.pos)
        while end < 0:
            self._fill()
            end = self.buf.find(b"\r\n", self.pos)
        line, self.pos = self.buf[self.pos:end], end + 2
        return line

    def _bulk(self, size: int) -> bytes:
        while len(self.buf) - self.pos < size + 2:
            self._fill()
        data = self.buf[self.pos:self.pos + size]
        self.pos += size + 2
        return data

    def scan_reply(self) -> tuple[int, list[bytes]]:
        """SCAN's [cursor, [key, ...]] in one pass over the buffer (the general reply() costs
        a call a key); an error reply is raised."""
        while True:
            parsed = self._scan_parsed()
            if parsed is not None:
                return parsed
            self._fill()

    def _scan_parsed(self) -> tuple[int, list[bytes]] | None:
        buf, pos = self.buf, self.pos
        if buf[pos:pos + 1] == b"-":
            reply = parse_line(self.line())
            raise reply if isinstance(reply, Exception) else redis.ResponseError("unexpected SCAN reply")
        keys: list[bytes] = []
        heads = [b"*", b"$", None, b"*"]  # [cursor, [keys]]: array, cursor bulk, its value, key array
        values = []
        for expected in heads:
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return None
            if expected is not None and buf[pos:pos + 1] != expected:
                raise redis.ResponseError("unexpected SCAN reply")
            values.append(buf[pos + 1:end] if expected is not None else buf[pos:end])
            pos = end + 2
        count = int(values[3])
        for _ in range(count):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return None
            start = end + 2
            stop = start + int(buf[pos + 1:end])
            if stop + 2 > len(buf):
                return None
            keys.append(buf[start:stop])
            pos = stop + 2
        self.pos = pos
        return int(values[2]), keys

    def reply(self) -> Any:
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"*":
            return None if int(rest) < 0 else [self.reply() for _ in range(int(rest))]
        if kind == b"$":
            return None if int(rest) < 0 else self._bulk(int(rest))
        return parse_line(line)


def parse_line(line: bytes) -> Any:
    """An integer, None (a null bulk: the key has gone), or a ResponseError (never raised)."""
    kind = line[:1]
    if kind == b":":
        return int(line[1:])
    if kind == b"-":
        text = line[1:].decode("utf-8", "replace")
        return NoPermissionError(text) if text.startswith("NOPERM") else redis.ResponseError(text)
    if kind in (b"$", b"_"):
        return None
    return line[1:]


@dataclass
class ScanTally:
    """What a key scan has found so far (over every primary of a cluster)."""
    keep: int
    ttl_budget: int
    scanned: int = 0
    total_bytes: int = 0
    sized: int = 0
    ttl_sampled: int = 0
    with_ttl: int = 0
    families: dict[str, list[int]] = field(default_factory=dict)  # family -> [keys, with_ttl, bytes] (TTL sample)
    largest: list[tuple[int, bytes, int]] = field(default_factory=list)  # a min-heap of (bytes, key, node)
    in_largest: set[tuple[bytes, int]] = field(default_factory=set)
    memory_denied: str | None = None
    ttl_denied: str | None = None
    memory_denied_keys: int = 0
    ttl_denied_keys: int = 0
    ttl_asked: int = 0  # PTTLs sent (the replies come a batch later)

    def add_size(self, key: bytes, size: int, node: int) -> None:
        self.total_bytes += size
        self.sized += 1
        self.offer(key, size, node)

    def floor(self) -> int:
        """The size a key must exceed to be among the largest kept (-1 until there are enough)."""
        return self.largest[0][0] if len(self.largest) >= self.keep else -1

    def offer(self, key: bytes, size: int, node: int) -> None:
        """Keep the key if it is among the largest (its bytes are already counted)."""
        if len(self.largest) >= self.keep and size <= self.largest[0][0]:
            return
        if (key, node) in self.in_largest:  # seen twice: the scan's wrap-around overlaps by one batch
            return
        self.in_largest.add((key, node))
        if len(self.largest) < self.keep:
            heapq.heappush(self.largest, (size, key, node))
        else:
            _, gone, gone_node = heapq.heapreplace(self.largest, (size, key, node))
            self.in_largest.discard((gone, gone_node))

    def add_ttl(self, key: bytes, ttl: int, size: Any) -> None:
        self.ttl_sampled += 1
        has_ttl = ttl >= 0
        self.with_ttl += has_ttl
        family = key_family(show_key(key))
        if family not in self.families and len(self.families) >= MAX_FAMILIES:
            family = "(other)"
        entry = self.families.setdefault(family, [0, 0, 0])
        entry[0] += 1
        entry[1] += has_ttl
        entry[2] += size if isinstance(size, int) else 0


@dataclass
class ScanPlan:
    """The budgets of one scan, shared by every primary of a cluster."""
    budget_keys: int
    deadline: float
    memory_usage: bytes
    random_start: bool
    samples: int = 5  # MEMORY USAGE's SAMPLES
    script: bool = False  # try the scan inside Redis (EVALSHA_RO, Redis 7+)


class RedisCollector(Collector):
    target = "redis"
    providers = {
        "redis.info": "_info",
        "redis.config": "_config",
        "redis.keys": "_keys",
        "redis.latency": "_latency",
        "redis.window": "_window",
    }

    timing_facts = ("redis.latency",)
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
        """SCAN the whole keyspace (every primary of a cluster) within the budgets: MEMORY
        USAGE of every key (no lookup stats, no LRU touch), PTTL of the first
        `ttl_sample_keys`, then TYPE and length of the largest."""
        assert self.client is not None
        started = time.monotonic()
        tally = ScanTally(keep=max(1, _int(self.options.get("largest_keys"), 256)),
                          ttl_budget=max(0, _int(self.options.get("ttl_sample_keys"), 10_000)))
        samples = max(0, _int(self.options.get("memory_samples"), 5))
        budget_s = max(0.05, float(self.options.get("sample_seconds", SAMPLE_SECONDS)))
        if (left := self.remaining()) is not None:  # within the target's max_seconds, leaving room for the rest
            budget_s = min(budget_s, max(0.05, left / 2))
        nodes = self._scan_nodes()
        try:
            sizes = [int(client.dbsize()) for client in nodes]
            plan = ScanPlan(budget_keys=max(1, _int(self.options.get("sample_keys"), SAMPLE_KEYS)),
                            deadline=started, memory_usage=memory_usage_template(samples),
                            random_start=sum(sizes) > RANDOM_START_MIN_KEYS, samples=samples,
                            script=USE_SCRIPT and self._has_eval_ro())
            stops, seen = [], 0.0
            for node, client in enumerate(nodes):
                # Each primary gets its share of the time, plus what the ones before left unused.
                plan.deadline = started + budget_s * (node + 1) / len(nodes)
                stopped_by, share = self._scan_node(client, node, sizes[node], tally, plan)
                stops.append(stopped_by)
                seen += share * sizes[node]
            details = []
            for node, client in enumerate(nodes):
                mine = [(size, key) for size, key, n in sorted(tally.largest, reverse=True) if n == node]
                details += self._describe_node(client, mine)
        finally:
            for client in nodes[1:] if len(nodes) > 1 else []:
                client.close()
        if tally.memory_denied and tally.ttl_denied and not tally.largest and not tally.ttl_sampled:
            raise FactUnavailable(f"{tally.memory_denied}; {tally.ttl_denied}", Status.ERROR)
        details.sort(key=lambda item: item["bytes"], reverse=True)
        stopped_by = next((s for s in stops if s != "end"), "end")
        return self._keys_fact(tally, details, sum(sizes), stopped_by, seen, len(nodes), samples, started)

    def _has_eval_ro(self) -> bool:
        """Redis 7 or later (EVAL_RO, EVALSHA_RO), as INFO says; unknown counts as no."""
        version = str((self.info_start or {}).get("redis_version", "0"))
        return _int(version.split(".")[0]) >= 7

    def _keys_fact(self, tally: ScanTally, details: list[dict[str, Any]], dbsize: int, stopped_by: str,
                   seen: float, nodes: int, samples: int, started: float) -> dict[str, Any]:
        keyspace = (self.info_start or {}).get(f"db{self.db}")
        return {
            "db": self.db,
            "dbsize": dbsize,
            "keyspace": {"keys": keyspace.get("keys", 0), "expires": keyspace.get("expires", 0)}
            if isinstance(keyspace, dict) else ({"keys": 0, "expires": 0} if self.info_start else None),
            "scanned": min(tally.scanned, dbsize) if stopped_by == "end" else tally.scanned,
            "complete": stopped_by == "end",
            "stopped_by": stopped_by,
            "share_seen": 1.0 if stopped_by == "end" else round(seen / dbsize, 4) if dbsize else 0.0,
            "nodes": nodes,
            "seconds": round(time.monotonic() - started, 3),
            "total_bytes": tally.total_bytes,
            "sized_keys": tally.sized,
            "ttl_sampled": tally.ttl_sampled,
            "with_ttl": tally.with_ttl,
            "families": {name: {"keys": n, "with_ttl": t, "bytes": b} for name, (n, t, b) in tally.families.items()},
            "largest": details,
            "memory_samples": samples,
            "memory_usage_denied": tally.memory_denied,
            "memory_denied_keys": tally.memory_denied_keys,
            "ttl_denied": tally.ttl_denied,
            "ttl_denied_keys": tally.ttl_denied_keys,
        }

    def _scan_nodes(self) -> list[redis.Redis]:
        """The clients to scan: this server, or each primary that serves slots in a cluster
        (SCAN is per node); the first one is the audit's own client."""
        assert self.client is not None
        if not _int((self.info_start or {}).get("cluster_enabled")):
            return [self.client]
        try:
            raw = self.client.execute_command("CLUSTER", "NODES")  # raw text: no parsing callback
        except redis.RedisError:
            return [self.client]  # not allowed: this node alone (the summary says how many nodes)
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        primaries, own = [], None
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 9 or "master" not in parts[2] or "fail" in parts[2]:
                continue  # a replica, a failed primary, or a primary without slots
            address = parts[1].split("@")[0]
            if "myself" in parts[2]:
                own = address
            else:
                primaries.append(address)
        timeout = float(self.options.get("connect_timeout_s", 5))
        clients = [self.client] if own else []  # a replica's own keys are its primary's
        parts = urlsplit(self.url)
        login = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        for address in primaries:
            url = parts._replace(netloc=login + address, path="/0").geturl()
            clients.append(_client(url, timeout, max(timeout, COMMAND_TIMEOUT_S)))
        return clients or [self.client]

    def _scan_node(self, client: redis.Redis, node: int, keys: int, tally: ScanTally,
                   plan: ScanPlan) -> tuple[str, float]:
        """One node's SCAN: inside Redis while it allows the script, per key from the client
        after (or instead). A scan cut short starts at a random cursor, so repeated runs see
        different parts; it wraps round to where it started. Returns why it stopped and the
        share of the hash table walked."""
        conn = client.connection_pool.get_connection()
        own = dict(self.own)
        try:
            reader = RawReplies(conn._sock)
            walks = [Walk(start_cursor(keys) if plan.random_start else 0)]
            sha = self._load_script(conn, reader) if plan.script else None
            stopped_by = self._script_walk(conn, reader, node, tally, plan, walks, sha) if sha else None
            if stopped_by is None:  # no script, or it could not go on: the rest per key
                for walk in walks:
                    stopped_by = "end" if walk.done else self._scan_walk(conn, reader, node, tally, plan, walk)
                    if stopped_by != "end":
                        break
            return stopped_by, 1.0 if stopped_by == "end" else sum(walk.share() for walk in walks)
        except BaseException:
            conn.disconnect()  # replies may be left unread: never hand this connection out again
            raise
        finally:
            client.connection_pool.release(conn)
            if node:  # the hit-rate window reads the first node's INFO: other nodes' lookups are not in it
                self.own = own

    @staticmethod
    def _load_script(conn: Any, reader: RawReplies) -> bytes | None:
        """SCRIPT LOAD of the scan script: its SHA1, or None when this user may not."""
        conn.send_packed_command([resp(b"SCRIPT", b"LOAD", SCAN_SCRIPT)], check_health=False)
        reply = reader.reply()
        return reply if isinstance(reply, bytes) and len(reply) == 40 else None

    def _script_walk(self, conn: Any, reader: RawReplies, node: int, tally: ScanTally, plan: ScanPlan,
                     walks: list[Walk], sha: bytes) -> str | None:
        """The scan inside Redis, one EVALSHA_RO call after another (each well under a
        millisecond). Once the TTL sample is taken, the half of the table not yet reached
        becomes a walk of its own, so that a call is always waiting in Redis while the client
        reads the one before. Returns why it stopped ("end" once every walk is done), or None
        when the script cannot go on: an error (EVALSHA_RO unknown or denied, a key or
        command this user may not read); the per-key path then carries on each walk from its
        cursor, the failing step again."""
        in_flight: deque[tuple[Walk, int, int]] = deque()  # (walk, TTL sample keys granted, key cap)
        waiting, stopped_by = [walks[0]], ""
        while True:
            while waiting and stopped_by == "":
                cap = self._script_cap(tally, plan, in_flight, len(waiting) - 1)
                if cap is None:
                    break
                walk = waiting.pop(0)
                in_flight.append((walk, self._send_script(conn, sha, walk, tally, plan, in_flight, cap), cap))
            if not in_flight:
                return "end" if stopped_by == "" else stopped_by
            walk, _, _ = in_flight.popleft()
            reply = reader.reply()
            if not isinstance(reply, list) or len(reply) != 11:
                stopped_by = None  # an error reply: the call read nothing
                continue
            cursor, steps, trimmed, error = self._tally_script(reply, tally, node)
            if steps:
                walk.advance(cursor)
            if error:
                stopped_by = None
            elif stopped_by == "" and not walk.done:
                stopped_by = self._stop_reason(tally, plan, bool(trimmed))
            if stopped_by == "" and not walk.done:
                if len(walks) == 1 and self._may_split(tally, plan, walk):
                    walks.append(walk.split())
                    waiting.append(walks[1])
                waiting.append(walk)

    @staticmethod
    def _may_split(tally: ScanTally, plan: ScanPlan, walk: Walk) -> bool:
        """Two walks once the TTL sample is taken (it stays the first keys of one walk),
        while the first is short of a quarter of the table and the key budget is far off."""
        sampled = tally.ttl_asked >= tally.ttl_budget or _command_denied(tally.ttl_denied)
        return sampled and walk.walked < 2 ** 62 and plan.budget_keys - tally.scanned > 2 * SCRIPT_SPLIT_MARGIN_KEYS

    @staticmethod
    def _script_cap(tally: ScanTally, plan: ScanPlan, in_flight: deque[tuple[Walk, int, int]],
                    others: int) -> int | None:
        """The most keys the next call may size, or None to wait for the call in flight.
        The calls in flight never share more than the key budget left: far from it, two
        calls split it (each may size far more than it will); near it, one call at a time
        may size all that is left, so that a call cut short by it ends the scan exactly."""
        left = max(0, plan.budget_keys - tally.scanned - sum(cap for _, _, cap in in_flight))
        if left < SCRIPT_SPLIT_MARGIN_KEYS:
            return None if in_flight else left
        return left // 2 if others else left

    @staticmethod
    def _send_script(conn: Any, sha: bytes, walk: Walk, tally: ScanTally, plan: ScanPlan,
                     in_flight: deque[tuple[Walk, int, int]], cap: int) -> int:
        """Send one call for `walk`; returns the TTL sample keys granted to it (none to a
        call while another holds the rest, so the sample is never overshot)."""
        granted = max(0, tally.ttl_budget - tally.ttl_asked - sum(g for _, g, _ in in_flight))
        granted = 0 if _command_denied(tally.ttl_denied) else granted
        conn.send_packed_command([resp(
            b"EVALSHA_RO", sha, b"0", b"%d" % walk.cursor, b"%d" % SCRIPT_SCAN_COUNT, b"%d" % SCRIPT_WANT_KEYS,
            b"%d" % cap, b"%d" % tally.floor(), b"%d" % plan.samples, b"%d" % granted,
            b"%d" % SCRIPT_BUDGET_US, walk.last)], check_health=False)
        return granted

    def _tally_script(self, reply: list[Any], tally: ScanTally, node: int) -> tuple[int, int, int, bytes]:
        """Count one script call's keys; returns its cursor, steps done, whether it stopped
        at the key budget, and its error (b"" when none)."""
        cursor, seen, sized, total, big, sampled, steps, trimmed, error, hits, misses = reply
        tally.scanned += seen
        tally.sized += sized
        tally.total_bytes += total
        self.own["hits"] += hits  # the failing step's lookups (0 when none failed)
        self.own["misses"] += misses
        for i in range(0, len(big), 2):
            tally.offer(big[i], big[i + 1], node)
        tally.ttl_asked += len(sampled) // 3
        for i in range(0, len(sampled), 3):
            key, size, ttl = sampled[i], sampled[i + 1], sampled[i + 2]
            if size >= 0:
                tally.offer(key, size, node)
            if ttl == -2:  # gone: Redis counted a miss
                self.own["misses"] += 1
            else:
                self.own["hits"] += 1
                tally.add_ttl(key, ttl, size if size >= 0 else None)
        return int(cursor), steps, trimmed, error

    def _scan_walk(self, conn: Any, reader: RawReplies, node: int, tally: ScanTally, plan: ScanPlan,
                   walk: Walk) -> str:
        """One node's SCAN from the client, from where `walk` is, two batches in flight:
        while Redis answers one, the replies of the one before are tallied."""
        pending: tuple[list[bytes], list[bytes]] = ([], [])
        conn.send_packed_command([scan_command(walk.cursor)], check_health=False)
        while True:
            cursor, found = reader.scan_reply()
            if walk.passes(cursor):  # past where the walk ends (the other walk's start): again, up to there
                self._read_batch(reader, pending, tally, node)
                pending = ([], [])
                cursor, found = self._scan_to_last(conn, reader, walk)
            keys = found[: max(0, plan.budget_keys - tally.scanned)]
            tally.scanned += len(keys)
            finished = walk.advance(cursor)
            stopped_by = "end" if finished else self._stop_reason(tally, plan, len(keys) < len(found))
            sized, ttl_keys = self._batch_keys(keys, tally)
            batch = b"".join([plan.memory_usage % (len(k), k) for k in sized] +
                             [PTTL_TEMPLATE % (len(k), k) for k in ttl_keys])
            payload = (b"" if stopped_by else scan_command(walk.cursor)) + batch
            if payload:
                conn.send_packed_command([payload], check_health=False)
            self._read_batch(reader, pending, tally, node)
            pending = (sized, ttl_keys)
            if stopped_by:
                break
        self._read_batch(reader, pending, tally, node)
        return stopped_by

    @staticmethod
    def _scan_to_last(conn: Any, reader: RawReplies, walk: Walk) -> tuple[int, list[bytes]]:
        """The keys from `walk.cursor` up to where the walk ends, a bucket at a time (SCAN
        COUNT 1 stops after a bucket with keys: if that is past the end, its keys are not
        the walk's), as the script does it."""
        cursor, keys, last = walk.cursor, [], int(walk.last)
        while cursor != last:
            conn.send_packed_command([resp(b"SCAN", b"%d" % cursor, b"COUNT", b"1")], check_health=False)
            cursor, found = reader.scan_reply()
            if walk.passes(cursor):
                break
            keys += found
        return last, keys

    @staticmethod
    def _stop_reason(tally: ScanTally, plan: ScanPlan, trimmed: bool) -> str:
        if _command_denied(tally.memory_denied) and (_command_denied(tally.ttl_denied)
                                                     or tally.ttl_asked >= tally.ttl_budget):
            return "permissions"
        if trimmed or tally.scanned >= plan.budget_keys:
            return "key budget"
        if time.monotonic() >= plan.deadline:
            return "time budget"
        return ""

    @staticmethod
    def _batch_keys(keys: list[bytes], tally: ScanTally) -> tuple[list[bytes], list[bytes]]:
        """The keys to size, and the ones (a prefix of them) whose TTL to read."""
        sized = keys if not _command_denied(tally.memory_denied) else []
        ttl_keys = keys[: max(0, tally.ttl_budget - tally.ttl_asked)] if not _command_denied(tally.ttl_denied) else []
        tally.ttl_asked += len(ttl_keys)
        return sized, ttl_keys

    def _read_batch(self, reader: RawReplies, pending: tuple[list[bytes], list[bytes]], tally: ScanTally,
                    node: int) -> None:
        sized, ttl_keys = pending
        lines = reader.lines(len(sized) + len(ttl_keys))
        heap, keep = tally.largest, tally.keep
        first_sizes: list[Any] = []
        for i, (key, line) in enumerate(zip(sized, lines)):
            size = int(line[1:]) if line[:1] == b":" else parse_line(line)
            if i < len(ttl_keys):
                first_sizes.append(size)
            if type(size) is int:
                if len(heap) < keep or size > heap[0][0]:
                    tally.add_size(key, size, node)
                else:
                    tally.total_bytes += size
                    tally.sized += 1
            elif isinstance(size, redis.ResponseError):
                tally.memory_denied = tally.memory_denied or self._denial("MEMORY USAGE", size)
                tally.memory_denied_keys += 1
        for i, (key, line) in enumerate(zip(ttl_keys, lines[len(sized):])):
            ttl = parse_line(line)
            if isinstance(ttl, redis.ResponseError):
                tally.ttl_denied = tally.ttl_denied or self._denial("PTTL", ttl)
                tally.ttl_denied_keys += 1
            elif ttl == -2:  # gone: Redis counted a miss
                self.own["misses"] += 1
            elif isinstance(ttl, int):
                self.own["hits"] += 1
                tally.add_ttl(key, ttl, first_sizes[i] if i < len(first_sizes) else None)

    def _describe_node(self, client: redis.Redis, largest: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
        conn = client.connection_pool.get_connection()
        own = dict(self.own)
        try:
            return self._describe_largest(conn, largest)
        except BaseException:
            conn.disconnect()
            raise
        finally:
            client.connection_pool.release(conn)
            if client is not self.client:  # as in _scan_node: only the first node's lookups are subtracted
                self.own = own

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
