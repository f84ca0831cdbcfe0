"""Views of a `Report`. JSON is the canonical form; every other format reads only the Report."""

from __future__ import annotations

from typing import Callable

from perfcheck.model import Report


def render(report: Report, fmt: str, *, color: bool = False, width: int = 100) -> str:
    return FORMATS[fmt](report, color=color, width=width)


def _json(report: Report, **_: object) -> str:
    from perfcheck.report.json_report import to_json

    return to_json(report)


def _terminal(report: Report, color: bool = False, width: int = 100) -> str:
    from perfcheck.report.terminal import to_text

    return to_text(report, color=color, width=width)


def _markdown(report: Report, **_: object) -> str:
    from perfcheck.report.markdown import to_markdown

    return to_markdown(report)


def _sarif(report: Report, **_: object) -> str:
    from perfcheck.report.sarif import to_sarif

    return to_sarif(report)


def _junit(report: Report, **_: object) -> str:
    from perfcheck.report.junit import to_junit

    return to_junit(report)


def _html(report: Report, **_: object) -> str:
    from perfcheck.report.html import to_html

    return to_html(report)


def _github(report: Report, **_: object) -> str:
    from perfcheck.report.github import to_github

    return to_github(report)


FORMATS: dict[str, Callable[..., str]] = {"terminal": _terminal, "json": _json, "markdown": _markdown, "sarif": _sarif,
                                          "junit": _junit, "html": _html, "github": _github}
# The file each format is written to with --output-dir (perfcheck-report.<extension>).
EXTENSIONS = {"terminal": "txt", "json": "json", "markdown": "md", "sarif": "sarif", "junit": "xml", "html": "html",
              "github": "github.txt"}
