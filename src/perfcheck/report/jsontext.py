"""JSON text indented by two spaces, the same bytes as `json.dumps(value, indent=2,
ensure_ascii=False, default=default)`, about twice as fast.

With `indent`, the standard library falls back from its C encoder to a pure-Python chain of
generators; a SARIF log of 8,000 findings took 3.4 s that way. This walks the value once,
appending to one list, and still encodes strings with the C function. Like json.dumps:
`default` turns what JSON cannot hold into what it can; keys may be str, int, float, bool
or None; NaN and infinities are written as JavaScript spells them. No cycle detection: a
report is a tree."""

from __future__ import annotations

from json.encoder import INFINITY, encode_basestring
from typing import Any, Callable


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == INFINITY:
        return "Infinity"
    if value == -INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return encode_basestring(key)
    if key is True or key is False or key is None:
        return '"' + {True: "true", False: "false", None: "null"}[key] + '"'
    if isinstance(key, int):
        return '"' + int.__repr__(key) + '"'
    if isinstance(key, float):
        return '"' + _float(key) + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    parts: list[str] = []
    append = parts.append

    def walk(o: Any, pad: str) -> None:  # pad: a newline and the current indentation
        if isinstance(o, str):
            append(encode_basestring(o))
        elif o is None:
            append("null")
        elif o is True:
            append("true")
        elif o is False:
            append("false")
        elif isinstance(o, int):
            append(int.__repr__(o))
        elif isinstance(o, float):
            append(_float(o))
        elif isinstance(o, (list, tuple)):
            if not o:
                append("[]")
                return
            inner = pad + "  "
            append("[" + inner)
            for i, item in enumerate(o):
                if i:
                    append("," + inner)
                walk(item, inner)
            append(pad + "]")
        elif isinstance(o, dict):
            if not o:
                append("{}")
                return
            inner = pad + "  "
            append("{" + inner)
            for i, (key, item) in enumerate(o.items()):
                append(("," + inner if i else "") + _key(key) + ": ")
                walk(item, inner)
            append(pad + "}")
        elif default is not None:
            walk(default(o), pad)
        else:
            raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    walk(value, "\n")
    return "".join(parts)
