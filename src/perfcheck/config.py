"""Configuration: perfcheck.yaml, then the environment, then flags (flags win).

Everything is validated up front so that a typo is a one-line error (exit 2), not a
surprise halfway through an audit. Each target has its own section; a collector reads
only its section.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import parse_qs, urlsplit

import yaml

from perfcheck import checklist, redact
from perfcheck.errors import MAX_ERRORS, ConfigError  # noqa: F401  (part of this module's API)
from perfcheck.targets import TARGETS
from perfcheck.units import window_seconds


def did_you_mean(name: Any, known: Iterable[Any]) -> str:
    """" (did you mean 'x'?)" for a near miss, else ""."""
    text = str(name)
    if len(text) > 200:  # difflib is quadratic; nobody misspells a 200-character id
        return ""
    close = difflib.get_close_matches(text, [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def shown(value: Any) -> str:
    """A user's value in a message: repr'd (one line) and cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Num:
    """A number in perfcheck.yaml and the range it must be in. Zero or a negative count, rate
    or duration would disable a bound (statement_timeout 0 = none) or make no sense."""

    types: tuple[type, ...]
    minimum: float = 0
    above: bool = False  # the minimum itself is not allowed (> rather than >=)
    maximum: float | None = None
    note: str = ""

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, self.types):
            return f"expected {_type_name(self.types)}, got {_got(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"expected a finite number, got {value}"
        if value < self.minimum or (self.above and value == self.minimum):
            low = f"greater than {self.minimum:g}" if self.above else f"{self.minimum:g} or more"
            return f"must be {low}, got {value}{self.note}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g}, got {value}{self.note}"
        return None


# The shape of perfcheck.yaml. A leaf is a type (or tuple of types); a dict is a
# section with fixed keys; a list of one element is a list of that shape.
# "*" as the only key means any key, each value of the given shape.
NUMBER = (int, float)
COUNT = Num((int,), 1)  # how many (at least one)
COUNT0 = Num((int,), 0)  # how many, 0 = none / off
SECONDS = Num(NUMBER, 0, above=True, maximum=3600)  # a bound on waiting: never zero, never endless
MILLIS = Num((int,), 1, maximum=3_600_000, note=" (0 would mean no limit at all)")
RATE = Num(NUMBER, 0, above=True)
WEIGHT = Num(NUMBER, 0)
SCHEMA: dict[str, Any] = {
    "targets": {"db": str, "redis": str, "url": str},
    "max_seconds": SECONDS,  # the whole audit's time; a target still running then is `error`
    "only": [str],
    "skip": [str],
    "categories": {"*": {"weight": WEIGHT}},
    "checks": {"*": {"weight": WEIGHT, "thresholds": {"*": (int, float, str, bool, list)}}},
    # CI gating; the values are checked in detail by perfcheck.gate.policy (`off` reads as false in YAML).
    "assertions": {"*": (str, bool, dict)},
    "mute": [{"key": str, "check": str, "reason": str, "until": (str, date)}],
    "baseline": {"score_drop": Num(NUMBER, 0, maximum=100), "check_score_drop": Num(NUMBER, 0, maximum=1),
                 "latency_relative": WEIGHT, "latency_ms": WEIGHT, "error_is_regression": bool},
    # A Prometheus server that records the API's request durations (api.latency from its histogram).
    "prometheus": {"url": str, "window": (str, int, float), "metric": str, "selector": str, "route_label": str,
                   "timeout_s": SECONDS},
    # A directory where each run's summary is appended (perfcheck trend reads it).
    "history": str,
    # Several targets audited by `perfcheck audit --all` / `--target NAME`.
    "fleet": {"concurrency": Num((int,), 1, maximum=64),
              "targets": [{"name": str, "db": str, "redis": str, "url": str}]},
    "postgres": {
        "connect_timeout_s": SECONDS,
        "max_seconds": SECONDS,  # this target's share of the audit's time (default: all of it)
        "statement_timeout_ms": MILLIS,
        "lock_timeout_ms": MILLIS,
        "schemas": [str],
    },
    "redis": {
        "connect_timeout_s": SECONDS,
        "max_seconds": SECONDS,  # this target's share of the audit's time (default: all of it)
        "sample_keys": COUNT,
        "sample_seconds": SECONDS,
        "window_s": SECONDS,
        "ttl_sample_keys": COUNT0,
        "largest_keys": COUNT,
        # MEMORY USAGE ... SAMPLES 0 reads every element of a collection: never on a live server.
        "memory_samples": Num((int,), 1, note=" (0 would make Redis read every element)"),
        "latency_samples": Num((int,), 2),
    },
    "http": {
        "connect_timeout_s": SECONDS,
        "max_seconds": SECONDS,  # this target's share of the audit's time (default: all of it)
        "timeout_s": SECONDS,
        "insecure": bool,
        "max_requests": COUNT,
        "max_rate": RATE,
        "endpoints": [
            {
                "name": str,
                "method": str,
                "path": str,
                "headers": {"*": str},
                "body": (str, dict, list),
                "status": int,
                "kind": str,
            }
        ],
        # Paths probed by default ("" turns a probe off), and assets found in the HTML.
        "health_path": str,
        "metrics_path": str,
        "socketio_path": str,
        "discover_assets": bool,
        "max_assets": COUNT0,
        "asset_hosts": [str],
        "cors_origin": str,  # an origin the API allows; its preflight must be answered
        # The latency run (api.latency, api.ttfb), per endpoint.
        "load": {"requests": COUNT, "rate": RATE, "warmup": COUNT0, "concurrency": Num((int,), 1, maximum=1000),
                 "max_seconds": SECONDS,
                 # Where the figures come from: auto (Prometheus when configured, else synthetic), synthetic,
                 # metrics (the service's /metrics histogram over window_s), prometheus, locust.
                 "engine": str, "runs": Num((int,), 1, maximum=20), "window_s": SECONDS,
                 "histogram": str, "route_label": str,
                 "locust": {"users": Num((int,), 1, maximum=100_000), "spawn_rate": RATE, "run_time_s": SECONDS,
                            "workers": Num((int,), 0, maximum=64), "expect_workers": bool,
                            "master_host": str, "master_port": Num((int,), 1, maximum=65535)}},
        # Opt-in bursts (0 = off): they send more than an ordinary audit does.
        "rate_limit_burst": {"requests": COUNT0, "endpoint": str},
        "socketio_burst": {"messages": COUNT0, "event": str, "data": (str, int, float, dict, list), "namespace": str},
    },
}

DEFAULTS: dict[str, Any] = {
    "targets": {},
    "max_seconds": 300,
    "only": [],
    "skip": [],
    "categories": {},
    "checks": {},
    "assertions": {},
    "mute": [],
    # Tolerances that keep a re-run of an unchanged system green (perfcheck.gate.baseline).
    "baseline": {"score_drop": 5, "check_score_drop": 0.05, "latency_relative": 1.0, "latency_ms": 25,
                 "error_is_regression": True},
    "prometheus": {"url": "", "window": "5m", "metric": "", "selector": "", "route_label": "", "timeout_s": 10},
    "history": "",
    "fleet": {"concurrency": 4, "targets": []},
    "postgres": {"connect_timeout_s": 5, "statement_timeout_ms": 5000, "lock_timeout_ms": 1000, "schemas": []},
    # The key scan walks the whole keyspace unless it reaches sample_keys or sample_seconds first
    # (a million keys take 2-5 s); the hit-rate
    # window (window_s) runs meanwhile. See collectors/redis.py for what each one costs.
    "redis": {"connect_timeout_s": 5, "sample_keys": 10_000_000, "sample_seconds": 10.0, "window_s": 1.0,
              "ttl_sample_keys": 10_000, "largest_keys": 256, "memory_samples": 5, "latency_samples": 200},
    "http": {"connect_timeout_s": 5, "timeout_s": 10, "insecure": False, "max_requests": 2000,
             "max_rate": 200, "endpoints": [],
             "health_path": "/health", "metrics_path": "/metrics", "socketio_path": "/socket.io/",
             "discover_assets": True, "max_assets": 20, "asset_hosts": [], "cors_origin": "",
             "load": {"requests": 200, "rate": 50, "warmup": 10, "concurrency": 10, "max_seconds": 20,
                      "engine": "auto", "runs": 1, "window_s": 10, "histogram": "", "route_label": "",
                      "locust": {"users": 20, "spawn_rate": 10, "run_time_s": 15, "workers": 2, "expect_workers": False,
                                 "master_host": "127.0.0.1", "master_port": 5557}},
             "rate_limit_burst": {"requests": 0, "endpoint": ""},
             "socketio_burst": {"messages": 0, "event": "message", "data": "perfcheck", "namespace": "/"}},
}

# Views of perfcheck.targets by config key (db, redis, url).
ENV_TARGETS = {t.key: t.env for t in TARGETS}
TARGET_SCHEMES = {t.key: t.schemes for t in TARGETS}
TARGET_FLAGS = {t.key: t.flag for t in TARGETS}


@dataclass
class Config:
    data: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    source: str = "defaults"
    # The line of each key or item read from the file: ("checks", "db.pool") -> 12.
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def target(self, name: str) -> str | None:
        return self.data["targets"].get(name)

    def section(self, name: str) -> dict[str, Any]:
        if name == "http":  # the latency may be read from the Prometheus server that scrapes the API
            return {**self.data["http"], "prometheus": self.data.get("prometheus") or {}}
        return self.data[name]

    @property
    def secrets(self) -> list[str]:
        found: list[str] = []
        for url in self.data["targets"].values():
            found += redact.secrets_in_url(url)
        found += redact.secrets_in_url(str((self.data.get("prometheus") or {}).get("url") or ""))
        return found

    def redacted_targets(self) -> dict[str, str]:
        return {name: redact.redact_url(url) for name, url in self.data["targets"].items()}

    def check_overrides(self, check_id: str) -> dict[str, Any]:
        return self.data["checks"].get(check_id, {})

    def locate(self, exc: ConfigError) -> ConfigError:
        """The error, prefixed with the file and line it comes from (when it came from the file)."""
        return ConfigError(_located(self.source, self.lines, exc), exc.at) if exc.at and self.lines else exc


def _line_of(lines: dict[tuple[Any, ...], int], at: tuple[Any, ...]) -> int:
    """The line of `at` in the file, or of its nearest parent the file spells out (0: none)."""
    at = tuple(at)
    while at and at not in lines:
        at = at[:-1]
    return lines[at] if at else 0


def _located(source: str, lines: dict[tuple[Any, ...], int], exc: ConfigError) -> str:
    line = _line_of(lines, exc.at)
    return f"{source} line {line}: {exc}" if line else f"{source}: {exc}"


def _type_name(expected: Any) -> str:
    if expected == NUMBER:
        return "a number"
    if isinstance(expected, tuple):
        return " or ".join(_type_name(t) for t in expected)
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false",
            list: "a list", dict: "a mapping"}.get(expected, getattr(expected, "__name__", str(expected)))


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing (null)"}.get(
        type(value), type(value).__name__)


def _where(at: tuple[Any, ...]) -> str:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) and not isinstance(part, bool) else (f".{part}" if out else str(part))
    return out


def _validate(value: Any, shape: Any, at: tuple[Any, ...] = (), errors: list[ConfigError] | None = None) -> None:
    """Check `value` against `shape`; every problem is added to `errors` (raised, the first
    one, when no list is given)."""
    if errors is None:
        found: list[ConfigError] = []
        _validate(value, shape, at, found)
        if found:
            raise found[0]
        return
    where = _where(at)
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            errors.append(ConfigError(f"{where or 'top level'}: expected a mapping, got {_got(value)}", at))
            return
        for key, item in value.items():
            inner = (*at, key)
            if "*" in shape:
                _validate(item, shape["*"], inner, errors)
            elif key not in shape:
                hint = did_you_mean(key, shape) or f" (known: {', '.join(sorted(shape))})"
                errors.append(ConfigError(f"{where or 'top level'}: unknown key {shown(key)}{hint}", inner))
            else:
                _validate(item, shape[key], inner, errors)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            errors.append(ConfigError(f"{where}: expected a list, got {_got(value)}", at))
            return
        for i, item in enumerate(value):
            _validate(item, shape[0], (*at, i), errors)
    elif isinstance(shape, Num):
        problem = shape.problem(value)
        if problem:
            errors.append(ConfigError(f"{where}: {problem}", at))
    else:
        problem = _leaf_problem(value, shape)
        if problem:
            errors.append(ConfigError(f"{where}: {problem}", at))


def _leaf_problem(value: Any, shape: Any) -> str | None:
    # bool is an int in Python; don't let `true` pass as a number.
    if isinstance(value, bool) and shape is not bool and not (isinstance(shape, tuple) and bool in shape):
        return f"expected {_type_name(shape)}, got true/false"
    if not isinstance(value, shape):
        return f"expected {_type_name(shape)}, got {_got(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected a finite number, got {value}"
    return None


ENDPOINT_KINDS = ("api", "list", "write", "html", "static", "image", "media")
READ_METHODS = ("GET", "HEAD")
WRITE_METHODS = ("POST", "PUT", "PATCH")


def _validate_http(http: dict[str, Any], errors: list[ConfigError] | None = None) -> None:
    """What the shape alone can't say: kinds, methods, paths, names. The audit sends
    no write except to endpoints of kind `write` (the validation probe)."""
    found: list[ConfigError] = [] if errors is None else errors
    names: set[str] = set()
    for i, ep in enumerate(http.get("endpoints") or []):
        problem = _endpoint_problem(ep, f"http.endpoints[{i}]", names)
        if problem:
            found.append(ConfigError(problem, ("http", "endpoints", i)))
    found += list(_caught(_validate_load, http.get("load") or {}))
    for key in ("health_path", "metrics_path", "socketio_path"):
        value = http.get(key)
        if value and not value.startswith("/"):
            found.append(ConfigError(f"http.{key}: {value!r} must start with / (or be \"\" to turn the probe off)", ("http", key)))
    if errors is None and found:
        raise found[0]


def _endpoint_problem(ep: dict[str, Any], where: str, names: set[str]) -> str | None:
    path = ep.get("path")
    if not path:
        return f"{where}: 'path' is required, e.g. path: /api/items"
    if not path.startswith("/"):
        return f"{where}.path: {path!r} must start with / (it is joined to the base URL)"
    kind = ep.get("kind", "api")
    if kind not in ENDPOINT_KINDS:
        return f"{where}.kind: unknown kind {kind!r} (known: {', '.join(ENDPOINT_KINDS)})"
    method = ep.get("method", "POST" if kind == "write" else "GET").upper()
    allowed = WRITE_METHODS if kind == "write" else READ_METHODS
    if method not in allowed:
        hint = "" if kind == "write" else " (only endpoints of kind: write are sent other methods)"
        return f"{where}.method: {method} is not allowed for kind {kind} (allowed: {', '.join(allowed)}){hint}"
    status = ep.get("status", 200)
    if not 100 <= status <= 599:
        return f"{where}.status: {status} is not an HTTP status"
    name = ep.get("name") or f"{method} {path}"
    if name in names:
        return f"{where}.name: {name!r} is used twice; endpoint names must be unique"
    names.add(name)
    return None


LOAD_ENGINES = ("auto", "synthetic", "metrics", "prometheus", "locust")


def _validate_load(load: dict[str, Any]) -> None:
    engine = load.get("engine", "auto")
    if engine not in LOAD_ENGINES:
        raise ConfigError(f"http.load.engine (--load): unknown engine {engine!r}{did_you_mean(engine, LOAD_ENGINES)} "
                          f"(known: {', '.join(LOAD_ENGINES)})", ("http", "load", "engine"))


def _validate_scale(data: dict[str, Any]) -> None:
    """The Prometheus server, its window, and the fleet's target names."""
    prom = data.get("prometheus") or {}
    if prom.get("url") and not str(prom["url"]).startswith(("http://", "https://")):
        raise ConfigError(f"prometheus.url: {redact.redact_url(prom['url'])} must start with http:// or https://",
                          ("prometheus", "url"))
    selector = str(prom.get("selector") or "")
    if selector and not (selector.startswith("{") and selector.endswith("}") and selector.count("{") == 1
                         and selector.count("}") == 1):
        raise ConfigError(f"prometheus.selector: {shown(selector)} must be one label matcher in braces, "
                          "e.g. '{job=\"api\"}'", ("prometheus", "selector"))
    try:
        window_seconds(prom.get("window", "5m"))
    except ValueError as exc:
        raise ConfigError(f"prometheus.window: {exc}", ("prometheus", "window")) from None
    if (data.get("http") or {}).get("load", {}).get("engine") == "prometheus" and not prom.get("url"):
        raise ConfigError("http.load.engine: prometheus needs prometheus.url (or --prometheus URL)",
                          ("http", "load", "engine"))
    seen: set[str] = set()
    for i, entry in enumerate((data.get("fleet") or {}).get("targets") or []):
        at = ("fleet", "targets", i)
        name = entry.get("name")
        if not name:
            raise ConfigError(f"fleet.targets[{i}]: 'name' is required", at)
        if name in seen:
            raise ConfigError(f"fleet.targets[{i}].name: {name!r} is used twice", at)
        seen.add(name)
        if not any(entry.get(k) for k in ("db", "redis", "url")):
            raise ConfigError(f"fleet.targets[{i}] ({name}): give at least one of db, redis, url", at)
        for kind in ("db", "redis", "url"):
            if entry.get(kind):
                try:
                    validate_target_url(kind, entry[kind])
                except ConfigError as exc:
                    raise ConfigError(f"fleet.targets[{i}] ({name}): {exc}", at) from None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate_target_url(name: str, url: str, environ: Mapping[str, str] | None = None) -> None:
    """A malformed target URL is a configuration error (exit 2), caught before connecting."""
    shown = redact.redact_url(url)
    if name == "db":
        _validate_db_target(url, os.environ if environ is None else environ)
        return
    try:
        parts = urlsplit(url)
        parts.port  # raises on a non-numeric port
    except ValueError as exc:
        raise ConfigError(f"{TARGET_FLAGS[name]}: malformed URL {shown}: {exc}") from None
    if parts.scheme not in TARGET_SCHEMES[name]:
        allowed = ", ".join(f"{s}://" for s in TARGET_SCHEMES[name])
        raise ConfigError(f"{TARGET_FLAGS[name]}: URL {shown} must start with {allowed}")
    if name != "db" and parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(f"{TARGET_FLAGS[name]}: URL {shown} has no host")
    if name == "redis":
        db = parse_qs(parts.query).get("db", [""])[0] or (parts.path.strip("/") if parts.scheme != "unix" else "")
        if db and not db.isdigit():
            raise ConfigError(f"--redis: URL {shown}: the database number must be a whole number, not {db!r}")


def _validate_db_target(text: str, environ: Mapping[str, str]) -> None:
    """Anything libpq takes, and the ORM forms perfcheck sets parts of aside (see pg.dsn)."""
    from perfcheck.pg import dsn  # why: psycopg loads only when a database is audited (CLI start-up)

    try:
        dsn.parse(text, environ)
    except dsn.DsnError as exc:
        raise ConfigError(f"--db: {exc}") from None


# --- reading the file -------------------------------------------------------------------------
# perfcheck.yaml is a few kilobytes; these bounds only stop a wrong or hostile file from
# taking minutes, gigabytes or the interpreter's stack.
MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 50
MAX_VALUES = 1_000_000  # after aliases are expanded (a "billion laughs" file)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last one
    silently, so half of a config would be ignored) and nesting deeper than MAX_DEPTH
    (the composer recurses: 5,000 levels would be a RecursionError)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue  # `<<: *defaults` may be overridden; a complex key is refused by the base class
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {shown(key)} (first given on line {seen[key]})", key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _key_lines(root: Any) -> tuple[dict[tuple[Any, ...], int], int]:
    """The line of each key and list item, and how many values the document expands to
    (an alias counts as often as it is used). Iterative, and each node is walked once."""
    lines: dict[tuple[Any, ...], int] = {}
    walked: set[int] = set()
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, at = stack.pop()
        if id(node) in walked:
            continue
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    lines.setdefault((*at, key_node.value), key_node.start_mark.line + 1)
                    stack.append((value_node, (*at, key_node.value)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault((*at, i), item.start_mark.line + 1)
                stack.append((item, (*at, i)))
    # Expanded size, children first (post-order, memoised by node: linear in the file).
    sizes: dict[int, int] = {}
    order: list[Any] = []
    pending, queued = [root], set()
    while pending:
        node = pending.pop()
        if id(node) in queued:
            continue
        queued.add(id(node))
        order.append(node)
        pending.extend(_children(node))
    for node in reversed(order):
        sizes[id(node)] = min(MAX_VALUES + 1, 1 + sum(sizes.get(id(c), 1) for c in _children(node)))
    return lines, sizes[id(root)]


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def read_text(path: Path, limit: int) -> str:
    """A file's text, read no further than `limit` bytes (/dev/zero as a config must not
    fill the memory); OSError and UnicodeDecodeError say what is wrong, ValueError too big."""
    with open(path, "rb") as stream:
        raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"larger than {limit // 1024} KiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(f"line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); is this the right file?") from None


def parse_yaml(path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """The YAML document in `path` and the line of each key; ConfigError (one line) otherwise."""
    try:
        text = read_text(path, MAX_FILE_BYTES)
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a perfcheck.yaml file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        sep = " " if str(exc).startswith("line ") else ": "
        raise ConfigError(f"{path}{sep}{exc}") from None
    loader = None
    try:
        loader = _StrictLoader(text)  # checks every character first: a NUL byte is a ReaderError
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines, size = _key_lines(node)
        if size > MAX_VALUES:
            raise ConfigError(f"{path}: expands to more than {MAX_VALUES:,} values (aliases of aliases?)")
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark else ""
        column = f" (column {mark.column + 1})" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise ConfigError(f"{path}{where}: malformed YAML{column}: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character, e.g. a NUL byte
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(f"{path} line {line}: malformed YAML: control character U+{code:04X} is not allowed") from None
    except ValueError as exc:  # an integer of 5,000 digits
        raise ConfigError(f"{path}: malformed YAML: {str(exc).partition(':')[0][:200]}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigError(f"{path}: malformed YAML: {' '.join(str(exc).split())[:200]}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_file(path: Path, known: Known | None = None) -> tuple[dict[str, Any], dict[tuple[Any, ...], int]]:
    """The file's settings, validated, and the line of each key: a perfcheck.yaml, or the
    [tool.perfcheck] table of a pyproject.toml. Every problem in it is reported at once."""
    if path.suffix == ".toml":
        data, lines = _read_pyproject(path), {}
    else:
        data, lines = parse_yaml(path)
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level (key: value), got {_got(data)}")
    # A section left with only comments in it reads as null: treat it as absent.
    data = {key: value for key, value in data.items() if value is not None}
    source = f"{path} [tool.perfcheck]" if path.suffix == ".toml" else str(path)
    errors = validate(data, known)
    if errors:
        errors.sort(key=lambda exc: _line_of(lines, exc.at))
        raise ConfigError.many([ConfigError(_located(source, lines, exc), exc.at) for exc in errors])
    return data, lines


def validate(data: dict[str, Any], known: Known | None = None) -> list[ConfigError]:
    """Every problem in the settings: the shape first, then, in the sections whose shape
    holds, endpoints and the check ids, categories and thresholds named."""
    errors: list[ConfigError] = []
    _validate(data, SCHEMA, (), errors)
    if any(not exc.at for exc in errors):  # the top level itself is wrong: nothing more can be read
        return errors
    sound = _pruned(data, [exc.at for exc in errors])
    _validate_http(sound.get("http") or {}, errors)
    errors += list(_caught(_validate_scale, sound))
    if known is not None:
        known.validate(sound, errors)
    return errors


def _pruned(data: dict[str, Any], broken: list[tuple[Any, ...]]) -> dict[str, Any]:
    """`data` without the parts whose shape is wrong: the entry under a mapping section
    (checks.db.pool), or the whole section when it is the section or a list that is wrong."""
    out = dict(data)
    for at in broken:
        section = out.get(at[0])
        if len(at) > 1 and isinstance(section, dict) and not isinstance(at[1], int):
            out[at[0]] = {key: value for key, value in section.items() if key != at[1]}
        else:
            out.pop(at[0], None)
    return out


def _read_pyproject(path: Path) -> Any:
    """The [tool.perfcheck] table of a pyproject.toml (None when it has none)."""
    try:
        text = read_text(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: malformed TOML: {' '.join(str(exc).split())[:200]}") from None
    return (document.get("tool") or {}).get("perfcheck")


def has_tool_table(path: Path) -> bool:
    """Whether a pyproject.toml has a [tool.perfcheck] table (a cheap look before parsing)."""
    try:
        return "tool.perfcheck" in read_text(path, MAX_FILE_BYTES)
    except (OSError, ValueError):
        return True  # let reading it say what is wrong


def find(start: Path | None = None) -> Path | None:
    """The config file perfcheck reads when none is given, like ruff: perfcheck.yaml, or a
    pyproject.toml with [tool.perfcheck], in the current folder or the nearest parent,
    stopping at the repository's root (a folder with .git)."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / "perfcheck.yaml").is_file():
            return candidate / "perfcheck.yaml"
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and has_tool_table(pyproject):
            return pyproject
        if (candidate / ".git").exists():
            return None
    return None


# --- check ids, categories and thresholds ------------------------------------------------------

@dataclass(frozen=True)
class Known:
    """The check ids (with their default thresholds) and categories a config may name:
    the built-in checks and any plugin's."""

    thresholds: Mapping[str, Mapping[str, Any]]
    categories: frozenset[str]

    @classmethod
    def from_checks(cls, checks: Mapping[str, Any]) -> Known:
        categories = {c.id for c in checklist.categories()} | {c.meta.category for c in checks.values()}
        return cls({cid: dict(c.meta.thresholds) for cid, c in checks.items()}, frozenset(categories))

    @classmethod
    def registered(cls) -> Known:
        from perfcheck.registry import load_checks  # why: importlib.metadata costs ~20 ms at start-up; only check-aware validation needs it

        return cls.from_checks(load_checks().checks)

    def check(self, name: Any, at: tuple[Any, ...], what: str = "check") -> None:
        if name not in self.thresholds:
            raise ConfigError(f"{_where(at[:-1]) or what}: unknown {what} {shown(name)}"
                              f"{did_you_mean(name, self.thresholds)} (see `perfcheck checks`)", at)

    def subject(self, name: Any, at: tuple[Any, ...], where: str = "") -> None:
        if name not in self.thresholds and name not in self.categories:
            hint = did_you_mean(name, [*self.thresholds, *self.categories])
            raise ConfigError(f"{where or _where(at[:-1])}: unknown check or category {shown(name)}{hint}"
                              " (see `perfcheck checks`)", at)

    def validate(self, data: dict[str, Any], errors: list[ConfigError] | None = None) -> None:
        """Every check id, category and threshold the file names exists, and each threshold
        has its default's type: a misspelt id would otherwise silently configure nothing.
        Problems are added to `errors` (raised, the first, when no list is given)."""
        found: list[ConfigError] = [] if errors is None else errors
        for check in (self._checks(data), self._categories(data), self._subjects(data)):
            for exc in check:
                found.append(exc)
        if errors is None and found:
            raise found[0]

    def _checks(self, data: dict[str, Any]) -> Iterator[ConfigError]:
        for check_id, section in (data.get("checks") or {}).items():
            if check_id not in self.thresholds:
                yield from _caught(self.check, check_id, ("checks", check_id))
                continue
            defaults = self.thresholds[check_id]
            for key, value in (section.get("thresholds") or {}).items():
                at = ("checks", check_id, "thresholds", key)
                if key not in defaults:
                    hint = did_you_mean(key, defaults) or f" (known: {', '.join(sorted(defaults)) or 'none'})"
                    yield ConfigError(f"checks.{check_id}.thresholds: unknown threshold {shown(key)}{hint}", at)
                elif problem := _threshold_problem(value, defaults[key]):
                    yield ConfigError(f"checks.{check_id}.thresholds.{key}: {problem}", at)

    def _categories(self, data: dict[str, Any]) -> Iterator[ConfigError]:
        for category in data.get("categories") or {}:
            if category not in self.categories:
                yield ConfigError(f"categories: unknown category {shown(category)}{did_you_mean(category, self.categories)}"
                                  f" (known: {', '.join(sorted(self.categories))})", ("categories", category))

    def _subjects(self, data: dict[str, Any]) -> Iterator[ConfigError]:
        for key in ("only", "skip"):
            for i, name in enumerate(data.get(key) or []):
                yield from _caught(self.subject, name, (key, i), key)
        for subject in data.get("assertions") or {}:
            yield from _caught(self.subject, subject, ("assertions", subject))
        for i, entry in enumerate(data.get("mute") or []):
            if isinstance(entry.get("check"), str):
                yield from _caught(self.check, entry["check"], ("mute", i, "check"))

    def selection(self, flag: str, names: Iterable[str]) -> None:
        for name in names:
            self.subject(name, (), flag)


def _caught(function: Any, *args: Any) -> Iterator[ConfigError]:
    """The ConfigError `function(*args)` raises, if any, as an item."""
    try:
        function(*args)
    except ConfigError as exc:
        yield exc


def _threshold_problem(value: Any, default: Any) -> str | None:
    """A threshold override must be what its default is: a number for a number (finite, not
    negative), a list of plain values for a list."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"expected true/false, got {_got(value)}"
    if isinstance(default, (int, float)):
        return Num(NUMBER).problem(value)
    if isinstance(default, list):
        if not isinstance(value, list) or any(isinstance(v, (list, dict)) or v is None for v in value):
            return f"expected a list of values like {shown(default)}, got {_got(value)}"
        return None
    if isinstance(default, str) and not isinstance(value, str):
        return f"expected a string, got {_got(value)}"
    return None


def load(
    path: str | None = None,
    *,
    targets: dict[str, str | None] | None = None,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    known: Known | None = None,
) -> Config:
    """The configuration: file (explicit, or the one `find` finds), then
    environment variables, then flags. Check ids, categories and thresholds are checked
    against `known` (default: the registered checks)."""
    environ = os.environ if environ is None else environ
    known = known or Known.registered()
    data = copy.deepcopy(DEFAULTS)
    source = "defaults"
    lines: dict[tuple[Any, ...], int] = {}
    errors: list[ConfigError] = []  # all reported at once, one line each
    file = Path(path) if path else find()
    if file is not None:
        try:
            found, lines = read_file(file, known)
            data = _merge(data, found)
        except ConfigError as exc:
            errors.append(exc)
        source = str(file)
    for flag, names in (("--only", only), ("--skip", skip)):
        errors += [exc for name in names or [] for exc in _caught(known.subject, name, (), flag)]
    for name, var in ENV_TARGETS.items():
        if environ.get(var):
            data["targets"][name] = environ[var]
    for name, url in (targets or {}).items():
        if url:
            data["targets"][name] = url
    if only:
        data["only"] = list(only)
    if skip:
        data["skip"] = list(data["skip"]) + list(skip)
    if overrides:
        data = _merge(data, overrides)
        _validate(data, SCHEMA)
        _validate_http(data["http"])
        _validate_scale(data)
    for name, url in data["targets"].items():
        errors += list(_caught(validate_target_url, name, url, environ))
    if errors:
        raise ConfigError.many(errors)
    return Config(data, source, lines)
