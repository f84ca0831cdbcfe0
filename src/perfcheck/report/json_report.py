"""The canonical form of a report: the `perfcheck.report/1` JSON contract (docs/report.md)."""

from __future__ import annotations

import json
from pathlib import Path

from perfcheck.report import jsontext
from perfcheck.model import Report


def _default(value: object) -> object:
    # Facts may carry Decimals or datetimes from a driver; the report keeps them readable.
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[attr-defined]
    if hasattr(value, "__float__"):
        return float(value)  # type: ignore[arg-type]
    return str(value)


def to_json(report: Report) -> str:
    return jsontext.dumps(report.to_dict(), default=_default) + "\n"  # json.dumps(indent=2)'s bytes


def read(path: str | Path) -> Report:
    """A saved JSON report (for --baseline and `compare`)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    try:
        return Report.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a perfcheck report: {exc}") from None
