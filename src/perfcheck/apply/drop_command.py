"""`perfcheck apply-indexes --drop`: dry run (the plan), --write-migration, or --yes (drop),
and its exit code. Called by command.run, after the checks every apply-indexes run makes
(a database URL, not through a transaction pooler)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import psycopg

from perfcheck.apply.build import ApplyError, matches, parse_name
from perfcheck.apply.drop import DropOptions, drop
from perfcheck.apply.drop_plan import DropPlan, PlanError, plan
from perfcheck.apply.drop_view import migration_text, plan_text, result_text
from perfcheck.apply.lock import Terminated
from perfcheck.config import Config
from perfcheck.errors import TargetError
from perfcheck.pg.session import one_line
from perfcheck.redact import scrub

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143

Print = Callable[[str], None]


class DropUsageError(Exception):
    """One line for the user, exit 2."""


def only_tables(drop_plan: DropPlan, only: list[str]) -> DropPlan:
    """The plan for the tables in `only` (TABLE or SCHEMA.TABLE), all when empty."""
    if not only:
        return drop_plan
    try:
        wanted = [parse_name(name) for name in only]
    except ApplyError as exc:
        raise DropUsageError(str(exc)) from None

    def chosen(item) -> bool:
        return any(matches(item.table, table) and (schema is None or matches(item.schema, schema))
                   for schema, table in wanted)
    return DropPlan([i for i in drop_plan.drops if chosen(i)], [i for i in drop_plan.kept if chosen(i)],
                    drop_plan.notes, drop_plan.stats_age_days)


def run_drop(config: Config, url: str, shown: str, *, yes: bool, write_migration: Path | None, only: list[str],
             options: DropOptions, out: Print, err: Print) -> int:
    try:
        err(f"looking for unused, duplicate and invalid indexes in {shown}…")
        drop_plan = only_tables(plan(config, url, allow_locking=options.allow_locking_drop), only)
    except (TargetError, PlanError, psycopg.Error) as exc:
        raise DropUsageError(scrub(f"could not read the indexes: {one_line(exc)}", config.secrets)) from None
    except KeyboardInterrupt as exc:
        err("interrupted while looking; nothing was changed")
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    out(scrub(plan_text(drop_plan, shown), config.secrets))
    if write_migration:
        try:
            write_migration.write_text(scrub(migration_text(drop_plan, shown), config.secrets))
        except OSError as exc:
            raise DropUsageError(f"{write_migration}: cannot write: {exc.strerror}") from None
        err(f"wrote {len(drop_plan.drops)} drop(s) to {write_migration}; run it without a wrapping transaction")
        return EXIT_OK
    if not yes or not drop_plan.drops:
        if drop_plan.drops:
            err("dry run: nothing was changed; --yes drops these indexes, --write-migration FILE writes them "
                "as a migration")
        return EXIT_OK
    try:
        result = drop(drop_plan, url, options=options, postgres_options=config.section("postgres"),
                      events=lambda line: err(scrub(line, config.secrets)))
    except TargetError as exc:
        raise DropUsageError(scrub(str(exc), config.secrets)) from None
    out(scrub(result_text(result), config.secrets))
    if result.problem:
        err(f"perfcheck: {result.problem}")
    if result.interrupted:
        return EXIT_TERMINATED if result.terminated else EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED
