"""`mon.health`: Health endpoint reports its dependencies."""

from __future__ import annotations

from typing import Any

from perfcheck.checks.support.http import is_html, is_json, media_type
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check

DEPENDENCY_KEYS = ("checks", "dependencies", "components", "details", "services", "entries", "info", "results")


OK_WORDS = ("ok", "up", "pass", "passed", "healthy", "true", "green", "connected", "available", "ready")
BAD_WORDS = ("down", "fail", "failed", "error", "unhealthy", "degraded", "false", "red", "disconnected",
             "unavailable", "warn", "out_of_service", "timeout")
# Top-level fields of a health body that describe the service, not a dependency.
_ABOUT_SERVICE = {"status", "state", "healthy", "version", "uptime", "timestamp", "time", "service", "name",
                  "message", "description", "release", "environment", "env", "host", "hostname", "memory"}


def _status_of(value: Any) -> str:
    """One dependency's status, whatever its shape: a word, a boolean, an object, a list of checks."""
    if isinstance(value, dict):
        value = value.get("status", value.get("state", value.get("healthy", "?")))
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        words = [_status_of(x) for x in value]  # RFC draft health: a list of observations per check
        return next((w for w in words if w.lower() not in OK_WORDS), words[0])
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _top_level(body: dict[str, Any]) -> dict[str, str] | None:
    """Dependencies reported as top-level fields ({"database": true, "redis": "up"})."""
    out = {}
    for name, value in body.items():
        if name.lower() in _ABOUT_SERVICE:
            continue
        if isinstance(value, bool) or (isinstance(value, str) and value.lower() in OK_WORDS + BAD_WORDS) or (
                isinstance(value, dict) and isinstance(value.get("status", value.get("healthy")), (str, bool))):
            out[str(name)] = _status_of(value)
    return out or None


def _dependencies(body: Any) -> dict[str, str] | None:
    """{name: status} from a health body's dependency section, whatever its common shape."""
    if not isinstance(body, dict):
        return None
    for key in DEPENDENCY_KEYS:
        section = body.get(key)
        if isinstance(section, dict) and section:
            return {str(name): _status_of(value) for name, value in section.items()}
        if isinstance(section, list) and section and all(isinstance(x, dict) for x in section):
            return {str(x.get("name", x.get("component", i))): _status_of(x) for i, x in enumerate(section)}
    return _top_level(body)


@check("mon.health", requires=["http.health"])
def health(facts, t):
    h = facts["http.health"]
    path = h.get("probe_path", h.get("path"))
    where = f"GET {path}"
    fix = Fix.manual('answer /health with {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}, '
                 "and 503 naming the failing dependency when degraded")
    status = h.get("status")
    if status is None:
        return Outcome.error(f"{where} got no answer: {h.get('error')}")
    if status == 404:
        return Outcome.scored(0.0, f"{where} answered 404: no health endpoint",
                              findings=[Finding("fail", where, "no health endpoint (404): load balancers can't tell a "
                                                "broken instance from a healthy one", fix, {"status": 404})])
    if is_html(h):
        return Outcome.error(f"{where} answered {status} with HTML where JSON was expected (a catch-all route?)")
    deps = _dependencies(h.get("json")) if is_json(h) else None
    metrics = {"status": status, "dependencies": deps}
    if status not in (200, 503):
        return Outcome.scored(0.2, f"{where} answered {status}", metrics=metrics,
                              findings=[Finding("fail", where, f"answered {status}; a health endpoint answers 200, "
                                                "or 503 when degraded", fix, {"status": status})])
    if deps is None:
        what = "a JSON body without per-dependency status" if is_json(h) else f"{media_type(h) or 'a body'} without JSON"
        return Outcome.scored(0.6, f"{where} answered {status} with {what}", metrics=metrics,
                              findings=[Finding("warn", where, f"{what}: it can't say which dependency failed", fix,
                                                {"status": status})])
    failing = {k: v for k, v in deps.items() if v.lower() not in OK_WORDS}
    if status == 503 or failing:
        return Outcome.scored(0.7, f"{where} reports the service degraded ({status}): "
                              + ", ".join(f"{k}={v}" for k, v in failing.items()), metrics=metrics,
                              findings=[Finding("warn", f"{where} {name}", f"dependency {name} is {value}", None,
                                                {"status": status}) for name, value in failing.items()])
    return Outcome.passed(f"{where} answered 200 with {len(deps)} dependencies: "
                          + ", ".join(f"{k}={v}" for k, v in deps.items()), metrics=metrics)
