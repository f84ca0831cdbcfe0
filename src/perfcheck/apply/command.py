"""The `perfcheck apply-indexes` command between the CLI's flags and the advisor/builder:
dry run (the plan), --write-migration, or --yes (build), and its exit code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import psycopg

from perfcheck import checklist
from perfcheck.advisor import AdviceUnavailable, advise
from perfcheck.advisor.migration import migration
from perfcheck.advisor.model import CHECK_ID
from perfcheck.apply.build import ApplyError, ApplyOptions, apply, leftovers, select
from perfcheck.apply.drop import DropOptions
from perfcheck.apply.drop_command import DropUsageError, run_drop
from perfcheck.apply.lock import Terminated, sigterm_as_interrupt
from perfcheck.apply.view import leftovers_text, plan_text, result_text
from perfcheck.pg.session import one_line
from perfcheck.config import Config, ConfigError
from perfcheck.errors import TargetError
from perfcheck.pg import dsn, pooler
from perfcheck.redact import redact_url, scrub

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

Print = Callable[[str], None]


class UsageError(Exception):
    """One line for the user, exit 2."""


def thresholds(config: Config) -> dict:
    overrides = config.check_overrides(CHECK_ID).get("thresholds", {})
    known = checklist.meta(CHECK_ID).thresholds
    for key in overrides:
        if key not in known:
            raise ConfigError(f"checks.{CHECK_ID}.thresholds: unknown threshold {key!r} (known: {', '.join(sorted(known))})")
    return {**known, **overrides}


def _interrupted(exc: BaseException) -> int:
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def run(config: Config, *, yes: bool, write_migration: Path | None, only: list[str], options: ApplyOptions,
        out: Print, err: Print, drop: DropOptions | None = None) -> int:
    """Build the advice's indexes, or with `drop` (its options) drop the unused, duplicate and invalid ones."""
    with sigterm_as_interrupt():
        try:
            return _run(config, yes=yes, write_migration=write_migration, only=only, options=options, out=out, err=err,
                        drop=drop)
        except KeyboardInterrupt as exc:  # between steps, or a second signal during a clean-up
            err(f"perfcheck: interrupted ({'SIGTERM' if isinstance(exc, Terminated) else 'Ctrl-C'})")
            return _interrupted(exc)


def _refuse_transaction_pooler(url: str, shown: str, config: Config) -> None:
    """CREATE INDEX CONCURRENTLY, its lock-timeout retries and HypoPG's hypothetical indexes
    all need one server session; a transaction pooler hands each transaction to any of its
    server connections. Refused with the direct URL (exit 2)."""
    timeout = max(1, int(config.section("postgres").get("connect_timeout_s", 5)))
    try:
        conninfo = dsn.parse(url, os.environ).conninfo
        addr, port = pooler.where_it_lands(conninfo, timeout)
        parsed = dsn.parse(url, os.environ)
        found = pooler.probe(conninfo, parsed.port(os.environ), port, timeout, host=parsed.host)
    except (dsn.DsnError, psycopg.Error):
        return  # the advisor's own connection reports what is wrong, in one line
    hosted = pooler.direct_host(parsed.host)
    if hosted:  # behind a hosted pooler the server's own address is internal: the provider's direct host
        addr, port = hosted, parsed.port(os.environ)
    if found.get("mode") not in ("transaction", "statement") and not hosted:
        return
    mode = f" in {found['mode']} mode" if found.get("mode") else ""
    raise UsageError(scrub(f"{shown} goes through {found['pooler']}{mode}, which hands each transaction "
                           f"to any server session; apply-indexes needs one session: pass the direct URL, "
                           f"--db '{pooler.direct_url(shown, addr, port)}' (hosted: the provider's direct, "
                           f"non-pooled host or port)", config.secrets))


def _run(config: Config, *, yes: bool, write_migration: Path | None, only: list[str], options: ApplyOptions,
         out: Print, err: Print, drop: DropOptions | None = None) -> int:
    url = config.target("db")
    if not url:
        raise UsageError("no database: pass --db URL or set DATABASE_URL")
    if yes and write_migration:
        raise UsageError("--yes changes the database and --write-migration writes a file: choose one")
    shown = redact_url(url)
    _refuse_transaction_pooler(url, shown, config)
    if drop is not None:
        try:
            return run_drop(config, url, shown, yes=yes, write_migration=write_migration, only=only, options=drop,
                            out=out, err=err)
        except (DropUsageError, ConfigError) as exc:
            raise UsageError(str(exc)) from None
    try:
        err(f"analysing the workload of {shown}…")
        advice = advise(url, thresholds(config), config.section("postgres"), config.secrets)
        recs, unmatched = select(advice, only)
    except (TargetError, AdviceUnavailable, ApplyError) as exc:
        raise UsageError(scrub(str(exc), config.secrets)) from None
    except KeyboardInterrupt as exc:
        err("interrupted while analysing; nothing was changed")
        return _interrupted(exc)
    if write_migration:
        try:
            write_migration.write_text(migration(advice, recs, source=shown))
        except OSError as exc:
            raise UsageError(f"{write_migration}: cannot write: {exc.strerror}") from None
        out(plan_text(advice, recs, shown, unmatched))
        err(f"wrote {len(recs)} index(es) to {write_migration}; run it without a wrapping transaction")
        return EXIT_OK
    out(plan_text(advice, recs, shown, unmatched))
    if not recs:
        return EXIT_OK
    if not yes:
        try:
            found = leftovers(url, recs, config.section("postgres"))
        except (TargetError, psycopg.Error) as exc:
            err(scrub(f"perfcheck: could not look for INVALID leftovers: {one_line(exc)}", config.secrets))
        else:
            if found:
                out(scrub(leftovers_text(found), config.secrets))
        err("dry run: nothing was changed; --yes builds these indexes, --write-migration FILE writes them as a migration")
        return EXIT_OK
    try:
        result = apply(advice, url, only=only, options=options, postgres_options=config.section("postgres"),
                       events=lambda line: err(scrub(line, config.secrets)))
    except (TargetError, ApplyError) as exc:
        raise UsageError(scrub(str(exc), config.secrets)) from None
    out(scrub(result_text(result), config.secrets))
    if result.problem:
        err(f"perfcheck: {result.problem}")
    if result.interrupted:
        return EXIT_TERMINATED if result.terminated else EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "EXIT_OK", "EXIT_USAGE", "UsageError", "run"]
