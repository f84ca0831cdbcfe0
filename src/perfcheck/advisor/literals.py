"""Making pg_stat_statements' normalised text plannable again.

pg_stat_statements replaces every constant with `$n`, including the string of a typed
literal: `now() - interval '30 days'` is kept as `now() - interval $2`, `date '2024-01-01'`
as `date $1`, which does not parse. The same value written as a cast parses and plans
alike: `$2::interval`, `$1::date`. `rewrite()` turns the one into the other, token by
token (pglast's scanner, so that nothing inside a string or a comment is touched).

A few `$n` parse but cannot be planned without a type: `now() - $1` (is it an interval or
a timestamp?) is read as an interval; `$1 IS NULL`, `SELECT $1` have no type at all and
`with_types()` declares them text when the planner says so. What is still unplannable is
reported by the advisor with the planner's reason.
"""

from __future__ import annotations

import re

from pglast.parser import ParseError, scan

# Keyword tokens that name a type (the scanner's names); other type names are IDENTs.
_TYPE_KEYWORDS = {
    "INTERVAL", "TIMESTAMP", "TIME", "DATE", "BOOLEAN_P", "INT_P", "INTEGER", "BIGINT", "SMALLINT", "NUMERIC",
    "DECIMAL_P", "REAL", "FLOAT_P", "CHAR_P", "CHARACTER", "VARCHAR", "BIT", "JSON", "DOUBLE_P", "PRECISION",
}
# "timestamp with time zone $1": the words before the parameter that are part of the type.
_ZONE_TAIL = ("WITH", "WITHOUT", "TIME", "ZONE")
# now() - $1, current_date + $2: date/time arithmetic whose other operand is an interval.
_CLOCK_ARITHMETIC = re.compile(
    r"\b(now\s*\(\s*\)|current_timestamp|current_date|localtimestamp|clock_timestamp\s*\(\s*\)|statement_timestamp\s*\(\s*\)"
    r"|transaction_timestamp\s*\(\s*\))(\s*[-+]\s*)\$(\d+)(?!\s*::)(?![\d.])",
    re.I)
_UNTYPED = re.compile(r"could not determine data type of parameter \$(\d+)")


def _typed_literals(query: str) -> str:
    try:
        tokens = scan(query)
    except ParseError:
        return query
    edits: list[tuple[int, int, str]] = []
    for i, token in enumerate(tokens):
        if token.name != "PARAM" or i == 0:
            continue
        first = i - 1
        previous = tokens[first]
        if previous.name == "ZONE":
            while first > 0 and tokens[first - 1].name in _ZONE_TAIL + ("TIMESTAMP",):
                first -= 1
                if tokens[first].name == "TIMESTAMP":
                    break
            if tokens[first].name not in ("TIMESTAMP", "TIME"):
                continue
        elif previous.name == "PRECISION":
            first -= 1
        elif not (previous.name in _TYPE_KEYWORDS or previous.name == "IDENT"):
            continue
        if first > 0 and tokens[first - 1].name == "ASCII_46":  # schema.type $1
            first -= 2
        if first > 0 and tokens[first - 1].name == "AT":  # ts AT TIME ZONE $1: not a type
            continue
        type_text = query[tokens[first].start:previous.end + 1]
        param = query[token.start:token.end + 1]
        edits.append((tokens[first].start, token.end + 1, f"{param}::{type_text}"))
    for start, end, text in reversed(edits):
        query = query[:start] + text + query[end:]
    return query


def rewrite(query: str) -> str:
    """The statement in a form that parses and plans like the one the application ran."""
    text = _typed_literals(query)
    return _CLOCK_ARITHMETIC.sub(lambda m: f"{m.group(1)}{m.group(2)}${m.group(3)}::interval", text)


def with_types(query: str, planner_error: str) -> str | None:
    """The statement with the parameter the planner could not type declared text, or None
    when the error is another one (or that parameter is already cast)."""
    match = _UNTYPED.search(planner_error)
    if not match:
        return None
    number = match.group(1)
    pattern = re.compile(rf"\${number}(?![\d]|\s*::)")
    if not pattern.search(query):
        return None
    return pattern.sub(f"${number}::text", query)
