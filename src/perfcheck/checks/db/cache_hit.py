"""`db.cache_hit`: Shared buffers serve reads."""

from __future__ import annotations

from perfcheck.model import Finding, Fix
from perfcheck.pg.names import qualified
from perfcheck.registry import Outcome, check
from perfcheck.scoring import higher_is_better


@check("db.cache_hit", requires=["postgres.tables", "postgres.settings"])
def cache_hit(facts, t):
    hits = reads = 0
    per_table = []
    for table in facts["postgres.tables"]:
        hit = (table.get("heap_blks_hit") or 0) + (table.get("idx_blks_hit") or 0)
        read = (table.get("heap_blks_read") or 0) + (table.get("idx_blks_read") or 0)
        hits, reads = hits + hit, reads + read
        if hit + read >= t["min_reads"] and hit / (hit + read) < t["floor"]:
            per_table.append((read, hit, table))
    if hits + reads < t["min_reads"]:
        return Outcome.skip(f"only {hits + reads:,} buffer accesses on these tables since the statistics were reset: "
                            f"too few to judge (needs {t['min_reads']:,})")
    ratio = hits / (hits + reads)
    score = higher_is_better(ratio, t["target"], t["floor"])
    findings = []
    for read, hit, table in sorted(per_table, key=lambda item: -item[0])[:10]:
        name = qualified(table["schema"], table["name"])
        findings.append(Finding("warn", name, f"{hit / (hit + read):.1%} of {hit + read:,} buffer accesses to {name} hit the cache "
                                f"({read:,} blocks read from disk or the OS cache)", None,
                                {"hit_ratio": round(hit / (hit + read), 4), "blocks_read": read, "blocks_hit": hit}))
    shared = facts["postgres.settings"].get("shared_buffers") or {}
    if score < 0.9 and shared.get("setting"):
        size_mb = int(shared["setting"]) * (8 if shared.get("unit") == "8kB" else 1) // 1024
        findings.insert(0, Finding(
            "fail" if score < 0.5 else "warn", "shared_buffers",
            f"{ratio:.2%} of reads hit shared buffers (target {t['target']:.0%}); shared_buffers is {size_mb} MB: "
            f"give it about 25 % of the memory, or shrink the working set",
            Fix.manual(f"ALTER SYSTEM SET shared_buffers = '{max(128, size_mb * 2)}MB';  -- then restart"),
            {"hit_ratio": round(ratio, 4), "shared_buffers_mb": size_mb}))
    metrics = {"hit_ratio": round(ratio, 5), "blocks_hit": hits, "blocks_read": reads}
    return Outcome.scored(score, f"{ratio:.2%} of {hits + reads:,} table and index block accesses hit shared buffers",
                          metrics=metrics, findings=findings)
