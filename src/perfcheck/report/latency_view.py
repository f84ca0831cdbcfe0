"""The latency run in the terminal: per-endpoint P50/P95/P99 against the targets, how much
of them was perfcheck's own time, and a small histogram of the slowest endpoint. Drawn for
any check whose metrics carry `endpoints` with percentiles and `targets_ms` (api.latency)."""

from __future__ import annotations

from typing import Any

from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from perfcheck.model import CheckResult

PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")
BAR_WIDTH = 30
MAX_ROWS = 12


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def _style(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return "magenta" if value is None else ""
    return "green" if value <= target else "yellow" if value <= 2 * target else "red"


def _bucket_label(le_ms: float) -> str:
    return f"≤ {le_ms:g} ms" if le_ms < 1000 else f"≤ {le_ms / 1000:g} s"


def _histogram(name: str, data: dict[str, Any]) -> list:
    buckets = [b for b in data.get("histogram") or [] if isinstance(b, dict)]
    if not buckets:
        return []
    most = max(b.get("count", 0) for b in buckets) or 1
    lines: list = [Text(f"  latency histogram of {name} ({data.get('count', 0)} requests)", "dim")]
    width = max(len(_bucket_label(b["le_ms"])) for b in buckets)
    for bucket in buckets:
        count = bucket.get("count", 0)
        bar = "█" * round(BAR_WIDTH * count / most) if count else ""
        lines.append(Text.assemble(f"    {_bucket_label(bucket['le_ms']):>{width}} ", ("│", "dim"),
                                   (bar, "cyan"), f" {count}" if count else ""))
    return lines


def endpoint_label(name: str, data: dict[str, Any]) -> str:
    """The endpoint's name, with its method and path beside a name the config gave it:
    `home (GET /)`."""
    method, path = data.get("method"), data.get("path")
    if not method or not path or name == f"{method} {path}":
        return name
    return f"{name} ({method} {path})"


def own_share(endpoints: dict[str, Any]) -> dict[str, float]:
    """The most any endpoint's percentile owes to perfcheck itself (`own_ms` of its own
    load run: late sends, a busy event loop), per percentile; {} for figures it did not
    measure itself (Prometheus, Locust)."""
    owns = [data["own_ms"] for data in endpoints.values() if isinstance(data, dict) and isinstance(data.get("own_ms"), dict)]
    return {key: max(own.get(key) or 0.0 for own in owns) for key in PERCENTILES} if owns else {}


def lines(result: CheckResult) -> list:
    """Renderables to print under the check; [] when its metrics carry no latency run."""
    metrics = result.metrics or {}
    endpoints, targets = metrics.get("endpoints"), metrics.get("targets_ms")
    if not isinstance(endpoints, dict) or not isinstance(targets, dict) or not endpoints:
        return []
    # One line per endpoint: the figures never wrap; a long endpoint name wraps at its spaces.
    table = Table(box=None, padding=(0, 1), collapse_padding=True, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("endpoint", overflow="fold", min_width=8)
    for key in PERCENTILES:
        table.add_column(f"{key[:3].upper()} <{targets.get(key, 0):g}", justify="right", no_wrap=True)
    table.add_column("max", justify="right", no_wrap=True)
    table.add_column("requests", justify="right", no_wrap=True)
    ranked = sorted(endpoints.items(), key=lambda kv: (kv[1].get("score") if kv[1].get("score") is not None else 1.0))
    for name, data in ranked[:MAX_ROWS]:
        failed = sum(data.get(k) or 0 for k in ("errors", "timeouts", "unfinished"))
        count = f"{data.get('count', 0)}" + (f" ({failed} failed)" if failed else "")
        table.add_row(endpoint_label(name, data), *[Text(_ms(data.get(k)), _style(data.get(k), targets.get(k))) for k in PERCENTILES],
                      _ms(data.get("max_ms")), Text(count, "red" if failed else ""))
    out: list = [Padding(table, (0, 0, 0, 2))]
    if len(ranked) > MAX_ROWS:
        out.append(Text(f"  … and {len(ranked) - MAX_ROWS} more endpoints (see --format json)", "dim"))
    own = own_share(endpoints)
    if own:
        out.append(Text("  of which perfcheck's own time, at most: " + ", ".join(
            f"{key[:3].upper()} {_ms(value)}" for key, value in own.items()), "dim"))
    slowest_name, slowest = ranked[0]
    return out + _histogram(slowest_name, slowest)
