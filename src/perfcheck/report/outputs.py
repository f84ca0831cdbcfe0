"""Where each report format goes: stdout, `--output FILE` (one format), or
`--output-dir DIR` (one file per format, perfcheck-report.<extension>), plus GitHub
Actions annotations when GITHUB_ACTIONS=true."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from perfcheck.errors import ConfigError
from perfcheck.files import check_writable, write_atomic
from perfcheck.model import Report
from perfcheck.report import EXTENSIONS, render, repository_path
from perfcheck.report.console import Display
from perfcheck.report.github import to_github

BASENAME = "perfcheck-report"


@dataclass(frozen=True)
class Destination:
    fmt: str
    path: Path | None  # None: stdout


def plan(formats: list[str], output: Path | None, output_dir: Path | None) -> list[Destination]:
    formats = list(dict.fromkeys(formats)) or ["terminal"]
    if output is not None and output_dir is not None:
        raise ConfigError("give --output FILE (one format) or --output-dir DIR (one file per format), not both")
    if output_dir is not None:
        if output_dir.exists() and not output_dir.is_dir():
            raise ConfigError(f"--output-dir {output_dir}: exists and is not a directory")
        found = [Destination(fmt, output_dir / f"{BASENAME}.{EXTENSIONS[fmt]}") for fmt in formats]
        for dest in found:  # the folder is made when the report is written, if need be
            check_writable(dest.path, "--output-dir", create_parents=True)
        return found
    if len(formats) > 1:
        raise ConfigError(f"{len(formats)} formats ({', '.join(formats)}) need --output-dir DIR (one file each)")
    if output is not None:  # checked now, not after minutes of auditing
        check_writable(output, "--output")
    return [Destination(formats[0], output)]


def write(report: Report, destinations: list[Destination], *, color: bool = False, config_file: str | None = None,
          display: Display | None = None) -> list[Path]:
    """Render each format; return the files written (stdout gets the one without a path).
    `config_file`: the perfcheck.yaml read, which SARIF and GitLab findings point at.
    `display`: stdout's width, colours and detail; a file gets plain text at 100 columns."""
    written = []
    for dest in destinations:
        shown = display if dest.path is None and display else Display.plain(color=color and dest.path is None,
                                                                             detail=display.detail if display else "normal")
        text = render(report, dest.fmt, display=shown, config_file=repository_path(config_file))
        if dest.path is None:
            sys.stdout.write(text)
        else:
            write_atomic(dest.path, text)
            written.append(dest.path)
    return written


def annotate(report: Report, destinations: list[Destination], config_file: str | None,
             environ: Mapping[str, str] = os.environ) -> None:
    """On GitHub Actions, print workflow-command annotations: on stdout when the report went
    to files, else on stderr (the runner reads both) so stdout stays a clean report."""
    if environ.get("GITHUB_ACTIONS") != "true" or any(d.fmt == "github" for d in destinations):
        return
    if config_file:  # GitHub links an annotation to a file by its path in the repository (the working directory)
        relative = os.path.relpath(config_file)
        config_file = None if relative.startswith("..") else relative
    text = to_github(report, file=config_file)
    if text:
        stream = sys.stdout if all(d.path is not None for d in destinations) else sys.stderr
        stream.write(text)
        stream.flush()
