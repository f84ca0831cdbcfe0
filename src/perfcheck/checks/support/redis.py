"""Helpers shared by `cache.big_keys`, `cache.commands`, `cache.eviction`, `cache.hit_rate`, `cache.latency`, `cache.memory`, `cache.ttl`."""

from __future__ import annotations

from typing import Any

from perfcheck.scoring import status_for

MB = 1024 * 1024


def severity(score: float) -> str:
    status = status_for(score).value
    return "info" if status == "pass" else status


def window_of(facts: Any) -> dict[str, Any] | None:
    """The hit-rate window when another selected check had it gathered."""
    window = facts.get("redis.window")
    return window if isinstance(window, dict) else None


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def suggest_maxmemory(used: int, system: int) -> str:
    """A starting point a person can adjust: room for twice today's data, at least 256 MB,
    never more than three quarters of the host's RAM."""
    size = max(2 * used, 256 * MB)
    if system:
        size = min(size, int(system * 0.75))
    if size >= 1024 * MB and size % (1024 * MB) < 64 * MB:
        return f"{size // (1024 * MB)}gb"
    return f"{-(-size // MB)}mb"
