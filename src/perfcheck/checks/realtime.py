"""Real-time (Socket.IO) checks: the Engine.IO heartbeat and, opt-in, throttling."""

from __future__ import annotations

from typing import Any

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check

THROTTLE_WORDS = ("rate", "limit", "throttl", "too many", "slow down", "flood")



@check("rt.heartbeat", requires=["http.socketio"])
def heartbeat(facts, t):
    hs = facts["http.socketio"]
    path = hs.get("path")
    if hs.get("status") is None:
        return Outcome.error(f"the Engine.IO handshake at {path} got no answer: {hs.get('error')}")
    if hs["status"] == 404:
        return Outcome.skip(f"no Socket.IO server at {path} (404); set http.socketio_path if it lives elsewhere")
    if hs.get("protocol_error") or hs["status"] != 200:
        why = hs.get("protocol_error") or f"answered {hs['status']}"
        return Outcome.error(f"GET {path}?EIO=4&transport=polling is not an Engine.IO v4 handshake: {why}")
    opened = hs["open"]
    want_interval, want_timeout = int(t["ping_interval_ms"]), int(t["ping_timeout_ms"])
    interval, timeout = opened.get("pingInterval"), opened.get("pingTimeout")
    upgrades = opened.get("upgrades") or []
    metrics = {"ping_interval_ms": interval, "ping_timeout_ms": timeout, "upgrades": upgrades}
    fix = Fix.manual(f"Socket.IO server options: pingInterval {want_interval}, pingTimeout {want_timeout}, "
                 "transports ['polling', 'websocket']")
    findings = []
    score = 1.0
    if not isinstance(interval, int) or not isinstance(timeout, int):
        return Outcome.error(f"the open packet has no numeric pingInterval/pingTimeout: {opened}")
    if interval > want_interval * 1.2:
        score -= 0.4
        findings.append(Finding("fail", f"GET {path}", f"pingInterval {interval} ms is over the {want_interval} ms target: "
                                "dead sockets linger and idle proxies (often 30-60 s) cut live ones", fix, metrics))
    elif interval < want_interval / 3:
        score -= 0.2
        findings.append(Finding("warn", f"GET {path}", f"pingInterval {interval} ms is far under {want_interval} ms: "
                                "heartbeats alone load the server", fix, metrics))
    if timeout < want_timeout * 0.75:
        score -= 0.3
        findings.append(Finding("warn", f"GET {path}", f"pingTimeout {timeout} ms is under the {want_timeout} ms target: "
                                "clients on slow or mobile networks get dropped and reconnect", fix, metrics))
    elif timeout > want_timeout * 2:
        score -= 0.2
        findings.append(Finding("warn", f"GET {path}", f"pingTimeout {timeout} ms: dead clients hold resources for long",
                                fix, metrics))
    if "websocket" not in upgrades:
        score -= 0.3
        findings.append(Finding("warn", f"GET {path}", "no websocket upgrade offered: clients stay on HTTP long-polling",
                                Fix.manual("allow the websocket transport (and proxy Upgrade headers)"), metrics))
    summary = (f"pingInterval {interval} ms, pingTimeout {timeout} ms, upgrades: {', '.join(upgrades) or 'none'}")
    return Outcome.scored(score, summary, metrics=metrics, findings=findings)


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
