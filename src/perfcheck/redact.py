"""Keep secrets out of every output: URLs lose their passwords, messages lose known secrets."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = {"password", "pass", "pwd", "token", "access_token", "secret", "api_key", "apikey", "sslpassword"}
_MASK = "***"


def redact_url(url: str) -> str:
    """The URL as it may be shown: password and secret query parameters masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}{':' + _MASK if sep else ''}@{hostport}"
    query = parts.query
    if query:
        pairs = [(k, _MASK if k.lower() in _SECRET_PARAMS else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secrets_in_url(url: str) -> list[str]:
    """The secret strings inside a URL, to scrub from any message that might echo them."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in _SECRET_PARAMS and value:
            found.append(value)
    return found


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every known secret in a message (also in its URL-encoded form)."""
    from urllib.parse import quote

    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) < 2:
            continue
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, _MASK)
    # Any URL with credentials that slipped through (e.g. echoed by a driver).
    return re.sub(r"(\w+://[^:/@\s]*):[^@/\s]+@", r"\1:" + _MASK + "@", text)
