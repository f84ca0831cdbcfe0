"""Configuration: perfcheck.yaml, then the environment, then flags (flags win).

Everything is validated up front so that a typo is a one-line error (exit 2), not a
surprise halfway through an audit. Each target has its own section; a collector reads
only its section.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from perfcheck import redact


class ConfigError(Exception):
    """A problem with the user's configuration or flags; shown as one line, exit 2."""


# The shape of perfcheck.yaml. A leaf is a type (or tuple of types); a dict is a
# section with fixed keys; a list of one element is a list of that shape.
# "*" as the only key means any key, each value of the given shape.
NUMBER = (int, float)
SCHEMA: dict[str, Any] = {
    "targets": {"db": str, "redis": str, "url": str},
    "max_seconds": NUMBER,  # the whole audit's time; a target still running then is `error`
    "only": [str],
    "skip": [str],
    "categories": {"*": {"weight": NUMBER}},
    "checks": {"*": {"weight": NUMBER, "thresholds": {"*": (int, float, str, bool, list)}}},
    # CI gating; the values are checked in detail by perfcheck.gate.policy (`off` reads as false in YAML).
    "assertions": {"*": (str, bool, dict)},
    "mute": [{"key": str, "check": str, "reason": str, "until": (str, date)}],
    "baseline": {"score_drop": NUMBER, "check_score_drop": NUMBER, "latency_relative": NUMBER,
                 "latency_ms": NUMBER, "error_is_regression": bool},
    "postgres": {
        "connect_timeout_s": NUMBER,
        "max_seconds": NUMBER,  # this target's share of the audit's time (default: all of it)
        "statement_timeout_ms": int,
        "lock_timeout_ms": int,
        "schemas": [str],
    },
    "redis": {
        "connect_timeout_s": NUMBER,
        "max_seconds": NUMBER,  # this target's share of the audit's time (default: all of it)
        "sample_keys": int,
        "sample_seconds": NUMBER,
        "window_s": NUMBER,
        "ttl_sample_keys": int,
        "largest_keys": int,
        "memory_samples": int,
        "latency_samples": int,
    },
    "http": {
        "connect_timeout_s": NUMBER,
        "max_seconds": NUMBER,  # this target's share of the audit's time (default: all of it)
        "timeout_s": NUMBER,
        "insecure": bool,
        "max_requests": int,
        "max_rate": NUMBER,
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
        "max_assets": int,
        "asset_hosts": [str],
        "cors_origin": str,  # an origin the API allows; its preflight must be answered
        # The latency run (api.latency, api.ttfb), per endpoint.
        "load": {"requests": int, "rate": NUMBER, "warmup": int, "concurrency": int, "max_seconds": NUMBER},
        # Opt-in bursts (0 = off): they send more than an ordinary audit does.
        "rate_limit_burst": {"requests": int, "endpoint": str},
        "socketio_burst": {"messages": int, "event": str, "data": (str, int, float, dict, list), "namespace": str},
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
    "postgres": {"connect_timeout_s": 5, "statement_timeout_ms": 5000, "lock_timeout_ms": 1000, "schemas": []},
    # The key scan stops at sample_keys or sample_seconds, whichever comes first; the hit-rate
    # window (window_s) runs meanwhile. See collectors/redis.py for what each one costs.
    "redis": {"connect_timeout_s": 5, "sample_keys": 1_000_000, "sample_seconds": 1.0, "window_s": 1.0,
              "ttl_sample_keys": 10_000, "largest_keys": 256, "memory_samples": 5, "latency_samples": 200},
    "http": {"connect_timeout_s": 5, "timeout_s": 10, "insecure": False, "max_requests": 2000,
             "max_rate": 200, "endpoints": [],
             "health_path": "/health", "metrics_path": "/metrics", "socketio_path": "/socket.io/",
             "discover_assets": True, "max_assets": 20, "asset_hosts": [], "cors_origin": "",
             "load": {"requests": 200, "rate": 50, "warmup": 10, "concurrency": 10, "max_seconds": 20},
             "rate_limit_burst": {"requests": 0, "endpoint": ""},
             "socketio_burst": {"messages": 0, "event": "message", "data": "perfcheck", "namespace": "/"}},
}

ENV_TARGETS = {"db": "DATABASE_URL", "redis": "REDIS_URL", "url": "PERFCHECK_URL"}
TARGET_SCHEMES = {
    "db": ("postgres", "postgresql"),
    "redis": ("redis", "rediss", "unix"),
    "url": ("http", "https"),
}
TARGET_FLAGS = {"db": "--db", "redis": "--redis", "url": "--url"}


@dataclass
class Config:
    data: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    source: str = "defaults"

    def target(self, name: str) -> str | None:
        return self.data["targets"].get(name)

    def section(self, name: str) -> dict[str, Any]:
        return self.data[name]

    @property
    def secrets(self) -> list[str]:
        found: list[str] = []
        for url in self.data["targets"].values():
            found += redact.secrets_in_url(url)
        return found

    def redacted_targets(self) -> dict[str, str]:
        return {name: redact.redact_url(url) for name, url in self.data["targets"].items()}

    def check_overrides(self, check_id: str) -> dict[str, Any]:
        return self.data["checks"].get(check_id, {})


def _type_name(expected: Any) -> str:
    if isinstance(expected, tuple):
        return " or ".join(_type_name(t) for t in expected)
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false",
            list: "a list", dict: "a mapping"}.get(expected, getattr(expected, "__name__", str(expected)))


def _validate(value: Any, shape: Any, where: str) -> None:
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where or 'top level'}: expected a mapping, got {type(value).__name__}")
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if "*" in shape:
                _validate(item, shape["*"], inner)
            elif key not in shape:
                known = ", ".join(sorted(shape))
                raise ConfigError(f"{where or 'top level'}: unknown key {key!r} (known: {known})")
            else:
                _validate(item, shape[key], inner)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            _validate(item, shape[0], f"{where}[{i}]")
    else:
        # bool is an int in Python; don't let `true` pass as a number.
        if isinstance(value, bool) and shape is not bool and not (isinstance(shape, tuple) and bool in shape):
            raise ConfigError(f"{where}: expected {_type_name(shape)}, got true/false")
        if not isinstance(value, shape):
            raise ConfigError(f"{where}: expected {_type_name(shape)}, got {type(value).__name__}")


# What an endpoint is for: which probes and checks use it (see collectors/http.py).
ENDPOINT_KINDS = ("api", "list", "write", "html", "static", "image", "media")
READ_METHODS = ("GET", "HEAD")
WRITE_METHODS = ("POST", "PUT", "PATCH")


def _validate_http(http: dict[str, Any]) -> None:
    """What the shape alone can't say: kinds, methods, paths, names. The audit sends
    no write except to endpoints of kind `write` (the validation probe)."""
    names: set[str] = set()
    for i, ep in enumerate(http.get("endpoints") or []):
        where = f"http.endpoints[{i}]"
        path = ep.get("path")
        if not path:
            raise ConfigError(f"{where}: 'path' is required, e.g. path: /api/items")
        if not path.startswith("/"):
            raise ConfigError(f"{where}.path: {path!r} must start with / (it is joined to the base URL)")
        kind = ep.get("kind", "api")
        if kind not in ENDPOINT_KINDS:
            raise ConfigError(f"{where}.kind: unknown kind {kind!r} (known: {', '.join(ENDPOINT_KINDS)})")
        method = ep.get("method", "POST" if kind == "write" else "GET").upper()
        allowed = WRITE_METHODS if kind == "write" else READ_METHODS
        if method not in allowed:
            hint = "" if kind == "write" else " (only endpoints of kind: write are sent other methods)"
            raise ConfigError(f"{where}.method: {method} is not allowed for kind {kind} "
                              f"(allowed: {', '.join(allowed)}){hint}")
        status = ep.get("status", 200)
        if not 100 <= status <= 599:
            raise ConfigError(f"{where}.status: {status} is not an HTTP status")
        name = ep.get("name") or f"{method} {path}"
        if name in names:
            raise ConfigError(f"{where}.name: {name!r} is used twice; endpoint names must be unique")
        names.add(name)
    for key in ("health_path", "metrics_path", "socketio_path"):
        value = http.get(key)
        if value and not value.startswith("/"):
            raise ConfigError(f"http.{key}: {value!r} must start with / (or be \"\" to turn the probe off)")
    for key in ("max_requests", "max_rate", "timeout_s", "connect_timeout_s"):
        if key in http and http[key] <= 0:
            raise ConfigError(f"http.{key}: must be greater than 0")
    for section, key in (("rate_limit_burst", "requests"), ("socketio_burst", "messages")):
        if (http.get(section) or {}).get(key, 0) < 0:
            raise ConfigError(f"http.{section}.{key}: must be 0 (off) or more")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate_target_url(name: str, url: str) -> None:
    """A malformed target URL is a configuration error (exit 2), caught before connecting."""
    from urllib.parse import urlsplit

    shown = redact.redact_url(url)
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
        from urllib.parse import parse_qs

        db = parse_qs(parts.query).get("db", [""])[0] or (parts.path.strip("/") if parts.scheme != "unix" else "")
        if db and not db.isdigit():
            raise ConfigError(f"--redis: URL {shown}: the database number must be a whole number, not {db!r}")


def read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    # A section left with only comments in it reads as null: treat it as absent.
    data = {key: value for key, value in data.items() if value is not None}
    try:
        _validate(data, SCHEMA, "")
        _validate_http(data.get("http") or {})
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return data


def load(
    path: str | None = None,
    *,
    targets: dict[str, str | None] | None = None,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """The configuration: file (explicit, or ./perfcheck.yaml when present), then
    environment variables, then flags."""
    environ = os.environ if environ is None else environ
    data = copy.deepcopy(DEFAULTS)
    source = "defaults"
    file = Path(path) if path else Path("perfcheck.yaml")
    if path or file.exists():
        data = _merge(data, read_file(file))
        source = str(file)
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
        _validate(data, SCHEMA, "")
        _validate_http(data["http"])
    for where, value in [("max_seconds", data["max_seconds"])] + [
            (f"{t}.max_seconds", data[t]["max_seconds"]) for t in ("postgres", "redis", "http") if "max_seconds" in data[t]]:
        if not value > 0:
            raise ConfigError(f"{where}: must be greater than 0, not {value:g}")
    for name, url in data["targets"].items():
        validate_target_url(name, url)
    return Config(data, source)
