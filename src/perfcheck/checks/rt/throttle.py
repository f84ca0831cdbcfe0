"""`rt.throttle`: Real-time messages are throttled."""

from __future__ import annotations

from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check

THROTTLE_WORDS = ("rate", "limit", "throttl", "too many", "slow down", "flood")
# How servers refuse a message otherwise: an `error` event, an error in the ack.
ERROR_EVENTS = ("error", "exception", "warning", "rejected")


def _says_throttled(data: Any) -> bool:
    text = str(data).lower()
    return any(word in text for word in THROTTLE_WORDS)


def _is_error(data: Any) -> bool:
    """An ack that refuses: {"error": …}, {"ok": false}, {"status": "error"}, an Error's message."""
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, dict) and (item.get("error") or item.get("ok") is False or item.get("success") is False
                                       or str(item.get("status", "")).lower() in ("error", "rejected", "refused")):
            return True
        if isinstance(item, str) and item.lower().startswith("error"):
            return True
    return False


def _refusals(items: list[Any], planned: int, is_refusal) -> int:
    """Refusals that say they are throttling count always; plain errors only when some messages got
    through (every message refused is a handler rejecting this input, not a throttle)."""
    throttled = sum(1 for x in items if _says_throttled(x))
    errors = sum(1 for x in items if is_refusal(x))
    return throttled or (errors if 0 < errors < planned else 0)


@check("rt.throttle", requires=["http.socketio_burst"])
def throttle(facts, t):
    b = facts["http.socketio_burst"]
    if not b.get("enabled"):
        return Outcome.skip("opt-in: set http.socketio_burst.messages (and .event) to send a bounded burst of messages")
    planned, acks, events = b["planned"], b["acks"], b["events"]
    limited_acks = _refusals(acks, planned, _is_error)
    limited_events = _refusals([e for e in events if isinstance(e, list) and e], planned,
                               lambda e: str(e[0]).lower() in ERROR_EVENTS)
    metrics = {"sent": planned, "acks": len(acks), "throttled_acks": limited_acks, "refusal_events": limited_events,
               "disconnected": b["disconnected"],
               "post_statuses": b["post_statuses"]}
    where = f"event {b['event']!r}"
    if limited_acks or limited_events or b["disconnected"] or any(s == 429 for s in b["post_statuses"]):
        how = (f"{limited_acks} of {planned} acks refused" if limited_acks else
               "the server disconnected the socket" if b["disconnected"] else
               f"the server refused {limited_events} with an error or rate-limit event" if limited_events else
               "429 on the polling transport")
        return Outcome.passed(f"a burst of {planned} messages was throttled: {how}", metrics=metrics)
    if acks and len(acks) < planned:
        return Outcome.passed(f"a burst of {planned} messages got {len(acks)} acks: the excess was dropped", metrics=metrics)
    if not acks:
        return Outcome.scored(0.5, f"no ack and no sign of throttling for a burst of {planned} messages "
                              "(does the handler acknowledge messages?)", metrics=metrics,
                              findings=[Finding("warn", where, "could not tell whether messages are throttled: no acks came back",
                                                Fix.manual("acknowledge messages, and refuse the excess with an error ack"), metrics)])
    return Outcome.scored(0.0, f"all {planned} messages of a burst were accepted", metrics=metrics,
                          findings=[Finding("fail", where, f"{planned} messages in one burst were all accepted: one client "
                                            "can flood every listener", Fix.manual("throttle per socket (e.g. 10 messages per second) "
                                                                               "and refuse the excess"), metrics)])
