"""Numbers as a person reads them in a report."""

from __future__ import annotations


def format_bytes(size: float | None) -> str:
    """1536 → '1.5 kB'; None → '?'."""
    if size is None:
        return "?"
    for unit in ("bytes", "kB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover
