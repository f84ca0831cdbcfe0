"""Views of a `Report`. JSON is the canonical form; every other format reads only the Report.

`config_file` is the perfcheck.yaml the audit read, as a repository-relative path (or
None): the one real file that SARIF, GitLab and GitHub annotations can point a finding at."""

from __future__ import annotations

from typing import Callable

from perfcheck.model import Report


# Each check's why / how to fix, generated from the checklist (python -m perfcheck.docs):
# repository-relative, as perfcheck has no documentation host of its own.
CHECKS_PAGE = "docs/checks.md"


# Where SARIF and GitLab point a finding when no config file was read: the file perfcheck
# reads by default, where a threshold or mute would go. Both readers reject a finding
# without a file (GitHub code scanning rejects the whole SARIF file).
DEFAULT_CONFIG_PATH = "perfcheck.yaml"


def anchor(check_id: str) -> str:
    """The check's anchor in docs/checks.md: db.fk_indexes → db-fk_indexes."""
    return check_id.replace(".", "-")


def help_uri(check_id: str) -> str:
    return f"{CHECKS_PAGE}#{anchor(check_id)}"


def render(report: Report, fmt: str, *, color: bool = False, width: int = 100, config_file: str | None = None,
           display: object = None) -> str:
    """`display` (report.console.Display): the terminal view's width, colours and detail,
    when known; else `width` and `color`."""
    return FORMATS[fmt](report, color=color, width=width, config_file=config_file, display=display)


def repository_path(config_file: str | None) -> str | None:
    """The config file as a path relative to the working directory (the repository, in CI);
    None when there is none or it lies outside, as a link to it would lead nowhere."""
    import os

    if not config_file:
        return None
    relative = os.path.relpath(config_file)
    return None if relative.startswith("..") else relative.replace(os.sep, "/")


def _json(report: Report, **_: object) -> str:
    from perfcheck.report.json_report import to_json

    return to_json(report)


def _terminal(report: Report, color: bool = False, width: int = 100, display: object = None, **_: object) -> str:
    from perfcheck.report.terminal import to_text

    return to_text(report, color=color, width=width, display=display)  # type: ignore[arg-type]


def _markdown(report: Report, **_: object) -> str:
    from perfcheck.report.markdown import to_markdown

    return to_markdown(report)


def _sarif(report: Report, config_file: str | None = None, **_: object) -> str:
    from perfcheck.report.sarif import to_sarif

    return to_sarif(report, config_file=config_file)


def _junit(report: Report, **_: object) -> str:
    from perfcheck.report.junit import to_junit

    return to_junit(report)


def _html(report: Report, **_: object) -> str:
    from perfcheck.report.html import to_html

    return to_html(report)


def _github(report: Report, config_file: str | None = None, **_: object) -> str:
    from perfcheck.report.github import to_github

    return to_github(report, file=config_file)


def _gitlab(report: Report, config_file: str | None = None, **_: object) -> str:
    from perfcheck.report.gitlab import to_gitlab

    return to_gitlab(report, path=config_file)


FORMATS: dict[str, Callable[..., str]] = {"terminal": _terminal, "json": _json, "markdown": _markdown, "sarif": _sarif,
                                          "junit": _junit, "html": _html, "github": _github,
                                          "gitlab": _gitlab}
# The file each format is written to with --output-dir (perfcheck-report.<extension>).
EXTENSIONS = {"terminal": "txt", "json": "json", "markdown": "md", "sarif": "sarif", "junit": "xml", "html": "html",
              "github": "github.txt", "gitlab": "gitlab.json"}
