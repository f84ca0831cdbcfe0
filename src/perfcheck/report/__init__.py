"""Views of a `Report`. JSON is the canonical form; every other format reads only the Report.

`config_file` is the perfcheck.yaml the audit read, as a repository-relative path (or
None): the one real file that SARIF, GitLab and GitHub annotations can point a finding at."""

from __future__ import annotations

from typing import Callable

from perfcheck.model import Report
from perfcheck.report.links import CHECKS_PAGE, DEFAULT_CONFIG_PATH, anchor, help_uri, repository_path  # noqa: F401  (the package's API)


def render(report: Report, fmt: str, *, color: bool = False, width: int = 100, config_file: str | None = None,
           display: object = None) -> str:
    """`display` (report.console.Display): the terminal view's width, colours and detail,
    when known; else `width` and `color`."""
    return FORMATS[fmt](report, color=color, width=width, config_file=config_file, display=display)


def _json(report: Report, **_: object) -> str:
    from perfcheck.report.json_report import to_json  # why: only the chosen format loads (rich alone is ~40 ms of start-up)

    return to_json(report)


def _terminal(report: Report, color: bool = False, width: int = 100, display: object = None, **_: object) -> str:
    from perfcheck.report.terminal import to_text  # why: only the chosen format loads (rich alone is ~40 ms of start-up)

    return to_text(report, color=color, width=width, display=display)  # type: ignore[arg-type]


def _markdown(report: Report, **_: object) -> str:
    from perfcheck.report.markdown import to_markdown  # why: only the chosen format loads (rich alone is ~40 ms of start-up)

    return to_markdown(report)


def _sarif(report: Report, config_file: str | None = None, **_: object) -> str:
    from perfcheck.report.sarif import to_sarif  # why: only the chosen format loads (rich alone is ~40 ms of start-up)

    return to_sarif(report, config_file=config_file)


def _junit(report: Report, **_: object) -> str:
    from perfcheck.report.junit import to_junit  # why: only the chosen format loads (rich alone is ~40 ms of start-up)

    return to_junit(report)


def _html(report: Report, **_: object) -> str:
    from perfcheck.report.html import to_html  # why: only the chosen format loads (rich alone is ~40 ms of start-up)

    return to_html(report)


def _github(report: Report, config_file: str | None = None, **_: object) -> str:
    from perfcheck.report.github import to_github  # why: only the chosen format loads (rich alone is ~40 ms of start-up)

    return to_github(report, file=config_file)


def _gitlab(report: Report, config_file: str | None = None, **_: object) -> str:
    from perfcheck.report.gitlab import to_gitlab  # why: only the chosen format loads (rich alone is ~40 ms of start-up)

    return to_gitlab(report, path=config_file)


FORMATS: dict[str, Callable[..., str]] = {"terminal": _terminal, "json": _json, "markdown": _markdown, "sarif": _sarif,
                                          "junit": _junit, "html": _html, "github": _github,
                                          "gitlab": _gitlab}
# The file each format is written to with --output-dir (perfcheck-report.<extension>).
EXTENSIONS = {"terminal": "txt", "json": "json", "markdown": "md", "sarif": "sarif", "junit": "xml", "html": "html",
              "github": "github.txt", "gitlab": "gitlab.json"}
