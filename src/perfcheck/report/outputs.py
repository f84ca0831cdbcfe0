"""Where each report format goes: stdout, `--output FILE` (one format), or
`--output-dir DIR` (one file per format, perfcheck-report.<extension>), plus GitHub
Actions annotations when GITHUB_ACTIONS=true."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from perfcheck.config import ConfigError
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


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a reader never sees half of it (a temporary file, then rename).
    Not a regular file (/dev/null, /dev/stdout, a pipe): written in place, never replaced."""
    if path.exists() and not path.is_file():
        try:
            with path.open("w") as stream:
                stream.write(text)
            return
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write: {exc.strerror}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write: {exc.strerror}") from None


def check_writable(path: Path, flag: str, *, create_parents: bool = False) -> None:
    """Before the audit: fail now (one line, exit 2) if `path` could not be written after
    it, rather than throwing away minutes of auditing. Probes by creating (and removing)
    the temporary file write_atomic would use, since permission bits don't tell root
    anything and a read-only mount shows only on writing."""
    shown = f"{flag} {path}"
    if path.is_dir():
        raise ConfigError(f"{shown}: is a directory; give a file name")
    if path.exists() and not path.is_file():  # /dev/null, /dev/stdout, a pipe: written in place
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{shown}: cannot write to it")
        return
    folder = path.parent
    if create_parents:  # the nearest folder that exists is where the first new one is made
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    if not folder.exists():
        raise ConfigError(f"{shown}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"{shown}: {folder} is not a folder")
    probe = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except FileExistsError:
        pass  # our own name, left by nothing else that could run as this process id
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot write in {folder}: {exc.strerror or exc}") from None
