"""Files perfcheck writes (reports, baselines): atomically, and checked for writability
before an audit starts rather than after it."""

from __future__ import annotations

import os
from pathlib import Path

from perfcheck.errors import ConfigError


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
