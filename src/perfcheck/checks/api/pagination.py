"""`api.pagination`: Lists page by cursor."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from perfcheck.checks.support.http import answered_2xx, failed, header, is_html, is_json, label, media_type, names
from perfcheck.model import Finding, Fix
from perfcheck.registry import Outcome, check

CURSOR_KEYS = {"next_cursor", "nextcursor", "cursor", "next_page_token", "nextpagetoken", "end_cursor", "endcursor",
               "after", "starting_after", "continuation", "continuation_token", "next_token", "nexttoken", "next_key"}


OFFSET_KEYS = {"page", "offset", "page_size", "per_page", "perpage", "total_pages", "totalpages", "current_page",
               "currentpage", "page_number", "pagenumber", "skip", "last_page"}


CURSOR_PARAMS = {"cursor", "after", "before", "starting_after", "page_token", "pagetoken", "token", "since_id",
                 "continuation", "next_token", "key"}


OFFSET_PARAMS = {"page", "offset", "skip", "start", "page_number"}


LIST_KEYS = ("items", "data", "results", "records", "rows", "entries", "edges", "nodes", "objects", "list")


def _keys(body: Any, depth: int = 0) -> set[str]:
    """Key names in the body's envelope (top level and one nested object like `meta`)."""
    if not isinstance(body, dict) or depth > 1:
        return set()
    keys = {k.lower() for k in body}
    for value in body.values():
        if isinstance(value, dict):
            keys |= _keys(value, depth + 1)
    return keys


def _params(url: str) -> set[str]:
    return {k.lower() for k in parse_qs(urlsplit(url).query)}


def _next_links(e: dict[str, Any]) -> list[str]:
    links = [part.split(";")[0].strip(" <>") for part in header(e, "link").split(",") if 'rel="next"' in part or "rel=next" in part]
    body = e.get("json")
    if isinstance(body, dict):
        for holder in (body, body.get("links") or {}, body.get("meta") or {}, body.get("pagination") or {}):
            if isinstance(holder, dict) and isinstance(holder.get("next"), str):
                links.append(holder["next"])
    return links


def _list_length(body: Any) -> int | None:
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        for key in LIST_KEYS:
            if isinstance(body.get(key), list):
                return len(body[key])
    return None


def paging_style(e: dict[str, Any]) -> tuple[str, str]:
    """("cursor" | "offset" | "none", the evidence) for a list answer."""
    body = e.get("json")
    keys = _keys(body)
    link_params = set().union(*(_params(link) for link in _next_links(e))) if _next_links(e) else set()
    asked = _params(e.get("path", ""))
    if keys & CURSOR_KEYS or link_params & CURSOR_PARAMS:
        found = sorted(keys & CURSOR_KEYS) or sorted(link_params & CURSOR_PARAMS)
        return "cursor", f"cursor in the answer ({', '.join(found)})"
    if keys & OFFSET_KEYS or link_params & OFFSET_PARAMS or asked & OFFSET_PARAMS:
        found = sorted(keys & OFFSET_KEYS) or sorted(link_params & OFFSET_PARAMS) or sorted(asked & OFFSET_PARAMS)
        return "offset", f"page/offset fields ({', '.join(found)})"
    return "none", "no paging fields"


@check("api.pagination", requires=["http.endpoints"])
def pagination(facts, t):
    lists, unjudged = [], []
    for e in facts["http.endpoints"]:
        if e.get("kind") not in ("list", "api"):
            continue
        declared = e.get("kind") == "list"
        if failed(e) or not answered_2xx(e):
            if declared:
                unjudged.append(f"{label(e)}: " + (failed(e) or f"answered {e.get('status')}"))
            continue
        if not is_json(e):
            if declared:
                kind = "HTML" if is_html(e) else media_type(e) or "no content type"
                unjudged.append(f"{label(e)} answered {kind} where JSON was expected")
            continue
        if declared or _list_length(e.get("json")) not in (None, 0, 1):
            lists.append(e)
    if not lists:
        if unjudged:
            return Outcome.error("; ".join(unjudged))
        return Outcome.skip("no list endpoint to judge (mark one kind: list under http.endpoints)")
    findings, scores = [], []
    for e in lists:
        style, evidence = paging_style(e)
        n = _list_length(e.get("json"))
        if style == "cursor":
            scores.append(1.0)
        elif style == "offset":
            scores.append(0.0)
            findings.append(Finding("fail", label(e), f"pages by offset: {evidence}; deep pages get slower and "
                                    "rows shift between pages", Fix.manual("page by cursor: WHERE id > $last ORDER BY id LIMIT $n, "
                                                                        "and return next_cursor"),
                                    {"evidence": evidence, "items": n}))
        else:
            scores.append(0.5)
            findings.append(Finding("warn", label(e), f"answers {n if n is not None else 'a list of'} items with no "
                                    "pagination: an unbounded list grows with the data",
                                    Fix.manual("limit the page size and return next_cursor"), {"items": n}))
    for why in unjudged:
        findings.append(Finding("warn", why.split(" answered")[0].split(":")[0], why))
    good = scores.count(1.0)
    cursor = [label(e) for e, score in zip(lists, scores) if score == 1.0]
    which = f" ({names(cursor)})" if cursor and good < len(scores) else ""
    return Outcome.scored(sum(scores) / len(scores), f"{good}/{len(scores)} list endpoints page by cursor{which}",
                          metrics={"lists": len(scores), "cursor": good}, findings=findings)
