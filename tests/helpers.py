"""Running the CLI as a user would: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(message: str) -> None:
    """A server or tool the test needs is missing: a failure in CI, a skip elsewhere."""
    import pytest

    if IN_CI:
        pytest.fail(f"{message} (CI requires every server)", pytrace=False)
    pytest.skip(message)


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict:
        return assert_report(json.loads(self.out))


def assert_report(data):
    """A JSON report perfcheck printed or wrote must follow its published schema
    (perfcheck/schemas/perfcheck.report.schema.json); other JSON passes through."""
    if isinstance(data, dict) and data.get("schema") == "perfcheck.report/1":
        errors = list(report_validator().iter_errors(data))
        assert not errors, "the report breaks its schema:\n" + "\n".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])
    return data


def report_validator():
    import jsonschema
    from importlib import resources

    schema = json.loads((resources.files("perfcheck") / "schemas" / "perfcheck.report.schema.json").read_text())
    return jsonschema.Draft7Validator(schema)


def perfcheck(*args: str, env: dict[str, str] | None = None, cwd: str | None = None, timeout: float = 120) -> Run:
    """`perfcheck ARGS` in a clean environment (no DATABASE_URL etc. leaking in from the shell)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PERFCHECK_URL")}
    proc = subprocess.run([sys.executable, "-m", "perfcheck", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=cwd, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def check(report: dict, check_id: str) -> dict:
    return next(c for c in report["checks"] if c["id"] == check_id)


def category(report: dict, category_id: str) -> dict:
    return next(c for c in report["categories"] if c["id"] == category_id)
