"""The hostile-input contract, asserted the same way by every hostile case: the CLI run as
a user would, within a bounded time, its exit code, one line on stderr, no traceback and
no planted secret in anything it printed or wrote."""

from __future__ import annotations

import time
from pathlib import Path

from helpers import Run, perfcheck



def run_bounded(*args: str, seconds: float, env: dict[str, str] | None = None,
                cwd: str | None = None) -> tuple[Run, float]:
    """`perfcheck ARGS`, failing the test if it runs past `seconds` (the process is killed)."""
    started = time.monotonic()
    run = perfcheck(*args, env=env, cwd=cwd, timeout=seconds)
    return run, time.monotonic() - started


def assert_clean(run: Run, *, code: int | tuple[int, ...], secrets: tuple[str, ...] = (),
                 files: tuple[Path, ...] = (), one_line: bool | None = None) -> None:
    """What a user must see on bad input: the exit code, no traceback anywhere, no secret in
    stdout, stderr or any written file, and (for usage errors, exit 2) exactly one line on stderr."""
    codes = code if isinstance(code, tuple) else (code,)
    assert run.code in codes, f"exit {run.code}, wanted {codes}\nstdout: {run.out[-2000:]}\nstderr: {run.err[-2000:]}"
    for stream in (run.out, run.err):
        assert "Traceback (most recent call last)" not in stream, stream[-3000:]
    if one_line is None:
        one_line = run.code == 2
    if one_line:
        lines = [line for line in run.err.splitlines() if line.strip()]
        assert len(lines) == 1, f"wanted one line on stderr, got {len(lines)}:\n{run.err[-2000:]}"
    texts = [run.out, run.err] + [p.read_text(errors="replace") for p in files if p.exists()]
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"secret {secret!r} leaked:\n{text[:2000]}"
