"""`db.unused_indexes`: No large index goes unused."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from perfcheck.checks.support.indexes import drop_fix, qualified_name
from perfcheck.checks.support.partitions import Partitions, fk_columns_by_table, serves_fk
from perfcheck.checks.support.pg import penalty
from perfcheck.model import Finding
from perfcheck.pg.names import qualified
from perfcheck.registry import Outcome, check
from perfcheck.units import format_bytes


def stats_age_days(server: dict[str, Any]) -> float | None:
    """How long the server has been counting index scans: since pg_stat_database.stats_reset,
    else since the server started (a crash or an immediate shutdown loses the counts)."""
    since, now = server.get("stats_reset") or server.get("started"), server.get("now")
    try:
        since, now = (datetime.fromisoformat(str(v)) if not isinstance(v, datetime) else v for v in (since, now))
        return max(0.0, (now - since).total_seconds() / 86400)
    except (TypeError, ValueError):  # missing, or a saved run's unreadable value
        return None


def _stats_since(server: dict[str, Any]) -> str:
    reset = server.get("stats_reset")
    return f"since the statistics were reset ({str(reset)[:19]})" if reset else "since the statistics began (never reset)"


@check("db.unused_indexes", requires=["postgres.indexes", "postgres.server", "postgres.foreign_keys", "postgres.partitions"])
def unused_indexes(facts, t):
    server = facts["postgres.server"]
    since = _stats_since(server)
    age = stats_age_days(server)
    # A foreign key of a partitioned table holds on each partition, where the partition's
    # own index (attached to a parent index or not) serves its lookups.
    fk_columns = fk_columns_by_table(facts["postgres.foreign_keys"], Partitions(facts.get("postgres.partitions")))
    candidates = [
        index for index in facts["postgres.indexes"]
        if index["scans"] == 0 and index["is_valid"] and not index["is_unique"] and not index["is_primary"]
        and not index["backs_constraint"] and not index.get("is_partition")  # a partition's index goes with its parent's
        and index["size_bytes"] >= t["min_size_bytes"]
    ]
    # An index that serves a foreign key stays, even unscanned: the first DELETE on the
    # referenced table would scan without it (and db.fk_indexes would ask for it back).
    unused = [index for index in candidates
              if not any(serves_fk(index, key) for key in fk_columns.get((index["schema"], index["table"]), []))]
    unused.sort(key=lambda index: (-index["size_bytes"], index["schema"], index["name"]))
    findings = [
        Finding("fail", qualified_name(index),
                f"{qualified_name(index)} on {qualified(index['schema'], index['table'])} ({format_bytes(index['size_bytes'])}) "
                f"was never scanned {since}; every write still maintains it",
                drop_fix(index), {"size_bytes": index["size_bytes"], "scans": 0, "definition": index["definition"]})
        for index in unused
    ]
    wasted = sum(index["size_bytes"] for index in unused)
    metrics = {"unused": len(unused), "unused_bytes": wasted, "kept_for_foreign_keys": len(candidates) - len(unused),
               "stats_reset": server.get("stats_reset"), "stats_age_days": _rounded(age),
               "in_recovery": server.get("in_recovery")}
    if not findings:
        return Outcome.passed(f"every index over {format_bytes(t['min_size_bytes'])} has been scanned {since}", metrics=metrics)
    summary = f"{len(findings)} indexes ({format_bytes(wasted)}) never scanned {since}"
    if server.get("in_recovery"):
        summary += "; these statistics are this standby's only"
    if age is not None and age < t["drop_min_stats_days"]:
        summary += (f"; the statistics are {age:.1f} days old, under drop_min_stats_days ({t['drop_min_stats_days']:g}): "
                    f"too young to prove an index unused (apply-indexes --drop does not offer these)")
    return Outcome.scored(penalty(findings), summary, metrics=metrics, findings=findings)


def _rounded(age: float | None) -> float | None:
    return None if age is None else round(age, 2)
