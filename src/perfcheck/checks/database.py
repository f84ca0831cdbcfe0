"""The PostgreSQL checks: pure functions of the facts the postgres collector gathered."""

from __future__ import annotations

from ..model import Applicability, Finding, Fix
from ..registry import Outcome, check
from ..scoring import lognormal
from ..sqlnames import quote_ident
from .pg import format_ms, setting_ms

# --- db.timeouts -----------------------------------------------------------------

_TIMEOUTS = [
    # setting, threshold key, share of the score, severity when unset
    ("statement_timeout", "statement_timeout_s", 0.45, "fail"),
    ("idle_in_transaction_session_timeout", "idle_in_transaction_timeout_s", 0.45, "fail"),
    ("lock_timeout", "lock_timeout_s", 0.10, "warn"),
]


@check("db.timeouts", requires=["postgres.settings", "postgres.server"])
def timeouts(facts, t):
    settings = facts["postgres.settings"]
    database = quote_ident(facts["postgres.server"]["database"])
    score = 0.0
    findings = []
    metrics = {}
    for name, key, share, severity in _TIMEOUTS:
        target_ms = int(t[key] * 1000)
        # reset_val: the value a new session of this role gets (perfcheck's own session overrides some).
        value = setting_ms(settings, name, "reset_val")
        metrics[f"{name}_ms"] = value
        fix = Fix((f"ALTER DATABASE {database} SET {name} = '{format_ms(target_ms)}';",), Applicability.MANUAL)
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
    shown = ", ".join(f"{name} = {format_ms(metrics[f'{name}_ms'])}" for name, *_ in _TIMEOUTS)
    return Outcome.scored(score, shown, metrics=metrics, findings=findings)
