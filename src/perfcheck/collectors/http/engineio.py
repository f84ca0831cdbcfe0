"""Engine.IO v4 polling payloads and the Socket.IO packets inside them. Pure
encoding and decoding; the HTTP collector does the requests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

RECORD_SEPARATOR = "\x1e"  # between packets of one polling payload (Engine.IO v4)

# Engine.IO packet types
OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0123456"
# Socket.IO packet types (inside an Engine.IO MESSAGE)
CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR = "01234"


class ProtocolError(ValueError):
    """The answer is not an Engine.IO v4 payload."""


def parse_open(payload: str) -> dict[str, Any]:
    """The handshake's open packet: `0{"sid":…,"pingInterval":…,"pingTimeout":…,"upgrades":[…]}`."""
    first = payload.split(RECORD_SEPARATOR, 1)[0]
    if not first.startswith(OPEN):
        raise ProtocolError(f"expected an Engine.IO open packet ('0{{…}}'), got {first[:40]!r}")
    try:
        data = json.loads(first[1:])
    except ValueError as exc:
        raise ProtocolError(f"the open packet is not JSON: {exc}") from None
    if not isinstance(data, dict) or "sid" not in data:
        raise ProtocolError("the open packet has no sid")
    return data


@dataclass(frozen=True)
class SocketPacket:
    type: str  # CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR…
    namespace: str
    ack_id: int | None
    data: Any


_SIO = re.compile(r"(?P<type>\d)(?:(?P<ns>/[^,]*),)?(?P<ack>\d+)?(?P<data>.*)", re.S)


def parse_payload(payload: str) -> tuple[list[str], list[SocketPacket]]:
    """Engine.IO packet types seen, and the Socket.IO packets carried in MESSAGE packets."""
    engine: list[str] = []
    socket: list[SocketPacket] = []
    for packet in payload.split(RECORD_SEPARATOR):
        if not packet:
            continue
        engine.append(packet[0])
        if packet[0] != MESSAGE:
            continue
        match = _SIO.fullmatch(packet[1:])
        if not match:
            continue
        data: Any = None
        if match["data"]:
            try:
                data = json.loads(match["data"])
            except ValueError:
                data = match["data"]
        socket.append(SocketPacket(match["type"], match["ns"] or "/", int(match["ack"]) if match["ack"] else None, data))
    return engine, socket


def _ns(namespace: str) -> str:
    return "" if namespace in ("", "/") else f"{namespace},"


def connect_packet(namespace: str) -> str:
    return f"{MESSAGE}{CONNECT}{_ns(namespace)}"


def event_packet(namespace: str, ack_id: int, event: str, data: Any) -> str:
    return f"{MESSAGE}{EVENT}{_ns(namespace)}{ack_id}{json.dumps([event, data])}"


def join(packets: list[str]) -> str:
    return RECORD_SEPARATOR.join(packets)
