"""Views of a `Report`. JSON is the canonical form; every other format reads only the Report."""

from __future__ import annotations

from typing import Callable

from ..model import Report


def render(report: Report, fmt: str, *, color: bool = False, width: int = 100) -> str:
    return FORMATS[fmt](report, color=color, width=width)


def _json(report: Report, **_: object) -> str:
    from .json_report import to_json

    return to_json(report)


def _terminal(report: Report, color: bool = False, width: int = 100) -> str:
    from .terminal import to_text

    return to_text(report, color=color, width=width)


FORMATS: dict[str, Callable[..., str]] = {"terminal": _terminal, "json": _json}
