"""The HTML view: one self-contained file (no script, no external resource) to open in a
browser or keep as a CI artifact. Score gauges, the gate and the regressions, latency
percentiles as an inline SVG chart per check that measured them (api.latency's
per-endpoint P50/P95/P99, against their targets), then every check with its findings
and fixes. Every string from the audited systems is escaped; a Content-Security-Policy
forbids anything the file itself does not contain.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from html import escape
from typing import Any

from perfcheck import checklist
from perfcheck.model import CheckResult, Report, Status
from perfcheck.report import comparison
from perfcheck.report.text import score_text

PERCENTILES = (("p50_ms", "P50", "#4e79a7"), ("p95_ms", "P95", "#f28e2b"), ("p99_ms", "P99", "#e15759"))
MAX_FINDINGS = 100
_STATUS_ORDER = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.MANUAL: 3, Status.PASS: 4, Status.SKIP: 5}

CSS = """
:root { --pass: #0c7d3f; --warn: #b45f06; --fail: #c5221f; --unknown: #80868b; --ink: #202124; --muted: #5f6368; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 28px 0 10px; } h3 { font-size: 16px; margin: 20px 0 8px; }
.meta { color: var(--muted); font-size: 13px; margin: 0; }
.card { background: #fff; border: 1px solid #dadce0; border-radius: 8px; padding: 16px 20px; margin: 12px 0; }
.gauges { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
/* Rings in one row however long a label is: each label wraps (even a single long word) under its own ring. */
.gauge { text-align: center; width: 110px; display: flex; flex-direction: column; align-items: center; }
.gauge.main { width: 150px; } .gauges .gauge:not(.main) { margin-top: 18px; } /* centred on the bigger ring */
.gauge .label { font-size: 13px; color: var(--muted); max-width: 100%; overflow-wrap: anywhere; hyphens: auto; }
.s-pass { color: var(--pass); } .s-warn { color: var(--warn); } .s-fail { color: var(--fail); } .s-unknown { color: var(--unknown); }
.sev.fail { color: var(--fail); } .sev.warn { color: var(--warn); } .sev.info { color: var(--muted); }
.target-error { color: #a142f4; }
.gate { font-weight: 600; padding: 8px 12px; border-radius: 6px; margin-top: 14px; }
.gate.passed { background: #e6f4ea; color: var(--pass); } .gate.failed { background: #fce8e6; color: var(--fail); }
.gate ul { margin: 4px 0 0; font-weight: 400; }
details.check { background: #fff; border: 1px solid #dadce0; border-left: 5px solid var(--unknown); border-radius: 6px; margin: 8px 0; padding: 8px 14px; }
details.check.pass { border-left-color: var(--pass); } details.check.warn { border-left-color: var(--warn); }
details.check.fail { border-left-color: var(--fail); } details.check.error { border-left-color: #a142f4; }
summary { cursor: pointer; } summary .score { float: right; font-weight: 600; }
.badge { display: inline-block; min-width: 54px; text-align: center; font-size: 12px; font-weight: 700; text-transform: uppercase;
         border-radius: 4px; padding: 0 6px; margin-right: 6px; color: #fff; background: var(--unknown); }
.badge.pass { background: var(--pass); } .badge.warn { background: var(--warn); } .badge.fail { background: var(--fail); } .badge.error { background: #a142f4; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f1f3f4; padding: 1px 4px; border-radius: 3px; }
pre { background: #202124; color: #e8eaed; padding: 10px 12px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; }
pre code { background: none; color: inherit; padding: 0; }
ul.findings { padding-left: 18px; } ul.findings li { margin: 6px 0; }
.sev { font-size: 12px; font-weight: 700; text-transform: uppercase; margin-right: 4px; }
.muted-note { color: var(--muted); font-style: italic; }
.applicability { font-size: 12px; color: var(--muted); }
ul.changes li.regression { color: var(--fail); } ul.changes li.improvement { color: var(--pass); }
svg text { font-family: system-ui, sans-serif; }
table.metrics { border-collapse: collapse; font-size: 13px; } table.metrics td { padding: 1px 10px 1px 0; color: var(--muted); }
.guide { font-size: 14px; margin: 8px 0; } .guide dt { font-weight: 600; } .guide dd { margin: 0 0 6px; }
@media print {
  body { background: #fff; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  .card, details.check { border-color: #bbb; break-inside: avoid; }
  /* Colours carry meaning (pass / warn / fail): keep them on paper. */
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  /* Print every check open: a closed <details> would hide its findings on paper. */
  details.check > *:not(summary) { display: block; }
  details.check::details-content { content-visibility: visible; display: contents; }
  summary { list-style: none; } summary::-webkit-details-marker { display: none; }
  pre { background: #f1f3f4; color: #202124; border: 1px solid #ddd; }
  svg.latency-chart { max-width: 100%; height: auto; }
}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _band(score: int | None) -> str:
    """The CSS class that colours a 0-100 score."""
    if score is None:
        return "s-unknown"
    return "s-pass" if score >= 90 else "s-warn" if score >= 50 else "s-fail"


def _gauge(score: int | None, label: str, size: int = 96) -> str:
    """A Lighthouse-style ring with the score in the middle."""
    r = size / 2 - 7
    circumference = 2 * math.pi * r
    filled = 0 if score is None else circumference * score / 100
    colour = {"s-pass": "#0c7d3f", "s-warn": "#b45f06", "s-fail": "#c5221f", "s-unknown": "#80868b"}[_band(score)]
    c = size / 2
    arc = (f'<circle cx="{c}" cy="{c}" r="{r:.1f}" fill="none" stroke="{colour}" stroke-width="8" stroke-linecap="round" '
           f'stroke-dasharray="{filled:.1f} {circumference:.1f}" transform="rotate(-90 {c} {c})"/>') if filled else ""
    return (
        f'<svg class="gauge-ring" width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img" aria-label="{_e(label)}: {score_text(score)}">'
        f'<circle cx="{c}" cy="{c}" r="{r:.1f}" fill="none" stroke="#e8eaed" stroke-width="8"/>{arc}'
        f'<text x="{c}" y="{c}" dy="0.35em" text-anchor="middle" font-size="{size * 0.3:.0f}" font-weight="700" fill="{colour}">{score_text(score)}</text>'
        "</svg>"
    )


def readable_time(stamp: str) -> str:
    """2026-12-05T08:41:07+00:00 → "5 Dec 2026 08:41 UTC"; anything else is shown as it is."""
    try:
        moment = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return stamp
    if moment.tzinfo is None:
        return f"{moment.day} {moment:%b %Y %H:%M}"  # no offset given: don't claim it is UTC
    moment = moment.astimezone(timezone.utc)
    return f"{moment.day} {moment:%b %Y %H:%M} UTC"


def _when(stamp: str) -> str:
    if not stamp:
        return ""
    return f'<time datetime="{_e(stamp)}">{_e(readable_time(stamp))}</time> · '


def _gate_ran(gate: dict[str, Any]) -> bool:
    """Every audit records a gate; with no condition configured it passed with nothing to
    say, which is not a gate a reader needs to see."""
    return not gate.get("passed", True) or bool(gate.get("failures")) or bool(gate.get("warnings"))


def _header(report: Report) -> str:
    targets = " · ".join(f"{_e(name)}: {_e(url)}" for name, url in report.targets.items())
    parts = [
        "<header>",
        "<h1>perfcheck report</h1>",
        f'<p class="meta">{targets}{" · " if targets else ""}{_when(report.created_at)}perfcheck {_e(report.version)} · {report.duration_s:.1f} s</p>',
        '<div class="card gauges">',
        f'<div class="gauge main">{_gauge(report.score, "Overall score", 132)}<div class="label">Overall <span class="score-text {_band(report.score)}">{score_text(report.score)}</span>/100</div></div>',
    ]
    for cat in report.categories:
        unknown = f" ({cat.errors} unknown)" if cat.errors else ""
        parts.append(f'<div class="gauge">{_gauge(cat.score, cat.title)}<div class="label">{_e(cat.title)}{_e(unknown)}</div></div>')
    parts.append("</div>")
    for error in report.errors:
        parts.append(f'<p class="target-error">! {_e(error)}</p>')
    for note in report.notes:
        parts.append(f'<p class="target-note">{_e(note)}</p>')
    gate = report.gate
    if isinstance(gate, dict) and _gate_ran(gate):
        state = "passed" if gate.get("passed") else "failed"
        items = "".join(f"<li>{_e(line)}</li>" for line in gate.get("failures", []))
        items += "".join(f"<li>warning: {_e(line)}</li>" for line in gate.get("warnings", []))
        parts.append(f'<div class="gate {state}">Gate {state}{f"<ul>{items}</ul>" if items else ""}</div>')
    parts.append("</header>")
    return "\n".join(parts)


def _regressions(report: Report) -> str:
    comp = comparison.of(report)
    if comp is None:
        return ""
    headline = comparison.headline(comp)
    if comp.baseline_created_at:  # the baseline's time as the header shows this run's
        headline = headline.replace(comp.baseline_created_at, readable_time(comp.baseline_created_at))
    out = ['<section id="regressions"><h2>Regressions</h2><div class="card">', f"<p><strong>{_e(headline)}</strong></p>"]
    for attr, heading, _style, _mark in comparison.SECTIONS:
        changes = getattr(comp, attr)
        if not changes:
            continue
        kind = "regression" if attr == "regressions" else "improvement" if attr == "improvements" else "note"
        items = "".join(f'<li class="{kind}">{_e(c.message)}{f" <span class=muted-note>(muted: {_e(c.muted)})</span>" if c.muted else ""}</li>'
                        for c in changes)
        out.append(f"<h3>{_e(heading)} ({len(changes)})</h3><ul class=\"changes\">{items}</ul>")
    out.append("</div></section>")
    return "\n".join(out)


# --- the latency chart ------------------------------------------------------------------

def latency_series(result: CheckResult) -> list[tuple[str, dict[str, float]]]:
    """(row label, {p50_ms: …}) for each endpoint (or the check itself) with percentiles."""
    def pick(data: dict[str, Any]) -> dict[str, float]:
        return {key: float(data[key]) for key, _, _ in PERCENTILES
                if isinstance(data.get(key), (int, float)) and not isinstance(data.get(key), bool)}

    rows = []
    endpoints = result.metrics.get("endpoints")
    if isinstance(endpoints, dict):
        for name, data in endpoints.items():
            if isinstance(data, dict) and pick(data):
                rows.append((str(name), pick(data)))
    if not rows and pick(result.metrics):
        rows.append((result.id, pick(result.metrics)))
    return rows


def _targets(result: CheckResult) -> dict[str, float]:
    stated = result.metrics.get("targets_ms")  # api.latency states the budget it judged by
    source = stated if isinstance(stated, dict) else (checklist.meta(result.id).thresholds if checklist.meta(result.id) else {})
    return {key: float(source[key]) for key, _, _ in PERCENTILES
            if isinstance(source.get(key), (int, float)) and not isinstance(source.get(key), bool)}


def _nice_step(top: float) -> float:
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _chart(result: CheckResult) -> str:
    rows = latency_series(result)
    # Only the percentiles that have a bar: a legend entry or target line for a missing one misleads.
    present = [p for p in PERCENTILES if any(p[0] in values for _, values in rows)]
    targets = {key: value for key, value in _targets(result).items() if any(key == p[0] for p in present)}
    label_w, plot_w, bar_h, gap, top_pad = 230, 640, 11, 16, 34
    row_h = bar_h * len(present) + gap
    height = top_pad + row_h * len(rows) + 26
    top = max([v for _, values in rows for v in values.values()] + list(targets.values()) + [1.0]) * 1.12
    step = _nice_step(top)
    top = step * math.ceil(top / step)

    def x(value: float) -> float:
        return label_w + plot_w * value / top

    parts = [f'<svg class="latency-chart" width="{label_w + plot_w + 70}" height="{height}" viewBox="0 0 {label_w + plot_w + 70} {height}" '
             f'role="img" aria-label="Latency percentiles of {_e(result.id)}">']
    for i, (_, name, colour) in enumerate(present):  # legend
        parts.append(f'<rect x="{label_w + i * 90}" y="6" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{label_w + i * 90 + 17}" y="16" font-size="12">{name}</text>')
    tick = 0.0
    while tick <= top + 1e-9:
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top_pad - 6}" y2="{height - 22}" stroke="#e8eaed"/>'
                     f'<text x="{x(tick):.1f}" y="{height - 8}" font-size="11" fill="#5f6368" text-anchor="middle">{tick:g} ms</text>')
        tick += step
    for r, (label, values) in enumerate(rows):
        y0 = top_pad + r * row_h
        shown = label if len(label) <= 34 else label[:33] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y0 + bar_h * len(present) / 2 + 4:.1f}" font-size="12" text-anchor="end">{_e(shown)}<title>{_e(label)}</title></text>')
        for i, (key, name, colour) in enumerate(present):
            if key not in values:
                continue
            value = values[key]
            y = y0 + i * bar_h
            parts.append(f'<rect x="{label_w}" y="{y}" width="{max(1.0, x(value) - label_w):.1f}" height="{bar_h - 2}" fill="{colour}">'
                         f'<title>{_e(label)} {name}: {value:.1f} ms</title></rect>'
                         f'<text x="{x(value) + 4:.1f}" y="{y + bar_h - 3}" font-size="10" fill="#3c4043">{value:.1f}</text>')
    for key, name, colour in PERCENTILES:  # target lines
        if key in targets:
            parts.append(f'<line x1="{x(targets[key]):.1f}" x2="{x(targets[key]):.1f}" y1="{top_pad - 6}" y2="{height - 22}" '
                         f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="4 3"><title>{name} target {targets[key]:g} ms</title></line>')
    parts.append("</svg>")
    note = ", ".join(f"{name} &lt; {targets[key]:g} ms" for key, name, _ in PERCENTILES if key in targets)
    caption = f"<p class=\"meta\">Dashed lines: the targets ({note}).</p>" if note else ""
    return f'<div class="card"><h3><code>{_e(result.id)}</code> {_e(result.title)}</h3>{"".join(parts)}{caption}</div>'


def _latency(report: Report) -> str:
    charts = [_chart(r) for r in report.checks if latency_series(r)]
    body = "".join(charts) if charts else '<p class="meta">No latency percentiles in this report (api.latency did not run or measured nothing).</p>'
    return f'<section id="latency"><h2>Latency percentiles</h2>{body}</section>'


# --- the checks -----------------------------------------------------------------------------

def _scalars(metrics: dict[str, Any]) -> str:
    rows = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None][:20]
    if not rows:
        return ""
    cells = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="metrics">{cells}</table>'


def _check(result: CheckResult) -> str:
    status = result.status.value
    score = "" if result.score is None else f'<span class="score {_band(round(result.score * 100))}">{round(result.score * 100)}</span>'
    muted = f' <span class="muted-note">(muted: {_e(result.muted)})</span>' if result.muted else ""
    opened = " open" if result.status in (Status.FAIL, Status.WARN, Status.ERROR) else ""
    out = [f'<details class="check {status}" id="{_e(result.id)}"{opened}><summary><span class="badge {status}">{status}</span>'
           f"<code>{_e(result.id)}</code> {_e(result.title)}{muted}{score}</summary>",
           f"<p>{_e(result.summary)}</p>"]
    if result.findings:
        out.append('<ul class="findings">')
        for finding in result.findings[:MAX_FINDINGS]:
            note = f' <span class="muted-note">(muted: {_e(finding.muted)})</span>' if finding.muted else ""
            out.append(f'<li><span class="sev {_e(finding.severity)}">{_e(finding.severity)}</span><code>{_e(finding.object)}</code> '
                       f"{_e(finding.message)}{note}")
            if finding.fix:
                out.append(f'<div class="applicability">fix ({_e(finding.fix.applicability.value)}):</div>'
                           f"<pre><code>{_e(finding.fix.text)}</code></pre>")
            out.append("</li>")
        if len(result.findings) > MAX_FINDINGS:
            out.append(f"<li>… and {len(result.findings) - MAX_FINDINGS} more (see the JSON report)</li>")
        out.append("</ul>")
    out.append(_scalars(result.metrics))
    out.append(_guide(result.id))
    out.append("</details>")
    return "\n".join(out)


def _guide(check_id: str) -> str:
    """Why the check matters and how to fix what it finds, from the checklist."""
    meta = checklist.meta(check_id)
    if meta is None:  # a plugin's check without checklist data
        return ""
    items = "".join(f"<dt>{label}</dt><dd>{_e(' '.join(str(text).split()))}</dd>"
                    for label, text in (("Why it matters", meta.why), ("How to fix it", meta.how_to_fix)) if text)
    return f'<dl class="guide">{items}</dl>' if items else ""


def _checks(report: Report) -> str:
    out = ['<section id="checks"><h2>Checks</h2>']
    scores = {c.id: c for c in report.categories}
    for category in dict.fromkeys(r.category for r in report.checks):
        cat = scores.get(category)
        title = cat.title if cat else category
        score = f' <span class="{_band(cat.score)}">{score_text(cat.score)}</span>' if cat else ""
        out.append(f"<h3>{_e(title)}{score}</h3>")
        members = sorted((r for r in report.checks if r.category == category), key=lambda r: _STATUS_ORDER[r.status])
        out += [_check(r) for r in members]
    out.append("</section>")
    return "\n".join(out)


def to_html(report: Report) -> str:
    title = f"perfcheck report: {score_text(report.score)}/100"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style></head>",
        "<body><main>",
        _header(report),
        _regressions(report),
        _latency(report),
        _checks(report),
        f'<footer class="meta">Generated by perfcheck {_e(report.version)}.</footer>',
        "</main></body></html>",
    ]) + "\n"
