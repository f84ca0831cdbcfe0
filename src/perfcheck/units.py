"""Numbers as a person reads them in a report."""

from __future__ import annotations

import re
from typing import Any


def format_bytes(size: float | None) -> str:
    """1536 → '1.5 kB'; None → '?'."""
    if size is None:
        return "?"
    for unit in ("bytes", "kB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


def window_seconds(window: Any) -> float:
    """`5m`, `30s`, `1h`, `90` (seconds) -> seconds; ValueError otherwise."""
    if isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = float(window)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", str(window))
        if not match:
            raise ValueError(f"{window!r} is not a duration (e.g. 30s, 5m, 1h)")
        seconds = float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[match.group(2)]
    if not 1 <= seconds <= 31 * 86400:
        raise ValueError(f"{window!r} must be between 1 s and 31 days")
    return seconds
