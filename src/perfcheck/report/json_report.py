"""The canonical form of a report: the `perfcheck.report/1` JSON contract (CHECKLIST.md)."""

from __future__ import annotations

import json
from pathlib import Path

from perfcheck.model import SCHEMA, Report


def _default(value: object) -> object:
    # Facts may carry Decimals or datetimes from a driver; the report keeps them readable.
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[attr-defined]
    if hasattr(value, "__float__"):
        return float(value)  # type: ignore[arg-type]
    return str(value)


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=_default, ensure_ascii=False) + "\n"


def read(path: str | Path) -> Report:
    """A saved JSON report (for --baseline and `compare`)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    except (UnicodeDecodeError, RecursionError):
        raise ValueError(f"{path}: not JSON: not UTF-8 text, or nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a perfcheck report: a JSON {type(data).__name__}, not an object") from None
    schema = data.get("schema")
    if schema != SCHEMA:
        # Name a short version string; never echo a long or odd value from the file.
        named = f" (its schema is {schema!r})" if isinstance(schema, str) and len(schema) <= 40 and schema.isprintable() else ""
        raise ValueError(f"{path}: not a {SCHEMA} report{named}")
    try:
        return Report.from_dict(data)
    except KeyError as exc:
        raise ValueError(f"{path}: not a perfcheck report: a required field is missing ({_short(exc.args[0])})") from None
    except (TypeError, ValueError, AttributeError):
        # The exception would quote the file's value (a status, a number): it could be anything.
        raise ValueError(f"{path}: not a perfcheck report: a field has a value of the wrong type or an unknown value") from None


def _short(name: object) -> str:
    text = str(name)
    return text if len(text) <= 40 and text.isprintable() else "?"
