"""`db.timeouts`: Statement and idle-in-transaction timeouts are set."""

from __future__ import annotations

import re

from perfcheck.checks.support.pg import format_ms, setting_ms
from perfcheck.model import Finding, Fix
from perfcheck.pg.names import quote_ident
from perfcheck.registry import Outcome, check
from perfcheck.scoring import BELOW_PASS, lognormal

_TIMEOUTS = [
    # setting, threshold key, share of the score, severity when unset
    ("statement_timeout", "statement_timeout_s", 0.45, "fail"),
    ("idle_in_transaction_session_timeout", "idle_in_transaction_timeout_s", 0.45, "fail"),
    ("lock_timeout", "lock_timeout_s", 0.10, "warn"),
]


def _set_timeout(name: str, value: str, server: dict, role_settings: list[dict]) -> Fix:
    """ALTER DATABASE … SET, unless a role-level setting for this role would override it."""
    database = quote_ident(server["database"])
    if any(row["name"] == name and row["level"] != "database" for row in role_settings):
        target = f"ROLE {quote_ident(server['user'])} IN DATABASE {database}"
    else:
        target = f"DATABASE {database}"
    return Fix.manual(f"ALTER {target} SET {name} = '{value}';")


_UNITS_MS = {"ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}


def url_ms(value: str) -> int | None:
    """A timeout as a URL carries it: bare milliseconds (node-postgres, Prisma) or with a unit."""
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|min|h|d)?\s*", str(value))
    return int(match[1]) * _UNITS_MS[match[2] or "ms"] if match else None


def _from_url(facts, name: str) -> tuple[int | None, Finding | None]:
    """The URL's own value for a timeout, when it asks for one: counted when it reaches the
    server (a direct connection), a finding when a pooler stands between (PgBouncer refuses
    or drops start-up parameters, so the application's sessions never get it)."""
    connection = facts.get("postgres.connection") or {}
    asked = (connection.get("session_settings") or {}).get(name)
    if asked is None:
        return None, None
    value = url_ms(asked)
    probed = facts.get("postgres.pooler") or {}
    if not probed.get("pooler"):
        return value, None
    return None, Finding("info", f"url:{name}",
                         f"the URL's {name}={asked} does not reach the server through {probed['pooler']}"
                         f"{' in ' + probed['mode'] + ' mode' if probed.get('mode') else ''} (start-up parameters "
                         f"stop at the pooler): set it on the database or role instead",
                         None, {"url_value": asked, "reaches_server": False})


@check("db.timeouts", requires=["postgres.settings", "postgres.server", "postgres.role_settings",
                                "postgres.connection", "postgres.pooler"])
def timeouts(facts, t):
    settings = facts["postgres.settings"]
    score = 0.0
    findings = []
    metrics = {}
    for name, key, share, severity in _TIMEOUTS:
        target_ms = int(t[key] * 1000)
        # reset_val: the value a new session of this role gets (perfcheck's own session overrides some).
        value = setting_ms(settings, name, "reset_val")
        url_value, note = _from_url(facts, name)
        if note:
            findings.append(note)
        if url_value is not None:  # the application's sessions start with the URL's value
            value = url_value
            metrics[f"{name}_source"] = "url"
        metrics[f"{name}_ms"] = value
        fix = _set_timeout(name, format_ms(target_ms), facts["postgres.server"], facts["postgres.role_settings"])
        if not value:
            findings.append(Finding(severity, name, f"{name} is off (0): nothing stops a runaway "
                                    f"{'lock wait' if name == 'lock_timeout' else 'statement' if name == 'statement_timeout' else 'idle transaction'}; "
                                    f"the target is {format_ms(target_ms)}", fix, {"value_ms": value, "target_ms": target_ms}))
        elif value > target_ms:
            part = lognormal(value, target_ms, target_ms * 4)
            score += share * part
            findings.append(Finding("warn", name, f"{name} is {format_ms(value)}, above the {format_ms(target_ms)} target",
                                    fix, {"value_ms": value, "target_ms": target_ms}))
        else:
            score += share
    if any(f.severity != "info" for f in findings):
        score = min(score, BELOW_PASS)  # a timeout past its target is never a pass, however close
    shown = ", ".join(f"{name} = {format_ms(metrics[f'{name}_ms'])}" for name, *_ in _TIMEOUTS)
    return Outcome.scored(score, shown, metrics=metrics, findings=findings)
