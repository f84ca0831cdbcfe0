"""`perfcheck trend DIR --html FILE`: the history as one self-contained HTML page, a line
chart (inline SVG, no script) for the score and for P95 of each endpoint, per target."""

from __future__ import annotations

import html
from typing import Any

from perfcheck.history import trend_rows

WIDTH, HEIGHT, PAD = 560, 160, 40


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def chart(title: str, unit: str, values: list[float | None], labels: list[str]) -> str:
    """One line chart; a run without a value leaves a gap in the line."""
    known = [v for v in values if v is not None]
    if not known:
        return f"<h3>{_e(title)}</h3><p>no value recorded</p>"
    low, high = (0.0, 100.0) if title == "score" else (0.0, max(known) * 1.1 or 1.0)
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD + i * step, HEIGHT - PAD - (v - low) / (high - low) * (HEIGHT - 2 * PAD)

    segments, current = [], []
    for i, v in enumerate(values):
        if v is None:
            if current:
                segments.append(current)
            current = []
            continue
        current.append(xy(i, v))
    if current:
        segments.append(current)
    lines = "".join('<polyline fill="none" stroke="#2563eb" stroke-width="2" points="'
                    + " ".join(f"{x:.1f},{y:.1f}" for x, y in seg) + '"/>' for seg in segments)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2563eb">'
                   f"<title>{_e(labels[i])}: {v:g}{_e(unit)}</title></circle>"
                   for i, v in enumerate(values) if v is not None for x, y in [xy(i, v)])
    axis = (f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
            f'<text x="4" y="{PAD}" font-size="11">{high:g}{_e(unit)}</text>'
            f'<text x="4" y="{HEIGHT - PAD}" font-size="11">{low:g}</text>')
    return (f"<h3>{_e(title)}</h3>"
            f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-label="{_e(title)} over {len(values)} runs">{axis}{lines}{dots}</svg>')


def render(runs: list[dict[str, Any]]) -> str:
    targets = list(dict.fromkeys(r.get("target") or "" for r in runs))
    body = []
    for target in targets:
        mine = [r for r in runs if (r.get("target") or "") == target]
        labels = [str(r.get("created_at", "?")) for r in mine]
        if len(targets) > 1:
            body.append(f"<h2>{_e(target or 'default')}</h2>")
        for what, unit, values in trend_rows(mine):
            body.append(chart(what, f" {unit}" if unit else "", values, labels))
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>perfcheck trend</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#111}svg text{font-family:system-ui}</style>"
            f"</head><body><h1>perfcheck trend: {len(runs)} runs</h1>{''.join(body) or '<p>no run recorded yet</p>'}"
            "</body></html>\n")
