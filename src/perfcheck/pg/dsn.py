"""Connection strings as people have them, turned into what libpq takes.

Accepted: libpq URLs (`postgresql://`, `postgres://`), libpq keyword strings
(`host=… dbname=…`), service files and `PG*` environment variables (libpq reads them
itself), and the URL forms of ORMs and hosted providers: SQLAlchemy-style schemes
(`postgresql+psycopg://`, `postgresql+asyncpg://`) and the parameters their drivers read
but libpq refuses (Prisma's `connection_limit`, `pool_timeout`, `schema`, `pgbouncer`;
node-postgres' `statement_timeout`, `idle_in_transaction_session_timeout`…). Those are set
aside, kept for the checks that judge them (db.pool, db.timeouts) and named in one note;
they never fail the connection. Nothing here ever shows a password.
"""

from __future__ import annotations

import re
from functools import cache
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import parse_qsl, quote, urlsplit

import psycopg
from psycopg import conninfo, pq

from perfcheck.redact import is_secret_name, redact_url

_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*)://", re.IGNORECASE)
_SCHEMES = ("postgresql", "postgres")
# key = value, the value bare or single-quoted with backslash escapes (libpq's grammar).
_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)")
# Settings that a driver or an ORM sends as the session starts; libpq takes them only in `options`.
SESSION_SETTINGS = ("statement_timeout", "idle_in_transaction_session_timeout", "lock_timeout", "search_path")


class DsnError(ValueError):
    """A connection string that names no server or cannot be parsed; one line, no secrets."""


@cache
def libpq_keywords() -> frozenset[str]:
    """The keywords this libpq accepts (newer libpq versions know more)."""
    return frozenset(d.keyword.decode() for d in pq.Conninfo.get_defaults())


@dataclass
class Dsn:
    """A parsed connection string: `conninfo` for libpq, the rest for the checks."""

    conninfo: str
    params: dict[str, str]  # what libpq gets from the string itself (password included: never show)
    set_aside: dict[str, str] = field(default_factory=dict)  # what the driver cannot take
    scheme: str | None = None  # as written, when a URL ("postgresql+asyncpg")
    shown: str = ""  # the string as it may be shown (password masked)

    @property
    def host(self) -> str | None:
        return self.params.get("host") or self.params.get("hostaddr")

    def port(self, environ: Mapping[str, str]) -> int | None:
        """The port the client connects to (the first one of a multi-host string)."""
        value = (self.params.get("port") or environ.get("PGPORT") or "5432").split(",")[0]
        return int(value) if value.isdigit() else None

    def visible_params(self) -> dict[str, str]:
        """Every parameter written in the string, secrets masked."""
        out = {k: ("***" if is_secret_name(k) else v) for k, v in self.params.items()}
        out.update({k: ("***" if is_secret_name(k) else v) for k, v in self.set_aside.items()})
        return out

    def note(self) -> str | None:
        """One line naming what was set aside, or None."""
        if not self.set_aside and not (self.scheme and self.scheme.lower() not in _SCHEMES):
            return None
        parts = []
        if self.scheme and self.scheme.lower() not in _SCHEMES:
            parts.append(f"the scheme {self.scheme}:// was read as postgresql://")
        if self.set_aside:
            names = ", ".join(f"{k}={'***' if is_secret_name(k) else v}" for k, v in self.set_aside.items())
            parts.append(f"{names} are settings of the application's driver, not of libpq: perfcheck connected "
                         f"without them and judges them against the server (db.pool, db.timeouts)")
        return "; ".join(parts)


def is_url(text: str) -> bool:
    return bool(_SCHEME.match(text.strip()))


def keyword_pairs(text: str) -> list[tuple[str, str]] | None:
    """(key, value) of a libpq keyword string, values unquoted; None if it is not one."""
    pairs, pos, text = [], 0, text.strip()
    while pos < len(text):
        match = _PAIR.match(text, pos)
        if not match:
            return None
        value = match.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        pairs.append((match.group(1), value))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return pairs or None


def _from_url(text: str) -> tuple[str, dict[str, str], str]:
    """(URL libpq takes, set-aside parameters, scheme as written)."""
    scheme = _SCHEME.match(text).group(1)
    base = scheme.lower().split("+", 1)[0]
    if base not in _SCHEMES:
        raise DsnError(f"URL {redact_url(text)} must start with postgresql:// or postgres:// "
                       f"(postgresql+DRIVER:// is read as postgresql://), or be a keyword string (host=… dbname=…)")
    parts = urlsplit(text)
    kept, aside = [], {}
    known = libpq_keywords()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in known:
            kept.append(f"{quote(key)}={quote(value, safe='')}")
        else:
            aside[key] = value
    # Built by hand: urlunsplit drops the "//" of an empty host ("postgresql:///db").
    url = f"postgresql://{parts.netloc}{parts.path}" + (f"?{'&'.join(kept)}" if kept else "")
    return url, aside, scheme


def _from_keywords(text: str) -> tuple[str, dict[str, str]]:
    pairs = keyword_pairs(text)
    if pairs is None:
        raise DsnError("the connection string is neither a postgresql:// URL nor a libpq keyword string "
                       "(host=… dbname=…)")
    known = libpq_keywords()
    kept = {k: v for k, v in pairs if k in known}
    return conninfo.make_conninfo("", **kept), {k: v for k, v in pairs if k not in known}


def parse(text: str, environ: Mapping[str, str]) -> Dsn:
    """The connection string as libpq will take it; raises DsnError (one line, no password)."""
    text = (text or "").strip()
    if not text:
        raise DsnError("the connection string is empty")
    if is_url(text):
        libpq_text, aside, scheme = _from_url(text)
        shown = redact_url(text) if "//" in redact_url(text) else text.split("?")[0]
    else:
        libpq_text, aside = _from_keywords(text)
        scheme, shown = None, redact_url(text)
    try:
        params = conninfo.conninfo_to_dict(libpq_text)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DsnError(f"{shown}: {reason}") from None
    params = {k: str(v) for k, v in params.items() if v is not None}
    for port in (params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise DsnError(f"{shown}: the port must be a number from 1 to 65535, not {port!r}")
    dsn = Dsn(libpq_text, params, aside, scheme, shown)
    _require_server(dsn, environ)
    return dsn


def _require_server(dsn: Dsn, environ: Mapping[str, str]) -> None:
    """A string that names no server would make libpq fall back to the local socket and the
    OS user: an empty `postgresql://` audits whatever runs on this machine. Refused."""
    if not any(v for k, v in dsn.params.items() if k != "password"):
        raise DsnError(f"{dsn.shown or 'the connection string'} names no server, database or user; "
                       f"give one, e.g. postgresql://USER@HOST:5432/DBNAME")
    if dsn.host or dsn.params.get("service"):
        return
    if environ.get("PGHOST") or environ.get("PGHOSTADDR") or environ.get("PGSERVICE"):
        return
    raise DsnError(f"{dsn.shown} names no host: add one (postgresql://USER@HOST/DBNAME, host=… or "
                   f"?host=/path/to/socket), or set PGHOST or a service")


def session_settings(dsn: Dsn) -> dict[str, str]:
    """Session settings the URL asks for, as the driver would send them: the set-aside
    parameters named like settings, and `-c name=value` in `options`."""
    found = {k: v for k, v in dsn.set_aside.items() if k in SESSION_SETTINGS}
    options = dsn.params.get("options") or ""
    for match in re.finditer(r"(?:-c\s*|--)([a-z_.]+)=(\S+)", options):
        found.setdefault(match.group(1), match.group(2))
    return found
