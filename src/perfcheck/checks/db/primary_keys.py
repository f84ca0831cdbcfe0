"""`db.primary_keys`: Every table has a primary key or a replica identity."""

from __future__ import annotations

from perfcheck.checks.support.pg import penalty
from perfcheck.model import Finding, Fix
from perfcheck.pg.names import qualified, quote_ident
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS


@check("db.primary_keys", requires=["postgres.primary_keys"])
def primary_keys(facts, t):
    findings, with_identity = [], 0
    for table in facts["postgres.primary_keys"]:
        name = qualified(table["schema"], table["name"])
        if table["replica_identity"] == "i" and table.get("replica_identity_index"):
            with_identity += 1  # a unique, not-null key chosen as the replica identity: a key in all but name
            continue
        if (table.get("estimated_rows") or 0) < t["min_rows"]:
            continue
        unique = table.get("unique_not_null_indexes") or []
        if unique:
            fix = Fix.manual(f"ALTER TABLE {name} ADD CONSTRAINT {quote_ident(table['name'] + '_pkey')} "
                             f"PRIMARY KEY USING INDEX {quote_ident(unique[0])};")
            hint = f"; its unique index {unique[0]} on not-null columns can become the primary key"
        else:
            fix = Fix.manual(f"ALTER TABLE {name} ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;  "
                             "-- or a primary key on the columns that identify a row")
            hint = ""
        if table["replica_identity"] == "f":
            message = (f"{name} has no primary key; REPLICA IDENTITY FULL lets logical replication find its rows, "
                       f"by comparing whole rows (slow){hint}")
            severity = "warn"
        else:
            message = (f"{name} has no primary key nor replica identity: logical replication cannot apply an UPDATE or "
                       f"DELETE of it, and tools that need a row key (ORMs, pg_repack) refuse it{hint}")
            severity = "fail" if table["kind"] == "r" and not unique else "warn"
        findings.append(Finding(severity, name, message, fix,
                                {"replica_identity": table["replica_identity"], "rows": table.get("estimated_rows"),
                                 "unique_not_null_indexes": unique}))
    metrics = {"without_primary_key": len(findings), "replica_identity_index": with_identity}
    if not findings:
        return Outcome.passed("every table has a primary key or a unique replica identity"
                              + (f" ({with_identity} by a replica identity index)" if with_identity else ""),
                              metrics=metrics)
    score = min(BELOW_PASS, penalty(findings))
    return Outcome.scored(score, f"{len(findings)} table(s) without a primary key", metrics=metrics, findings=findings)
