"""`db.invalid_indexes`: No INVALID indexes."""

from __future__ import annotations

from perfcheck.checks.support.indexes import Index, qualified_name
from perfcheck.checks.support.pg import penalty
from perfcheck.model import Applicability, Finding, Fix
from perfcheck.pg.names import qualified
from perfcheck.registry import Outcome, check


def _rebuild(index: Index) -> tuple[str, ...]:
    create = index["definition"].replace(" INDEX ", " INDEX CONCURRENTLY IF NOT EXISTS ", 1)
    return (f"DROP INDEX CONCURRENTLY IF EXISTS {qualified_name(index)};", f"{create};")


@check("db.invalid_indexes", requires=["postgres.indexes"])
def invalid_indexes(facts, t):
    invalid = sorted((ix for ix in facts["postgres.indexes"] if not ix["is_valid"]),
                     key=lambda ix: (ix["schema"], ix["name"]))
    findings = []
    for index in invalid:
        table = qualified(index["schema"], index["table"])
        message = (f"{qualified_name(index)} on {table} is INVALID: the planner ignores it"
                   f"{', yet every write still maintains it' if index['is_ready'] else ''} "
                   f"(left by a failed or interrupted CREATE INDEX CONCURRENTLY, unless one is running now)")
        if index.get("table_kind") == "p":
            fix = None
            message += "; on a partitioned table: attach an index of every partition (ALTER INDEX … ATTACH PARTITION)"
        elif index["is_unique"]:
            # Dropping it stops the uniqueness checks it still makes on new rows; the
            # rebuild fails again while duplicate values remain.
            fix = Fix(_rebuild(index), Applicability.UNSAFE)
            message += "; a unique build fails while duplicate values exist: remove them before rebuilding"
        else:
            fix = Fix(_rebuild(index), Applicability.SAFE)
        findings.append(Finding("fail", qualified_name(index), message, fix,
                                {"size_bytes": index["size_bytes"], "is_ready": index["is_ready"],
                                 "definition": index["definition"]}))
    metrics = {"invalid": len(findings)}
    if not findings:
        return Outcome.passed("no INVALID indexes", metrics=metrics)
    return Outcome.scored(penalty(findings), f"{len(findings)} INVALID indexes", metrics=metrics, findings=findings)
