"""report.jsontext writes the same bytes as json.dumps(indent=2, ensure_ascii=False): the
JSON, SARIF and GitLab reports are unchanged by the faster writer."""

from __future__ import annotations

import enum
import json
import math
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from perfcheck.report import jsontext


class Level(enum.IntEnum):
    LOW = 1


class Word(str, enum.Enum):
    OK = "ok"


VALUE = {
    "text": "plain", "unicode": "été — ✔ \u2028 \x00 \"quoted\" \\ back", "empty": "", "none": None, "yes": True,
    "no": False, "int": -42, "big": 10 ** 30, "float": 0.1, "small": 1e-07, "large": 1.5e300, "nan": math.nan,
    "inf": math.inf, "-inf": -math.inf, "enum": Level.LOW, "strenum": Word.OK, "tuple": (1, "a", None),
    "nested": [[], {}, [[{"a": [1, 2, {"b": {}}]}]], {"deep": [[[[]]]]}],
    1: "int key", 2.5: "float key", None: "none key",
    "decimal": Decimal("1.25"), "when": datetime(2026, 1, 1, tzinfo=timezone.utc),
}


def _default(value):
    return value.isoformat() if hasattr(value, "isoformat") else float(value)


@pytest.mark.parametrize("value", [VALUE, [], {}, "x", 3, None, [VALUE, VALUE], {"only": [VALUE]}, {True: "t", False: "f"}])
def test_same_bytes_as_json_dumps(value):
    assert jsontext.dumps(value, default=_default) == json.dumps(value, indent=2, ensure_ascii=False, default=_default)


def test_what_json_cannot_hold_is_refused_like_json_dumps():
    with pytest.raises(TypeError):
        jsontext.dumps({"x": object()})
    with pytest.raises(TypeError):
        jsontext.dumps({(1, 2): "tuple key"})
