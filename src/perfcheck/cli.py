"""The command line. Thin: it parses flags, calls the runner or a command module, and
maps outcomes to exit codes (0 the gate holds, 1 the gate failed, 2 usage or
configuration error, or no configured target could be reached)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import __version__, checklist, config as config_mod
from .config import ConfigError
from .model import Report, Status

EXIT_OK, EXIT_GATE, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Audit a PostgreSQL + Redis + HTTP backend against the performance checklist.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(str, Enum):
    terminal = "terminal"
    json = "json"


class FailOn(str, Enum):
    warn = "warn"
    fail = "fail"


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """One line on stderr, then exit (usage and configuration errors are exit 2)."""
    err.print(f"perfcheck: error: {message}", markup=False)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"perfcheck {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """perfcheck: audit, fix what is safe, and gate CI on a scored report."""


def gate(report: Report, fail_under: Optional[int], fail_on: Optional[FailOn]) -> list[str]:
    """Why the gate fails (empty: it holds)."""
    reasons = []
    if fail_under is not None and (report.score is None or report.score < fail_under):
        reasons.append(f"score {report.score if report.score is not None else 'unknown'} is under {fail_under}")
    if fail_on is not None:
        levels = {Status.FAIL} if fail_on is FailOn.fail else {Status.FAIL, Status.WARN}
        bad = [r.id for r in report.checks if r.status in levels]
        if bad:
            reasons.append(f"{len(bad)} check(s) at or above {fail_on.value}: {', '.join(bad)}")
    return reasons


def _progress():
    """A progress display on stderr while collectors gather; off when stderr is not a TTY."""
    from contextlib import nullcontext

    from .runner import Progress

    if not sys.stderr.isatty():
        return nullcontext(Progress())
    from rich.progress import BarColumn, Progress as Bar, SpinnerColumn, TextColumn

    bar = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[fact]}"),
              console=err, transient=True)
    tasks: dict[str, int] = {}

    class Live:
        def __enter__(self):
            bar.__enter__()
            return Progress(
                start=lambda target, steps: tasks.__setitem__(target, bar.add_task(f"gathering {target}", total=steps, fact="")),
                step=lambda target, fact: bar.update(tasks[target], advance=1, fact=fact),
                done=lambda target: bar.update(tasks[target], completed=bar.tasks[tasks[target]].total),
            )

        def __exit__(self, *exc):
            return bar.__exit__(*exc)

    return Live()


@app.command()
def audit(
    config_file: Optional[Path] = typer.Option(None, "--config", "-c", help="perfcheck.yaml (default: ./perfcheck.yaml when present)."),
    db: Optional[str] = typer.Option(None, "--db", help="PostgreSQL URL (else DATABASE_URL)."),
    redis: Optional[str] = typer.Option(None, "--redis", help="Redis URL (else REDIS_URL)."),
    url: Optional[str] = typer.Option(None, "--url", help="Base URL of the HTTP API (else PERFCHECK_URL)."),
    only: list[str] = typer.Option([], "--only", help="Run only this check id or category (repeatable)."),
    skip: list[str] = typer.Option([], "--skip", help="Skip this check id or category (repeatable)."),
    fmt: Format = typer.Option(Format.terminal, "--format", "-f", help="Report format."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report to this file instead of stdout."),
    fail_under: Optional[int] = typer.Option(None, "--fail-under", min=0, max=100, help="Exit 1 when the overall score is under this."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Exit 1 when a check is at this level or worse."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the HTTP target's TLS certificate."),
) -> None:
    """Audit the configured targets and print a scored report."""
    from .registry import load_checks
    from .report import render
    from .runner import NoTargetReached, run_audit

    try:
        cfg = config_mod.load(str(config_file) if config_file else None,
                              targets={"db": db, "redis": redis, "url": url}, only=only, skip=skip,
                              overrides={"http": {"insecure": True}} if insecure else None)
    except ConfigError as exc:
        raise fail(str(exc))
    if not cfg.data["targets"]:
        raise fail("no target configured: pass --db, --redis or --url (or set DATABASE_URL, REDIS_URL, PERFCHECK_URL)")
    loaded = load_checks()
    try:
        with _progress() as progress:
            report = run_audit(cfg, loaded.checks, progress, loaded.problems)
    except ConfigError as exc:
        raise fail(str(exc))
    except NoTargetReached as exc:
        raise fail(str(exc))

    color = output is None and sys.stdout.isatty()
    text = render(report, fmt.value, color=color)
    if output:
        output.write_text(text)
        err.print(f"report written to {output}", markup=False)
    else:
        sys.stdout.write(text)
    reasons = gate(report, fail_under, fail_on)
    if reasons:
        err.print(f"perfcheck: gate failed: {'; '.join(reasons)}", markup=False)
        raise typer.Exit(EXIT_GATE)


@app.command("checks")
def list_checks() -> None:
    """List the checks: id, category, target and default thresholds."""
    from rich.table import Table

    from .registry import load_checks

    loaded = load_checks()
    table = Table("id", "category", "target", "title", "default thresholds", box=None, pad_edge=False)
    for check in loaded.checks.values():
        meta = check.meta
        thresholds = ", ".join(f"{k}={v}" for k, v in meta.thresholds.items()) or "-"
        table.add_row(meta.id, meta.category, meta.target, meta.title, thresholds)
    Console(width=max(120, Console().width), highlight=False).print(table)
    for problem in loaded.problems:
        err.print(f"! {problem}", markup=False)


@app.command()
def explain(check_id: str = typer.Argument(..., help="A check id, e.g. db.fk_indexes.")) -> None:
    """Why a check matters, how it is measured, and how to fix what it finds."""
    from .registry import load_checks

    loaded = load_checks()
    check = loaded.checks.get(check_id)
    meta = check.meta if check else checklist.meta(check_id)
    if meta is None:
        raise fail(f"unknown check {check_id!r} (see `perfcheck checks`)")
    out = Console(highlight=False)
    out.print(f"[bold]{meta.id}[/bold]  {meta.title}  ({meta.category}, target: {meta.target})")
    for label, text in (("Why it matters", meta.why), ("How it is measured", meta.measured), ("How to fix it", meta.how_to_fix)):
        out.print(f"\n[bold]{label}[/bold]")
        out.print(text, markup=False)
    if meta.thresholds:
        out.print("\n[bold]Default thresholds[/bold] (override under checks: in perfcheck.yaml)")
        for key, value in meta.thresholds.items():
            out.print(f"  {key}: {value}", markup=False)


@app.command()
def init(
    path: Path = typer.Argument(Path("perfcheck.yaml"), help="Where to write the file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented perfcheck.yaml to start from."""
    from importlib import resources

    if path.exists() and not force:
        raise fail(f"{path} exists; pass --force to overwrite it")
    path.write_text((resources.files("perfcheck") / "templates" / "perfcheck.yaml").read_text())
    typer.echo(f"wrote {path}")


@app.command()
def demo(
    fix: bool = typer.Option(False, "--fix", help="Then build the recommended indexes, run again, and show before → after."),
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the servers up after the report, until Ctrl-C."),
) -> None:
    """A throwaway PostgreSQL + Redis + sample music API with known problems, audited end to end."""
    from .demo import main as run_demo

    raise typer.Exit(run_demo(fix=fix, keep_running=keep_running))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
