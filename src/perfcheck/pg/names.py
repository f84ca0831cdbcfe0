"""SQL names as a user should paste them: quoted only when needed, index names ≤ 63 bytes."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")
MAX_IDENTIFIER_BYTES = 63
OWN_TAG = "/* perfcheck */"


def tagged(text: str) -> str:
    """A statement perfcheck sends, with its tag at both ends, so that the audit leaves it out
    of the workload it judges: pg_stat_statements keeps a leading comment up to PostgreSQL 17,
    but from 18 its text starts at the statement's first token (a trailing comment stays).
    The newline ends a trailing -- comment."""
    body = text.strip().rstrip(";").rstrip()
    if not body.startswith(OWN_TAG):
        body = f"{OWN_TAG} {body}"
    return body if body.endswith(OWN_TAG) else f"{body}\n{OWN_TAG}"


@lru_cache(maxsize=1)
def _needs_quotes() -> frozenset[str]:
    """The keywords a plain name must still be quoted as (loaded on first use)."""
    from pglast import keywords  # why: pglast costs ~25 ms+ to import; most audits quote nothing
    return frozenset(keywords.RESERVED_KEYWORDS) | frozenset(keywords.TYPE_FUNC_NAME_KEYWORDS) | frozenset(
        keywords.COL_NAME_KEYWORDS)


def quote_ident(name: str) -> str:
    if _PLAIN.match(name) and name not in _needs_quotes():
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def index_name(table: str, columns: list[str], suffix: str = "idx") -> str:
    """`<table>_<col>_<col>_idx`, shortened with a stable hash when over 63 bytes."""
    words = [re.sub(r"[^a-z0-9_]+", "_", part.lower()).strip("_") or "expr" for part in [table, *columns]]
    name = "_".join([*words, suffix])
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    keep = MAX_IDENTIFIER_BYTES - len(digest) - len(suffix) - 2
    return f"{name[:keep].rstrip('_')}_{digest}_{suffix}"
