"""The SQL migration file with every recommended index, for teams whose deploy runs
migrations. Pure text, no I/O."""

from __future__ import annotations

from datetime import datetime, timezone

from perfcheck.advisor.ddl import statements
from perfcheck.advisor.model import Advice, Recommendation
from perfcheck.units import format_bytes


def migration(advice: Advice, recommendations: list[Recommendation] | None = None, *, source: str = "") -> str:
    """A SQL migration with every recommended index, for teams whose deploy runs migrations."""
    recs = advice.recommendations if recommendations is None else recommendations
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [
        f"-- Indexes recommended by perfcheck ({'verified with HypoPG' if advice.verified else 'UNVERIFIED: HypoPG was not installed, estimated from column statistics'}), {stamp}{' for ' + source if source else ''}.",
        "-- CREATE INDEX CONCURRENTLY cannot run inside a transaction block: run this file without",
        "-- a wrapping transaction (psql -f, or mark the migration non-transactional).",
        "-- Every statement is idempotent; if a concurrent build fails it leaves an INVALID index:",
        "-- DROP INDEX CONCURRENTLY it and run the file again (perfcheck apply-indexes does this for you).",
        "SET lock_timeout = '10s';",
        "",
    ]
    if not recs:
        lines.append("-- No missing index was found.")
    for rec in recs:
        helped = ", ".join(str(s.queryid) for s in rec.statements[:5])
        lines.append(f"-- {rec.label}: helps {len(rec.statements)} statement(s) (queryid {helped}), "
                     f"estimated size {format_bytes(rec.size_bytes)}")
        if advice.verified and not rec.verified:
            lines.append(f"-- UNVERIFIED: {rec.unverified_reason}.")
        lines += [f"{statement};" for statement in statements(rec)]
        lines.append(f"ANALYZE {rec.qualified_table};")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
