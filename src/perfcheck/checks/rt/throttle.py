"""`rt.throttle`: Real-time messages are throttled."""

from __future__ import annotations

from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check

THROTTLE_WORDS = ("rate", "limit", "throttl", "too many", "slow down", "flood")


def _says_throttled(data: Any) -> bool:
    text = str(data).lower()
    return any(word in text for word in THROTTLE_WORDS)


@check("rt.throttle", requires=["http.socketio_burst"])
def throttle(facts, t):
    b = facts["http.socketio_burst"]
    if not b.get("enabled"):
        return Outcome.skip("opt-in: set http.socketio_burst.messages (and .event) to send a bounded burst of messages")
    planned, acks, events = b["planned"], b["acks"], b["events"]
    limited_acks = sum(1 for a in acks if _says_throttled(a))
    limited_events = [e for e in events if isinstance(e, list) and e and _says_throttled(e[0])]
    metrics = {"sent": planned, "acks": len(acks), "throttled_acks": limited_acks, "disconnected": b["disconnected"],
               "post_statuses": b["post_statuses"]}
    where = f"event {b['event']!r}"
    if limited_acks or limited_events or b["disconnected"] or any(s == 429 for s in b["post_statuses"]):
        how = (f"{limited_acks} of {planned} acks refused" if limited_acks else
               "the server disconnected the socket" if b["disconnected"] else
               "the server sent a rate-limit event" if limited_events else "429 on the polling transport")
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
