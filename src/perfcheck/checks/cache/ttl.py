"""`cache.ttl`: Cache keys expire."""

from __future__ import annotations

from fnmatch import fnmatchcase

from perfcheck.checks.support.redis import plural, severity
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check
from perfcheck.scoring import higher_is_better


@check("cache.ttl", requires=["redis.keys"])
def ttl(facts, t):
    k = facts["redis.keys"]
    if k.get("ttl_denied") and not k["ttl_sampled"]:
        return Outcome.error(k["ttl_denied"])
    ignore = list(t.get("ignore") or [])
    families = {name: f for name, f in k["families"].items() if not any(fnmatchcase(name, p) for p in ignore)}
    sampled = sum(f["keys"] for f in families.values())
    with_ttl = sum(f["with_ttl"] for f in families.values())
    keyspace = k.get("keyspace") or {}
    keyspace_share = keyspace["expires"] / keyspace["keys"] if keyspace.get("keys") else None
    metrics = {"db": k["db"], "dbsize": k["dbsize"], "sampled": sampled, "with_ttl": with_ttl,
               "keyspace_ttl_share": keyspace_share}
    if not k["dbsize"] or not k["ttl_sampled"]:
        return Outcome.skip(f"db{k['db']} has no keys to judge", metrics=metrics)
    if not sampled:
        return Outcome.skip(f"every sampled key is in an ignored family ({', '.join(ignore)})", metrics=metrics)
    share = with_ttl / sampled
    metrics["ttl_share"] = share
    score = higher_is_better(share, t["min_share"], t["floor"])
    cross = (f"; INFO keyspace: {keyspace_share:.0%} of all {keyspace['keys']:,} keys in db{k['db']}"
             if keyspace_share is not None else "")
    of = f"{sampled:,} sampled keys" if sampled < k["dbsize"] else f"all {sampled:,} keys"
    findings = []
    lacking = sorted(((name, f) for name, f in families.items() if f["with_ttl"] < f["keys"]),
                     key=lambda item: item[1]["keys"] - item[1]["with_ttl"], reverse=True)
    for name, f in lacking:
        family_share = f["with_ttl"] / f["keys"]
        if family_share >= t["min_share"]:
            continue
        family_score = higher_is_better(family_share, t["min_share"], t["floor"])
        estimate = round((f["keys"] / k["ttl_sampled"]) * k["dbsize"])
        example = name.replace("*", "<id>") if "*" in name else name
        findings.append(Finding(
            # A family is never reported as worse than the check as a whole.
            severity(max(family_score, score)), name,
            f"{f['keys'] - f['with_ttl']:,} of {plural(f['keys'], 'sampled ' + name + ' key')} "
            f"{'has' if f['keys'] == 1 else 'have'} no TTL ({family_share:.0%} with one; about "
            f"{plural(estimate, 'key')} of this family in db{k['db']}): they live until memory runs out",
            Fix.manual(f"SET {example} <value> EX <seconds>"),
            {"sampled": f["keys"], "with_ttl": f["with_ttl"], "share": round(family_share, 4),
             "estimated_keys": estimate, "sampled_bytes": f["bytes"]}))
    summary = f"{share:.0%} of {of} have a TTL{cross}"
    if findings:
        summary += f"; without: {', '.join(f.object for f in findings[:3])}"
    if k.get("ttl_denied_keys"):
        metrics["unreadable_keys"] = k["ttl_denied_keys"]
        summary += f"; {plural(k['ttl_denied_keys'], 'key')} not read: {k['ttl_denied']}"
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)
