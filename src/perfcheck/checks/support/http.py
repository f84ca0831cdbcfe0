"""Reading the HTTP collector's recorded answers ("exchanges"): headers, content types,
cache directives, leaked stack traces. Pure helpers shared by the HTTP checks."""

from __future__ import annotations

import re
from typing import Any


def answered_2xx(e: dict[str, Any]) -> bool:
    return e.get("status") is not None and 200 <= e["status"] < 300


MODERN = ("image/webp", "image/avif", "image/svg+xml", "image/jxl")


def answered_200(assets: list[dict]) -> list[dict]:
    return [a for a in assets if a.get("status") == 200]


def human_seconds(s: int | None) -> str:
    if s is None:
        return "none"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit}" if s % size == 0 else f"{s / size:.1f} {unit}"
    return f"{s} s"


COMPRESSIBLE = ("text/", "json", "javascript", "ecmascript", "xml", "svg", "wasm", "font/ttf", "font/otf",
                "x-font-ttf", "vnd.ms-fontobject", "graphql", "csv")


CODINGS = ("gzip", "br", "zstd", "deflate", "x-gzip")


# Stack traces as Python, Node, Java, Ruby, PHP, .NET and Go print them.
_TRACEBACK = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|^\s+at [\w$.<>]+ \(.*:\d+:\d+\)"
    r"|^\s+at [\w$.]+\([\w]+\.java:\d+\)|Exception in thread|\.rb:\d+:in `|Stack trace:|#\d+ /.*\.php\(\d+\)"
    r"|^\s+at .*\.cs:line \d+|goroutine \d+ \[running\]",
    re.M,
)


EDGE_HEADERS = ("cache-status", "cf-cache-status", "x-cache", "x-cache-status", "x-proxy-cache", "x-vercel-cache",
                "x-served-by", "x-fastly-request-id", "x-amz-cf-id", "x-akamai-cache-status", "cdn-cache-control")


def header(exchange: dict[str, Any], name: str) -> str:
    return (exchange.get("headers") or {}).get(name.lower(), "")


def media_type(exchange: dict[str, Any]) -> str:
    return (exchange.get("content_type") or "").split(";", 1)[0].strip().lower()


def is_compressible(exchange: dict[str, Any]) -> bool:
    mt = media_type(exchange)
    return any(t in mt for t in COMPRESSIBLE) and not mt.startswith(("audio/", "video/"))


def is_json(exchange: dict[str, Any]) -> bool:
    mt = media_type(exchange)
    return mt == "application/json" or mt.endswith("+json")


def is_html(exchange: dict[str, Any]) -> bool:
    return media_type(exchange) in ("text/html", "application/xhtml+xml")


def compressed(exchange: dict[str, Any]) -> bool:
    return any(c in (exchange.get("content_encoding") or "") for c in CODINGS)


def body_size(exchange: dict[str, Any]) -> int:
    """Decoded size when known, else what went over the wire."""
    return exchange.get("body_bytes") or exchange.get("wire_bytes") or 0


def cache_control(exchange: dict[str, Any]) -> dict[str, str | bool]:
    """Cache-Control directives, lower-cased: {"max-age": "3600", "immutable": True}."""
    out: dict[str, str | bool] = {}
    for part in header(exchange, "cache-control").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        out[key.strip().lower()] = value.strip().strip('"') if sep else True
    return out


def max_age(directives: dict[str, str | bool]) -> int | None:
    """The freshness lifetime a browser or CDN would use (s-maxage first for shared caches)."""
    for key in ("s-maxage", "max-age"):
        value = directives.get(key)
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
    return None


def traceback_in(exchange: dict[str, Any]) -> str | None:
    """The first line of a stack trace in the body, if one leaked."""
    match = _TRACEBACK.search(exchange.get("text") or "")
    return match.group(0).strip()[:120] if match else None


def kib(n: int | None) -> str:
    """A size as people read it (decimal kB, like the thresholds in bytes)."""
    if n is None:
        return "?"
    return f"{n} B" if n < 1000 else f"{n / 1000:.1f} kB"


def names(items: list[str], limit: int = 3) -> str:
    """"a, b and c" or "a, b, c and 4 more": which ones, named in a summary."""
    shown = list(dict.fromkeys(items))
    if len(shown) > limit:
        return f"{', '.join(shown[:limit])} and {len(shown) - limit} more"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def label(exchange: dict[str, Any]) -> str:
    """How a finding names the request: 'GET /api/items'."""
    return exchange.get("name") or f"{exchange.get('method', 'GET')} {exchange.get('path', '/')}"


def failed(exchange: dict[str, Any]) -> str | None:
    """Why the request got no HTTP answer, if it didn't."""
    return exchange.get("error") if exchange.get("status") is None else None


def share_score(good: float, total: float) -> float:
    return 1.0 if total <= 0 else good / total
