"""Keep secrets out of every output: URLs lose their passwords, messages lose known secrets.

What is a secret: the password of any target URL; the value of a query parameter whose
name says credential (token, key, secret, password, sig, auth…) whatever its length; every
other query value of the HTTP target's URL of 8 characters or more (an opaque id or token; a
short `?page=2` or `?lang=en` is not worth mangling every "2" or "en" in the report for);
and the values of configured HTTP headers that carry credentials (Authorization, Cookie,
X-Api-Key…). A secret is masked in every form a server may echo it: raw, percent-decoded,
percent-encoded, HTML-escaped, JSON- or repr-escaped.

Everything here is linear in the text: plain `str.replace` over the known forms, and one
URL-userinfo pattern that starts at a literal "://" and cannot run past the next "/".
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from enum import Enum
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = {"password", "pass", "pwd", "token", "access_token", "secret", "api_key", "apikey", "sslpassword",
                  "key", "sig", "signature", "auth", "code", "jwt", "session", "sid"}
# A parameter or header whose name contains one of these carries a credential too
# (refresh_token, client_secret, X-Amz-Signature, x-api-key, X-Auth-Token…).
_SECRET_WORDS = ("token", "secret", "passw", "signature", "api_key", "apikey", "api-key", "credential", "auth",
                 "session", "cookie")
_MASK = "***"
_SETTINGS_SCHEMES = ("postgres", "postgresql", "redis", "rediss", "unix")
MIN_SECRET = 2  # shorter than this is not maskable without destroying the text around it
MIN_QUERY_VALUE = 8  # an unnamed query value this long is treated as a secret
# A named credential cut short by an excerpt ("got 'token=abc12…'[:40]") still leaks its head:
# its first PREFIX characters, and as much of the rest as follows them, are masked too.
PREFIX = 6
MIN_PREFIXED = 8
# Credentials in a URL no one configured (a driver echoing a DSN): scheme://user:password@.
# It starts at a literal "://", the user part cannot contain ":" and neither part can cross
# a "/": each try backtracks at most to the next "://", so a scan is linear in the text.
_USERINFO = re.compile(r"(://[^\s/?#@:]*):[^\s/?#]+@")


def is_secret_name(name: str) -> bool:
    name = name.strip().lower()
    return name in _SECRET_PARAMS or any(word in name for word in _SECRET_WORDS)


# A libpq keyword string's pair: key = value, the value bare or single-quoted with backslash escapes.
_KEYWORD_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)")


def _keyword_string(text: str) -> bool:
    """`host=db dbname=app password=…`: libpq's other form of a connection string."""
    return "://" not in text and "=" in text and not text.lstrip().startswith(("?", "&"))


def redact_url(url: str) -> str:
    """The URL (or libpq keyword string) as it may be shown: password and secret query
    parameters masked."""
    if _keyword_string(url):
        return _KEYWORD_PAIR.sub(lambda m: f"{m[1]}={_MASK}" if is_secret_name(m[1]) else m[0], url)
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
        pairs = [(k, _MASK if is_secret_name(k) else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _query_values(query: str) -> list[tuple[str, str]]:
    """(name, raw value) of each parameter, the value as written (still percent-encoded)."""
    out = []
    for item in query.split("&"):
        name, sep, value = item.partition("=")
        if sep:
            out.append((unquote_plus(name), value))
    return out


def secrets_in_url(url: str, *, named_only: bool = False) -> list[str]:
    """The secret strings inside a URL, to scrub from any message that might echo them.
    `named_only`: only the password and the values of credential-named parameters."""
    found: list[str] = []
    if _keyword_string(url):
        for match in _KEYWORD_PAIR.finditer(url):
            if is_secret_name(match[1]):
                value = match[2]
                found += [value, re.sub(r"\\(.)", r"\1", value[1:-1])] if value.startswith("'") else [value]
        return [s for s in found if s]
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return [url]
    if password:
        found += [password, unquote(password)]
    # A database or Redis URL's parameters are connection settings (sslmode, options…):
    # only the credential-named ones (password, sslpassword) are secrets there.
    named_only = named_only or parts.scheme.lower() in _SETTINGS_SCHEMES
    for name, value in _query_values(parts.query):
        if is_secret_name(name) or (not named_only and len(unquote_plus(value)) >= MIN_QUERY_VALUE):
            found += [value, unquote_plus(value)]
    return [s for s in found if s]


def secrets_in_headers(headers: Mapping[str, str]) -> list[str]:
    """Values of headers that carry credentials, and the credential after an auth scheme
    ("Bearer abc…" is echoed whole or as "abc…")."""
    found: list[str] = []
    for name, value in headers.items():
        if not isinstance(value, str) or not (is_secret_name(name) or name.lower() == "authorization"):
            continue
        found.append(value)
        scheme, _, credential = value.strip().partition(" ")
        if credential.strip():
            found.append(credential.strip())
    return found


def secrets_in_args(args: Iterable[str]) -> list[str]:
    """Secrets in raw command-line arguments (for usage errors, before any configuration is
    read): a URL's password and secret query values, also in `--db=URL` and in a URL
    whose scheme was mistyped or left out (`app:pw@host`), and a libpq keyword string's
    password."""
    found: list[str] = []
    for arg in args:
        if arg.startswith("--") and "=" in arg:
            arg = arg.partition("=")[2]
        if _keyword_string(arg) and " " in arg.strip():  # a libpq keyword string: host=… password=…
            found += secrets_in_url(arg)
            continue
        if "@" not in arg and "?" not in arg:
            continue
        found += secrets_in_url(arg)
        if "@" in arg:  # userinfo without a well-formed scheme://
            userinfo = arg.rpartition("@")[0].rpartition("//")[2].rpartition("/")[2]
            if ":" in userinfo:
                password = userinfo.partition(":")[2]
                found += [password, unquote(password)]
    return [s for s in found if s]


def secrets_in_config(data: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(every secret, the named credentials among them) of a loaded configuration: its target
    URLs and the credential headers of its HTTP endpoints."""
    every: list[str] = []
    named: list[str] = []
    for url in (data.get("targets") or {}).values():
        every += secrets_in_url(url)
        named += secrets_in_url(url, named_only=True)
    prometheus = str((data.get("prometheus") or {}).get("url") or "")  # basic auth in a Prometheus URL
    every += secrets_in_url(prometheus)
    named += secrets_in_url(prometheus, named_only=True)
    for ep in (data.get("http") or {}).get("endpoints") or []:
        headers = secrets_in_headers(ep.get("headers") or {})
        every += headers
        named += headers
    return every, named


def _forms(secret: str) -> set[str]:
    """The ways a server or a view may spell the secret back."""
    forms = {secret}
    for decoded in {secret, unquote(secret), unquote_plus(secret)}:
        forms |= {decoded, quote(decoded, safe=""), quote(decoded), quote_plus(decoded), html.escape(decoded),
                  repr(decoded)[1:-1], json.dumps(decoded)[1:-1]}
    return {f for f in forms if len(f) >= MIN_SECRET and f not in _MASK}


class Redactor:
    """Masks known secrets (and stray URL credentials) in text and in report data."""

    def __init__(self, secrets: Iterable[str] = (), credentials: Iterable[str] = ()):
        secrets = [s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET]
        credentials = [s for s in credentials if isinstance(s, str) and len(s) >= MIN_SECRET]
        forms: set[str] = set()
        for secret in [*secrets, *credentials]:
            forms |= _forms(secret)
        # Longest first: a secret that contains another is masked whole.
        self.forms = sorted(forms, key=len, reverse=True)
        # The forms of each credential grouped by their first PREFIX characters: a cut excerpt
        # is masked as far as any of them follows it ("tok…/sla" decoded, "tok…%2Fsla" raw).
        self.prefixed: dict[str, list[str]] = {}
        for secret in credentials:
            for form in _forms(secret):
                if len(form) >= MIN_PREFIXED:
                    self.prefixed.setdefault(form[:PREFIX], []).append(form)

    def scrub(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, _MASK)
        for head, forms in self.prefixed.items():
            if head in text:
                text = _mask_heads(text, head, forms)
        if "://" in text:
            text = _USERINFO.sub(r"\1:" + _MASK + "@", text)
        return text

    def data(self, value: Any) -> Any:
        """Every string inside plain data (dicts, lists, tuples), keys too."""
        if isinstance(value, str) and not isinstance(value, Enum):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if type(value) in (list, tuple):
            return type(value)(self.data(v) for v in value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.record(value)
        return value

    # Fields that name perfcheck's own vocabulary (check ids, statuses, severities), never
    # anything the target said: left alone so that a short secret can't corrupt the report.
    KEEP = frozenset({"id", "category", "target", "severity", "version", "created_at"})

    def record(self, obj: Any) -> Any:
        """A copy of a dataclass (a Report and everything in it) with every string field scrubbed."""
        changes = {f.name: self.data(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                   if f.init and f.name not in self.KEEP}
        return dataclasses.replace(obj, **changes)


def _mask_heads(text: str, head: str, forms: list[str]) -> str:
    """Mask every place the text starts spelling one of `forms` (which all begin with `head`),
    as far as the longest of them follows."""
    out: list[str] = []
    start = 0
    i = text.find(head)
    while i >= 0:
        end = i + len(head)
        for form in forms:
            end = max(end, i + _follows(text, i, form))
        out += [text[start:i], _MASK]
        start = end
        i = text.find(head, start)
    out.append(text[start:])
    return "".join(out)


def _follows(text: str, i: int, form: str) -> int:
    """How many characters of `form` the text spells from position i."""
    j = 0
    while j < len(form):  # in blocks, then character by character
        step = min(64, len(form) - j)
        if text[i + j:i + j + step] == form[j:j + step]:
            j += step
            continue
        while j < len(form) and i + j < len(text) and text[i + j] == form[j]:
            j += 1
        break
    return j


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every known secret in a message (in any encoding), and stray URL credentials."""
    return Redactor(secrets).scrub(text)


def for_config(data: Mapping[str, Any]) -> Redactor:
    every, named = secrets_in_config(data)
    return Redactor(every, named)
