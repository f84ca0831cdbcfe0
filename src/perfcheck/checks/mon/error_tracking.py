"""`mon.error_tracking`: Errors are tracked."""

from __future__ import annotations

from perfcheck.registry import Outcome, check


@check("mon.error_tracking")
def error_tracking(facts, t):
    return Outcome.manual("cannot be judged from outside: check that unhandled errors reach an error tracker "
                          "(Sentry, Rollbar…) with request context, and that new errors and error-rate spikes alert someone")
