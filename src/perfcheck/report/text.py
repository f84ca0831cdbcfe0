"""Escaping shared by the text views. Object names and messages come from the audited
systems (a table may be named anything), so every view escapes them for its format."""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def md_text(text: str) -> str:
    """Plain text inside Markdown: no markup, no HTML, one line."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def md_code(text: str, *, in_table: bool = False) -> str:
    """An inline code span that survives backticks in the text (and pipes in a table)."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(text: str, lang: str = "") -> str:
    """A fenced code block longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def xml_safe(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry (control bytes from a driver message)."""
    return _XML_INVALID.sub("", text)


def score_text(score: int | None) -> str:
    return "?" if score is None else str(score)
