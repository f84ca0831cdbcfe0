"""The `perfcheck apply-indexes` command between the CLI's flags and the advisor/builder:
dry run (the plan), --write-migration, or --yes (build), and its exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import checklist
from .advisor import AdviceUnavailable, advise
from .advisor.ddl import migration
from .advisor.model import CHECK_ID
from .apply_indexes import ApplyError, ApplyOptions, apply, select
from .apply_view import plan_text, result_text
from .collectors import TargetError
from .config import Config, ConfigError
from .redact import redact_url, scrub

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

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


def run(config: Config, *, yes: bool, write_migration: Path | None, only: list[str], options: ApplyOptions,
        out: Print, err: Print) -> int:
    url = config.target("db")
    if not url:
        raise UsageError("no database: pass --db URL or set DATABASE_URL")
    if yes and write_migration:
        raise UsageError("--yes builds the indexes and --write-migration writes them to a file: choose one")
    shown = redact_url(url)
    try:
        err(f"analysing the workload of {shown}…")
        advice = advise(url, thresholds(config), config.section("postgres"), config.secrets)
        recs, unmatched = select(advice, only)
    except (TargetError, AdviceUnavailable, ApplyError) as exc:
        raise UsageError(scrub(str(exc), config.secrets)) from None
    except KeyboardInterrupt:
        err("interrupted while analysing; nothing was changed")
        return EXIT_INTERRUPTED
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
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError", "run"]
