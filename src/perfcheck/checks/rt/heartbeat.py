"""`rt.heartbeat`: Socket.IO heartbeat fits the checklist."""

from __future__ import annotations

from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check


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
    elif interval > want_interval:
        score -= 0.15  # a little past the target: a warning, never a pass
        findings.append(Finding("warn", f"GET {path}", f"pingInterval {interval} ms is a little over the {want_interval} ms "
                                "target: dead sockets linger longer than they need to", fix, metrics))
    elif interval < want_interval / 3:
        score -= 0.2
        findings.append(Finding("warn", f"GET {path}", f"pingInterval {interval} ms is far under {want_interval} ms: "
                                "heartbeats alone load the server", fix, metrics))
    if timeout < want_timeout:
        score -= 0.3 if timeout < want_timeout * 0.75 else 0.15
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
