"""The command line. Thin: it parses flags, calls the runner or a command module, and
maps outcomes to exit codes (0 the gate holds, 1 the gate failed, 2 usage or
configuration error, or no configured target could be reached)."""

from __future__ import annotations

import io
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from perfcheck import __version__
from perfcheck.errors import ConfigError  # a leaf module: no start-up cost

# Start-up time: `perfcheck --help` imports typer and this module only. rich, yaml (through
# perfcheck.config and perfcheck.checklist) and the collectors' drivers are imported by the
# command that uses them; tests/test_startup.py keeps it so.

EXIT_OK, EXIT_GATE, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Audit a PostgreSQL + Redis + HTTP backend against the performance checklist.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _Stderr:
    """The stderr console, made on first use (rich takes ~20 ms to import)."""

    _console = None

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console  # start-up time: --help never prints through rich

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    def print(self, *args, **kwargs) -> None:
        self.console.print(*args, **kwargs)


err = _Stderr()


class Format(str, Enum):
    terminal = "terminal"
    json = "json"
    markdown = "markdown"
    sarif = "sarif"
    junit = "junit"
    html = "html"
    github = "github"
    gitlab = "gitlab"


class CompareFormat(str, Enum):
    terminal = "terminal"
    markdown = "markdown"
    json = "json"


class FailOn(str, Enum):
    warn = "warn"
    fail = "fail"


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class ListFormat(str, Enum):
    terminal = "terminal"
    json = "json"


def _color_option() -> Color:
    return typer.Option(Color.auto, "--color", help="Colours on stdout: auto follows the terminal, NO_COLOR, FORCE_COLOR and TERM=dumb.")


def _quiet_option() -> bool:
    return typer.Option(False, "--quiet", "-q", help="Terminal report: the score line and the failed checks only.")


def _verbose_option() -> bool:
    return typer.Option(False, "--verbose", "-v", help="Terminal report: every check, passes included, with its figures.")


def _display(color: Color, quiet: bool = False, verbose: bool = False):
    """stdout's width and colours (report.console.detect), and how much to show."""
    from perfcheck.report.console import detect

    if quiet and verbose:
        raise fail("give --quiet or --verbose, not both")
    return detect(color.value, sys.stdout, "quiet" if quiet else "verbose" if verbose else "normal")


def _redactor(extra: list[str] | None = None):
    """What an error may not show: secrets in the command line and the target variables
    (and the loaded configuration's, when the caller has it)."""
    import os

    from perfcheck import config as config_mod, redact  # start-up time

    known = redact.secrets_in_args(sys.argv[1:])
    for var in config_mod.ENV_TARGETS.values():
        known += redact.secrets_in_url(os.environ.get(var) or "")
    return redact.Redactor(known + (extra or []), known)


def fail(message: str, code: int = EXIT_USAGE, secrets: list[str] | None = None) -> typer.Exit:
    """One line on stderr per problem (a config file may have several), then exit (usage
    and configuration errors are exit 2)."""
    redactor = _redactor(secrets)
    for line in message.split("\n"):
        err.print(f"perfcheck: error: {redactor.scrub(line)}", markup=False)
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


def _progress():
    """A progress display on stderr while collectors gather; off when stderr is not a TTY."""
    from contextlib import nullcontext

    from perfcheck.runner import Progress

    if not sys.stderr.isatty():
        return nullcontext(Progress())
    from rich.progress import BarColumn, Progress as Bar, SpinnerColumn, TextColumn

    bar = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[fact]}"),
              console=err.console, transient=True)
    tasks: dict[str, int] = {}

    class Live:
        def __enter__(self):
            bar.__enter__()
            return Progress(
                start=lambda target, steps: tasks.__setitem__(target, bar.add_task(f"gathering {target}", total=steps, fact="")),
                step=lambda target, fact: bar.update(tasks[target], advance=1, fact=fact),
                done=lambda target: bar.update(tasks[target], completed=bar.tasks[tasks[target]].total),
                detail=lambda target, fact, done, total: bar.update(tasks[target], fact=f"{fact} {done}/{total}"),
            )

        def __exit__(self, *exc):
            return bar.__exit__(*exc)

    return Live()


@app.command()
def audit(
    config_file: Optional[Path] = typer.Option(None, "--config", "-c", metavar="FILE", help="perfcheck.yaml or pyproject.toml (default: perfcheck.yaml, or pyproject.toml with [tool.perfcheck], here or in a parent folder up to the repository root)."),
    db: Optional[str] = typer.Option(None, "--db", metavar="URL", help="PostgreSQL URL (else DATABASE_URL)."),
    redis: Optional[str] = typer.Option(None, "--redis", metavar="URL", help="Redis URL (else REDIS_URL)."),
    url: Optional[str] = typer.Option(None, "--url", metavar="URL", help="Base URL of the HTTP API (else PERFCHECK_URL)."),
    only: list[str] = typer.Option([], "--only", metavar="ID", help="Run only this check id or category (repeatable)."),
    skip: list[str] = typer.Option([], "--skip", metavar="ID", help="Skip this check id or category (repeatable)."),
    fmts: list[Format] = typer.Option([], "--format", "-f", metavar="terminal|json|markdown|sarif|junit|html|github|gitlab", help="Report format (repeatable with --output-dir; default terminal)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write the report to this file instead of stdout."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", metavar="DIR", help="Write one file per --format here (perfcheck-report.<ext>)."),
    fail_under: Optional[int] = typer.Option(None, "--fail-under", min=0, max=100, metavar="SCORE", help="Exit 1 when the overall score is under this."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Exit 1 when a check is at this level or worse."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the HTTP target's TLS certificate."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", metavar="FILE", help="Compare with this saved JSON report; exit 1 on a regression."),
    update_baseline: bool = typer.Option(False, "--update-baseline", help="Then write this run to the --baseline file (regressions are accepted)."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", metavar="SECONDS", help="The whole audit's time budget (default 300, or max_seconds in the config); a target still running then is reported as error."),
    color: Color = _color_option(),
    quiet: bool = _quiet_option(),
    verbose: bool = _verbose_option(),
    # --- beyond one probe from one machine (issue 14) ---
    load: Optional[str] = typer.Option(None, "--load", metavar="ENGINE", help="Where api.latency's figures come from: synthetic (default), metrics (the service's /metrics histogram), prometheus, locust."),
    prometheus: Optional[str] = typer.Option(None, "--prometheus", metavar="URL", help="A Prometheus server that records the API's request durations: api.latency per route from its histogram."),
    runs: Optional[int] = typer.Option(None, "--runs", min=1, max=20, metavar="N", help="Repeat the synthetic latency run N times and judge the median."),
    locust_workers: Optional[int] = typer.Option(None, "--locust-workers", min=0, max=64, metavar="N", help="Locust workers (local ones, or remote ones with --locust-expect-workers)."),
    locust_expect_workers: bool = typer.Option(False, "--locust-expect-workers", help="Start no local Locust worker: wait for N remote ones to connect."),
    all_targets: bool = typer.Option(False, "--all", help="Audit every target of the fleet (fleet.targets in perfcheck.yaml)."),
    fleet_names: list[str] = typer.Option([], "--target", metavar="NAME", help="Audit this fleet target (repeatable)."),
    history: Optional[Path] = typer.Option(None, "--history", metavar="DIR", help="Append this run's summary to DIR/history.jsonl (perfcheck trend reads it)."),
    baseline_from_history: Optional[int] = typer.Option(None, "--baseline-from-history", min=1, max=100, metavar="N", help="Gate against the median of the last N runs in --history."),
) -> None:
    """Audit the configured targets and print a scored report."""
    from perfcheck import checklist, signals  # start-up time (yaml)
    from perfcheck.report import outputs
    from perfcheck.gate.policy import Policy
    from perfcheck.registry import load_checks
    from perfcheck.runner import NoTargetReached, run_audit

    display = _display(color, quiet, verbose)
    loaded = load_checks()
    overrides = _merged({"http": {"insecure": True}} if insecure else {},
                        _scale_overrides(load, prometheus, runs, locust_workers, locust_expect_workers, history))
    cfg = _audit_config(loaded, config_file, {"db": db, "redis": redis, "url": url}, only, skip, overrides, max_seconds)
    if all_targets or fleet_names:  # a fleet: one report per target and a summary
        raise typer.Exit(_audit_fleet(cfg, loaded, fleet_names, all_targets, [f.value for f in fmts], output_dir,
                                      fail_under, fail_on, baseline,
                                      [f for f, v in (("--db", db), ("--redis", redis), ("--url", url)) if v]))
    if not cfg.data["targets"]:
        raise fail("no target configured: pass --db, --redis or --url (or set DATABASE_URL, REDIS_URL, PERFCHECK_URL)")
    try:
        destinations = outputs.plan([f.value for f in fmts], output, output_dir)
        policy = Policy.load(cfg, loaded.checks, [c.id for c in checklist.categories()],
                             baseline_path=baseline, update_baseline=update_baseline)
        if baseline_from_history:
            policy.baseline = _history_baseline(cfg, baseline, baseline_from_history)
        with _progress() as progress:
            # Counted from the process's start: the imports are part of the time the user waits.
            report = run_audit(cfg, loaded.checks, progress, loaded.problems,
                               deadline=signals.STARTED + float(cfg.data["max_seconds"]))
    except ConfigError as exc:
        raise fail(str(exc))
    except NoTargetReached as exc:
        raise fail(str(exc))

    verdict = policy.judge(report, fail_under=fail_under, fail_on=fail_on.value if fail_on else None)
    _record_history(cfg, report)
    _deliver(report, cfg, policy, destinations, display)
    for warning in verdict.warnings:
        err.print(f"perfcheck: warning: {warning}", markup=False)
    if not verdict.passed:
        err.print(f"perfcheck: gate failed: {'; '.join(verdict.failures)}", markup=False)
        raise typer.Exit(EXIT_GATE)


def _audit_config(loaded, config_file: Path | None, targets: dict, only: list[str], skip: list[str],
                  overrides: dict, max_seconds: float | None):
    """The audit's configuration: the file, the flags and the target URLs, validated (exit 2)."""
    from perfcheck import config as config_mod  # start-up time (yaml)

    try:
        cfg = config_mod.load(str(config_file) if config_file else None, targets=targets, only=only, skip=skip,
                              overrides=overrides or None, known=config_mod.Known.from_checks(loaded.checks))
        if max_seconds is not None:
            if not 0 < max_seconds <= 3600:
                raise ConfigError(f"--max-seconds: must be greater than 0 and at most 3600, got {max_seconds:g}")
            cfg.data["max_seconds"] = max_seconds
    except ConfigError as exc:
        raise fail(str(exc))
    return cfg


def _deliver(report, cfg, policy, destinations, display) -> None:
    """Write the report in every format asked for, the baseline, and the CI annotations."""
    from perfcheck.report import outputs  # start-up time

    config_file = cfg.source if cfg.source != "defaults" else None
    try:
        for path in outputs.write(report, destinations, display=display, config_file=config_file):
            err.print(f"report written to {path}", markup=False)
        saved = policy.save_baseline(report)
    except ConfigError as exc:
        raise fail(str(exc))
    if saved:
        err.print(f"baseline written to {saved}", markup=False)
    outputs.annotate(report, destinations, config_file)


def _audit_fleet(cfg, loaded, names: list[str], everything: bool, formats: list[str], output_dir: Path | None,
                 fail_under: int | None, fail_on: FailOn | None, baseline: Path | None, flags: list[str]) -> int:
    from perfcheck import fleet, signals  # why: CLI start-up time (a fleet run only)

    if baseline is not None:
        raise fail("--baseline compares one target; with --all/--target, use --history DIR and perfcheck trend")
    if flags:  # targets:, DATABASE_URL and the like are replaced by each fleet target's own
        raise fail(f"{', '.join(flags)}: name one target; --all/--target audit the fleet's (fleet.targets)")
    try:
        return fleet.command(cfg, loaded, names=names, everything=everything, formats=formats, output_dir=output_dir,
                             fail_under=fail_under, fail_on=fail_on.value if fail_on else None,
                             deadline=signals.STARTED + float(cfg.data["max_seconds"]),
                             err=lambda line: err.print(line, markup=False), out=sys.stdout.write)
    except ConfigError as exc:
        raise fail(str(exc))


def _history_baseline(cfg, baseline: Path | None, last: int):
    from perfcheck import history  # why: CLI start-up time

    if baseline is not None:
        raise ConfigError("give --baseline FILE or --baseline-from-history N, not both")
    if not cfg.data.get("history"):
        raise ConfigError("--baseline-from-history needs --history DIR (or history: in perfcheck.yaml)")
    return history.baseline_from(Path(cfg.data["history"]), last)


def _record_history(cfg, report) -> None:
    if cfg.data.get("history"):
        from perfcheck import history  # why: CLI start-up time (only with --history)

        try:
            history.append(Path(cfg.data["history"]), report)
        except ConfigError as exc:
            err.print(f"perfcheck: warning: {exc}", markup=False)


def _merged(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _scale_overrides(load: str | None, prometheus: str | None, runs: int | None, workers: int | None,
                     expect_workers: bool, history: Path | None) -> dict:
    """The config the latency-source, Locust and history flags stand for."""
    out: dict = {}
    engine: dict = {}
    if load:
        engine["engine"] = load
    if runs:
        engine["runs"] = runs
    locust = {k: v for k, v in (("workers", workers), ("expect_workers", expect_workers or None)) if v is not None}
    if locust:
        engine["locust"] = locust
    if engine:
        out["http"] = {"load": engine}
    if prometheus:
        out["prometheus"] = {"url": prometheus}
    if history:
        out["history"] = str(history)
    return out


@app.command()
def compare(
    old: Path = typer.Argument(..., help="The baseline: a saved JSON report (perfcheck audit --format json)."),
    new: Path = typer.Argument(..., help="The newer JSON report."),
    config_file: Optional[Path] = typer.Option(None, "--config", "-c", metavar="FILE", help="perfcheck.yaml for the mute list and baseline tolerances."),
    fmt: CompareFormat = typer.Option(CompareFormat.terminal, "--format", "-f", help="Output format."),
    color: Color = _color_option(),
) -> None:
    """What regressed and what improved from OLD to NEW, without auditing (exit 1 on a regression)."""
    import json

    from perfcheck import checklist, config as config_mod  # start-up time (yaml)
    from perfcheck.gate.baseline import compare as compare_reports, read_report
    from perfcheck.gate.policy import Policy
    from perfcheck.gate.mutes import apply as apply_mutes
    from perfcheck.registry import load_checks
    from perfcheck.report import comparison

    try:
        checks = load_checks().checks
        cfg = config_mod.load(str(config_file) if config_file else None, known=config_mod.Known.from_checks(checks))
        policy = Policy.load(cfg, checks, [c.id for c in checklist.categories()])
        before, after = read_report(old), read_report(new)
    except ConfigError as exc:
        raise fail(str(exc))
    apply_mutes(after, policy.mutes)
    result = compare_reports(before, after, policy.tolerances)
    if fmt is CompareFormat.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n")
    elif fmt is CompareFormat.markdown:
        sys.stdout.write(comparison.to_markdown(result))
    else:
        sys.stdout.write(comparison.to_text(result, display=_display(color)))
    for line in policy.notes:
        err.print(f"perfcheck: warning: {line}", markup=False)
    if result.regressed:
        raise typer.Exit(EXIT_GATE)


@app.command("report")
def report_command(
    report_file: Path = typer.Argument(..., metavar="REPORT.json", help="A saved JSON report (perfcheck audit --format json)."),
    fmt: Format = typer.Option(Format.terminal, "--format", "-f", metavar="terminal|json|markdown|sarif|junit|html|github|gitlab", help="Report format."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write the report to this file instead of stdout."),
    config_file: Optional[Path] = typer.Option(None, "--config", "-c", metavar="FILE", help="The perfcheck.yaml the audit read: SARIF, GitLab and GitHub findings point at it."),
    color: Color = _color_option(),
    quiet: bool = _quiet_option(),
    verbose: bool = _verbose_option(),
) -> None:
    """Render a saved JSON report in another format, without auditing again."""
    from perfcheck.gate.baseline import read_report
    from perfcheck.report import outputs

    display = _display(color, quiet, verbose)
    try:
        report = read_report(report_file)  # shape-checked as compare and --baseline read it
        destinations = outputs.plan([fmt.value], output, None)
    except ConfigError as exc:
        raise fail(str(exc))
    try:
        written = outputs.write(report, destinations, display=display,
                                config_file=str(config_file) if config_file else None)
    except ConfigError as exc:
        raise fail(str(exc))
    except OSError as exc:
        raise fail(f"{output}: cannot write: {exc.strerror}")
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # A file that looks like a report but holds values of the wrong type (edited by hand).
        raise fail(f"{report_file}: not a perfcheck report: a field has the wrong type ({type(exc).__name__})")
    for path in written:
        err.print(f"report written to {path}", markup=False)


@app.command("apply-indexes")
def apply_indexes(
    config_file: Optional[Path] = typer.Option(None, "--config", "-c", metavar="FILE", help="perfcheck.yaml or pyproject.toml (default: perfcheck.yaml, or pyproject.toml with [tool.perfcheck], here or in a parent folder up to the repository root)."),
    db: Optional[str] = typer.Option(None, "--db", metavar="URL", help="PostgreSQL URL, a direct connection, not a transaction pooler (else DATABASE_URL)."),
    yes: bool = typer.Option(False, "--yes/--dry-run", help="Build the indexes (default: a dry run that prints the plan)."),
    write_migration: Optional[Path] = typer.Option(None, "--write-migration", metavar="FILE", help="Write the statements to this SQL migration instead."),
    only: list[str] = typer.Option([], "--only", metavar="TABLE", help="Only indexes on this table, TABLE or SCHEMA.TABLE (repeatable)."),
    lock_timeout: float = typer.Option(5.0, "--lock-timeout", min=0.1, help="Seconds any one lock wait may last."),
    retries: int = typer.Option(3, "--retries", min=0, help="Further tries, with back-off, when the table is busy."),
    wait: float = typer.Option(60.0, "--wait", min=0, help="Seconds to wait for another apply-indexes to finish."),
    allow_unverified: bool = typer.Option(False, "--allow-unverified", help="Build recommendations not verified with HypoPG."),
    drop: bool = typer.Option(False, "--drop", help="Drop the unused, duplicate and invalid indexes instead, concurrently and safely (dry run by default)."),
    allow_locking_drop: bool = typer.Option(False, "--allow-locking-drop", help="With --drop: drop a partitioned table's index with a plain DROP INDEX, which locks the table."),
) -> None:
    """Build the indexes db.missing_indexes recommends (or with --drop, drop the unused, duplicate and
    invalid ones), concurrently and safely (dry run by default)."""
    from perfcheck import config as config_mod  # start-up time (yaml)
    from perfcheck.apply import command as apply_command
    from perfcheck.apply.build import ApplyOptions
    from perfcheck.apply.drop import DropOptions

    try:
        cfg = config_mod.load(str(config_file) if config_file else None, targets={"db": db})
        code = apply_command.run(
            cfg, yes=yes, write_migration=write_migration, only=only,
            options=ApplyOptions(lock_timeout_s=lock_timeout, retries=retries, wait_s=wait, allow_unverified=allow_unverified),
            drop=DropOptions(lock_timeout_s=lock_timeout, retries=retries, wait_s=wait,
                             allow_locking_drop=allow_locking_drop) if drop else None,
            out=lambda text: sys.stdout.write(text if text.endswith("\n") else text + "\n"),
            err=lambda line: err.print(line, markup=False))
    except (ConfigError, apply_command.UsageError) as exc:
        raise fail(str(exc))
    raise typer.Exit(code)


@app.command("checks")
def list_checks(
    fmt: ListFormat = typer.Option(ListFormat.terminal, "--format", "-f", help="terminal: a table; json: one object per check."),
    color: Color = _color_option(),
) -> None:
    """List the checks: id, title, category, target and default thresholds."""
    import json  # start-up time: only this command needs it

    from rich.text import Text  # start-up time

    from perfcheck.registry import load_checks
    from perfcheck.report.console import hanging

    loaded = load_checks()
    if fmt is ListFormat.json:
        rows = [{"id": c.meta.id, "category": c.meta.category, "target": c.meta.target, "title": c.meta.title,
                 "thresholds": dict(c.meta.thresholds)} for c in loaded.checks.values()]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        display = _display(color)
        buffer = io.StringIO()
        console = display.console(buffer)
        for check in loaded.checks.values():  # a list, not a table: it reads at any width
            meta = check.meta
            thresholds = ", ".join(f"{k}={v}" for k, v in meta.thresholds.items()) or "no thresholds"
            console.print(hanging(Text(f"{meta.id}  ", "bold"), meta.title))
            console.print(hanging("    ", Text(f"{meta.category} · {meta.target} · {thresholds}", "dim")))
        sys.stdout.write(display.finish(buffer.getvalue()))
    for problem in loaded.problems:
        err.print(f"! {problem}", markup=False)


@app.command()
def explain(check_id: str = typer.Argument(..., help="A check id, e.g. db.fk_indexes.")) -> None:
    """Why a check matters, how it is measured, and how to fix what it finds."""
    from rich.console import Console  # start-up time

    from perfcheck import checklist, config as config_mod
    from perfcheck.registry import load_checks

    loaded = load_checks()
    check = loaded.checks.get(check_id)
    meta = check.meta if check else checklist.meta(check_id)
    if meta is None:
        raise fail(f"unknown check {check_id!r}{config_mod.did_you_mean(check_id, loaded.checks)} (see `perfcheck checks`)")
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
def trend(
    directory: Path = typer.Argument(..., metavar="DIR", help="The --history directory."),
    last: int = typer.Option(20, "--last", "-n", min=1, max=1000, help="How many of the latest runs."),
    target: Optional[str] = typer.Option(None, "--target", metavar="NAME", help="Only this fleet target's runs."),
    as_json: bool = typer.Option(False, "--json", help="The runs as JSON instead of sparklines."),
    html_file: Optional[Path] = typer.Option(None, "--html", metavar="FILE", help="Also write the trend as line charts in one HTML file."),
) -> None:
    """Score and P95 per endpoint over the last runs recorded with --history (sparklines)."""
    import json

    from perfcheck import history  # why: CLI start-up time
    from perfcheck.report import outputs, trend_html

    try:
        runs = history.read(directory, target, last)
        if html_file is not None:
            outputs.check_writable(html_file, "--html")
            outputs.write_atomic(html_file, trend_html.render(runs))
            err.print(f"trend written to {html_file}", markup=False)
    except ConfigError as exc:
        raise fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps({"runs": runs, "rows": history.trend_rows(runs)}, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(history.trend_text(runs))


@app.command()
def demo(
    fix: bool = typer.Option(False, "--fix", help="Then build the recommended indexes, run again, and show before → after."),
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the servers up after the report, until Ctrl-C."),
    show_after: bool = typer.Option(False, "--show-after", help="With --fix: print the whole report of the run after the indexes too."),
    fixed: bool = typer.Option(False, "--fixed", help="The music API in its healthy form, behind PgBouncer and an nginx edge: a clean audit."),
    color: Color = _color_option(),
    quiet: bool = _quiet_option(),
    verbose: bool = _verbose_option(),
) -> None:
    """A throwaway PostgreSQL + Redis + sample music API with known problems, audited end to end."""
    from perfcheck.demo.run import main as run_demo

    if fixed and fix:
        raise fail("--fixed starts the healthy form, which has nothing to fix: use --fix or --fixed")
    if show_after and not fix:
        raise fail("--show-after shows the report after --fix; add --fix")
    raise typer.Exit(run_demo(fix=fix, keep_running=keep_running, show_after=show_after,
                              display=_display(color, quiet, verbose), fixed=fixed))


def _full_short_help() -> None:
    """`perfcheck --help` lists each command with its docstring's whole first line (click
    would cut it at 45 characters with "...")."""
    for info in app.registered_commands:
        if info.callback is not None and info.short_help is None and info.callback.__doc__:
            info.short_help = info.callback.__doc__.strip().splitlines()[0]


_full_short_help()


def main() -> None:
    from perfcheck.signals import run

    run(_main)  # signals first (again here for the `perfcheck` script, which enters through this function)


def _unknown_command(exc: Exception) -> str | None:
    """`perfcheck audti`: the same did-you-mean as for an unknown check id."""
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message() if hasattr(exc, "format_message") else ""
    if ctx is None or not message.startswith("No such command"):
        return None
    name = getattr(exc, "command_name", None) or (message.split("'")[1] if "'" in message else "?")
    known = ctx.command.list_commands(ctx) if hasattr(ctx.command, "list_commands") else []
    from perfcheck import config as config_mod  # start-up time (yaml): only a mistyped command needs it

    return f"unknown command {name!r}{config_mod.did_you_mean(name, known)}"


def _main() -> None:
    """Click prints a usage error as a usage block and a blank line; perfcheck's contract
    is one line on stderr (exit 2) for every bad input, flags included."""
    # Typer vendors click in newer releases: its classes, found through a public one.
    usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    click_exception = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    try:
        code = app(standalone_mode=False)
    except usage_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `perfcheck` alone: the help, as before
            exc.show()
            code = exc.exit_code
        else:
            command = exc.ctx.command_path if exc.ctx else "perfcheck"
            message = _unknown_command(exc) or " ".join(exc.format_message().split())
            # Click echoes the offending argument, which may be a mistyped URL with its password
            # (`--db postgres ql://app:pw@x`): fail() redacts it like every other error line.
            fail(f"{message} (see `{command} -h`)")
            code = EXIT_USAGE
    except click_exception as exc:
        fail(" ".join(exc.format_message().split()))
        code = exc.exit_code
    except typer.Abort:
        err.print("perfcheck: aborted", markup=False)
        code = 130
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
