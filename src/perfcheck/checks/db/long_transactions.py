"""`db.long_transactions`: No long-running transactions."""

from __future__ import annotations

from perfcheck.checks.support.pg import client_sessions, hidden_session, penalty, short_sql, unless_hidden
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


@check("db.long_transactions", requires=["postgres.activity", "postgres.server"])
def long_transactions(facts, t):
    database = facts["postgres.server"]["database"]
    sessions = [row for row in client_sessions(facts["postgres.activity"])
                if row.get("application_name") != "perfcheck"]
    here = [row for row in sessions if row.get("database") == database]
    # A hidden session outside any transaction cannot be a long one; one inside (or not
    # known to be outside) may be, for all this role can tell.
    hidden = [row for row in here if hidden_session(row)]
    hidden_open = sum(1 for row in hidden if row.get("in_transaction") is not False)
    findings = []
    for row in here:
        if hidden_session(row):
            continue
        state = row.get("state") or ""
        if state.startswith("idle in transaction"):
            age, limit, what = row.get("state_age_s"), t["max_idle_in_transaction_s"], state
        elif state == "active":
            age, limit, what = row.get("xact_age_s"), t["max_active_s"], "in a transaction, active"
        else:
            continue
        if age is None or age < limit:
            continue
        who = f"{row.get('user')}@{row.get('database')}" + (f" ({row['application_name']})" if row.get("application_name") else "")
        findings.append(Finding(
            "fail", f"pid {row['pid']}",
            f"pid {row['pid']} {who} has been {what} for {age:.0f} s (limit {limit} s): it holds its locks and stops "
            f"vacuum from removing dead tuples; last statement: {short_sql(row.get('query'), 100)}",
            Fix.manual(f"SELECT pg_terminate_backend({int(row['pid'])});"),
            {"pid": row["pid"], "state": state, "age_s": round(float(age), 1), "xact_age_s": row.get("xact_age_s")}))
    findings.sort(key=lambda f: -f.evidence["age_s"])
    metrics = {"sessions": len(here), "other_databases": len(sessions) - len(here), "long": len(findings),
               "hidden_sessions": len(hidden), "hidden_in_transaction": hidden_open}
    note = (f"; {len(hidden)} sessions of other roles are hidden from this role, none in a transaction"
            if hidden and not hidden_open else "")
    if not findings:
        outcome = Outcome.passed(f"no session in {database} idle in transaction over {t['max_idle_in_transaction_s']} s "
                                 f"or in a transaction over {t['max_active_s']} s{note}", metrics=metrics)
    else:
        outcome = Outcome.scored(penalty(findings), f"{len(findings)} sessions in long transactions{note}",
                                 metrics=metrics, findings=findings)
    return unless_hidden(outcome, hidden_open, f"sessions of other roles in a transaction in {database} "
                                               f"(their state and age)", facts)
