"""The HTTP collector: every probe of the API, its static assets, /health, /metrics and
Socket.IO is sent once here, and its answer shared by every check that reads it.

Polite by construction: one client (keep-alive, HTTP/2 where TLS offers it), TLS
verified unless `--insecure`, timeouts on every request, a hard budget of requests
(`http.max_requests`) and a request rate cap (`http.max_rate`) for the whole run. The
audit sends only GET, HEAD and OPTIONS, except the validation probe to the endpoints
the configuration names as `kind: write`, and Engine.IO's own close packet (a POST to
the Socket.IO path) that ends the session the handshake opened, so the server need
not wait out pingTimeout. The bursts for api.rate_limit and rt.throttle are opt-in.

Each answer is recorded as a plain dict (an "exchange", see `_record`) so that facts are
JSON data a saved run can be judged from again.
"""

from __future__ import annotations

import json
import secrets as random_tokens
import threading
import time
import zlib
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpcore
import httpx
from prometheus_client.parser import text_string_to_metric_families

from perfcheck import __version__
from perfcheck.model import Status
from perfcheck.redact import redact_url, scrub
from perfcheck.collectors import Collector, FactUnavailable, TargetError
from perfcheck.collectors.http import engineio, sources
from perfcheck.collectors.http.html_assets import find_assets
from perfcheck.collectors.http.load import GRACE_S, LoadEndpoint, run_load

BODY_LIMIT = 256 * 1024  # bytes read of an API answer or a page (enough to judge it)
ASSET_LIMIT = 1024 * 1024  # bytes read of an asset or image, to measure it
MEDIA_LIMIT = 64 * 1024  # a streaming media endpoint may never end: read its head only
TEXT_LIMIT = 64 * 1024  # characters of text kept in a fact
DEADLINE_GRACE_S = 0.5  # an answer under way at the audit's deadline may run this much past it
FOREIGN_ORIGIN = "https://perfcheck-foreign-origin.invalid"
BROWSER_ACCEPT_IMAGE = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
TEXTUAL = ("text/", "json", "javascript", "xml", "svg", "ecmascript", "x-www-form-urlencoded", "graphql")
API_KINDS = ("api", "list")
# Facts that disturb the target (bursts) come last, so that no other probe sees their 429s.
LAST = ("http.rate_limit_burst", "http.socketio_burst")

try:  # brotli is optional: without it a br answer is still recognised, only not decoded
    import brotli  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None


def accept_encoding() -> str:
    return "gzip, deflate, br" if brotli else "gzip, deflate"


def is_textual(content_type: str) -> bool:
    ct = content_type.lower()
    return any(t in ct for t in TEXTUAL)


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _decode(raw: bytes, encoding: str, limit: int) -> bytes | None:
    """The decoded body (bounded, so a compression bomb can't blow up memory); None if unknown."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return raw
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, limit)
        if encoding == "deflate":
            try:
                return zlib.decompressobj().decompress(raw, limit)
            except zlib.error:
                return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, limit)
        if encoding == "br" and brotli:
            return brotli.decompress(raw)[:limit]
    except (zlib.error, Exception):  # a truncated or corrupt body: judge the bytes we could not decode as unknown
        return None
    return None


def describe_request_error(exc: Exception, url: str) -> str:
    """One line a user can act on, for a request that got no HTTP answer."""
    where = redact_url(url)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException) and text.startswith(_Clock.PREFIX):
        return f"{where}: {text}"
    if isinstance(exc, httpx.TooManyRedirects):
        return f"{where}: too many redirects (a redirect loop?)"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"{where}: connection timed out"
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        return f"{where}: no answer within the timeout (http.timeout_s)"
    if isinstance(exc, httpx.ConnectError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            reason = text.split("certificate verify failed:", 1)[-1].split("(_ssl")[0].strip() or "certificate verify failed"
            return f"{where}: TLS certificate not trusted ({reason}); pass --insecure to audit it anyway"
        if "SSL" in text or "TLS" in text or "record layer" in text or "WRONG_VERSION" in text:
            return f"{where}: TLS handshake failed: the server does not speak TLS here (try http://?)"
        if "refused" in text.lower():
            return f"{where}: connection refused (is the server running on that port?)"
        if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return f"{where}: the host name does not resolve"
        return f"{where}: cannot connect: {text.splitlines()[0]}"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError)):
        if "without sending a response" in text:
            return f"{where}: the server closed the connection without an HTTP answer (not an HTTP port?)"
        return f"{where}: the answer is not HTTP (not an HTTP port?): {text.splitlines()[0][:120]}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"{where}: {text}"
    return f"{where}: {type(exc).__name__}: {text.splitlines()[0]}"


def join_url(base: str, path: str, query: dict[str, str] | None = None) -> str:
    """`path` joined onto the base URL's path (a base with a path prefix keeps it), never
    after its query string. The base URL's query (an auth token, say) is sent with every
    probe: the API asked for it on the base URL, so it presumably wants it everywhere. A
    parameter the probe sets itself (`path`'s own query, then `query`) replaces the base's."""
    parts = urlsplit(base)
    probe = urlsplit(path)
    own = [item for item in (probe.query, urlencode(query) if query else "") if item]
    names = {item.partition("=")[0] for q in own for item in q.split("&")}
    kept = [item for item in parts.query.split("&") if item and item.partition("=")[0] not in names]
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + probe.path, "&".join(kept + own), ""))


class _Clock(threading.local):
    """The wall-clock deadline of the exchange under way in this thread: a socket timeout
    bounds each read, so a server dripping a byte a second could hold one response forever."""

    PREFIX = "the answer did not finish within"
    at: float | None = None
    reason = ""

    def left(self, timeout: float | None) -> tuple[float | None, bool]:
        """The timeout for the next socket operation, and whether the deadline is what bounds it."""
        if self.at is None:
            return timeout, False
        left = self.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout(self.reason)
        return (left, True) if timeout is None or left < timeout else (timeout, False)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, clock: _Clock):
        self.inner, self.clock = inner, clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout, bound = self.clock.left(timeout)
        try:
            return self.inner.read(max_bytes, timeout)
        except httpcore.ReadTimeout:
            if bound:
                raise httpcore.ReadTimeout(self.clock.reason) from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        timeout, bound = self.clock.left(timeout)
        try:
            self.inner.write(buffer, timeout)
        except httpcore.WriteTimeout:
            if bound:
                raise httpcore.WriteTimeout(self.clock.reason) from None
            raise

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        timeout, _ = self.clock.left(timeout)
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, timeout), self.clock)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own backend, its streams bounded by the thread's `_Clock`."""

    def __init__(self, inner: httpcore.NetworkBackend, clock: _Clock):
        self.inner, self.clock = inner, clock

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout, _ = self.clock.left(timeout)
        return _DeadlineStream(self.inner.connect_tcp(host, port, timeout, local_address, socket_options), self.clock)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        timeout, _ = self.clock.left(timeout)
        return _DeadlineStream(self.inner.connect_unix_socket(path, timeout, socket_options), self.clock)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class Budget:
    """A hard cap on the run's requests and their rate (paced starts)."""

    def __init__(self, max_requests: int, max_rate: float):
        self.max_requests = max_requests
        self.interval = 1.0 / max_rate
        self.sent = 0
        self._next = 0.0

    @property
    def remaining(self) -> int:
        return max(0, self.max_requests - self.sent)

    def take(self, n: int = 1) -> None:
        if self.sent + n > self.max_requests:
            raise FactUnavailable(f"the run's request budget (http.max_requests = {self.max_requests}) is spent", Status.ERROR)
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval * n
        self.sent += n


class HttpCollector(Collector):
    target = "http"
    waits_for_timing = True  # the other targets' timing samples first (collectors.QuietPhase)
    providers = {
        "http.html": "_html",
        "http.endpoints": "_endpoints",
        "http.assets": "_assets",
        "http.errors": "_errors",
        "http.validation": "_validation",
        "http.cors": "_cors",
        "http.connection_reuse": "_connection_reuse",
        "http.rate_limit_burst": "_rate_limit_burst",
        "http.socketio": "_socketio",
        "http.socketio_burst": "_socketio_burst",
        "http.metrics": "_metrics",
        "http.health": "_health",
        "http.latency": "_latency",
    }

    client: httpx.Client | None = None

    def __init__(self, url: str, options: dict[str, Any], secrets: list[str]):
        super().__init__(url, options, secrets)
        self.budget = Budget(int(options.get("max_requests", 2000)), float(options.get("max_rate", 200)))
        self.verify = not options.get("insecure", False)
        # One TLS context for every client of the run (building one reads the CA bundle: ~0.1 s).
        self.tls = httpx.create_ssl_context(verify=self.verify)
        self.timeout = httpx.Timeout(float(options.get("timeout_s", 10)), connect=float(options.get("connect_timeout_s", 5)))
        self.endpoints = self._unique([self._endpoint(ep) for ep in options.get("endpoints") or []])
        # Header values (tokens) of configured endpoints are secrets too.
        self.secrets = list(secrets) + [v for ep in self.endpoints for v in ep["headers"].values() if len(v) >= 8]
        self.base: dict[str, Any] = {}
        # Facts show redacted URLs; the real one (a token in the query, say) stays here.
        self.real_urls: dict[str, str] = {}
        self.clock = _Clock()

    # --- plumbing -----------------------------------------------------------------

    @staticmethod
    def _endpoint(ep: dict[str, Any]) -> dict[str, Any]:
        kind = ep.get("kind", "api")
        method = ep.get("method", "POST" if kind == "write" else "GET").upper()
        return {
            "name": ep.get("name") or f"{method} {ep['path']}",
            "method": method,
            "path": ep["path"],
            "kind": kind,
            "headers": dict(ep.get("headers") or {}),
            "body": ep.get("body"),
            "status": int(ep.get("status", 200)),
        }

    def _unique(self, endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One endpoint per method and URL, whatever names the config gives it (the first
        name is kept): the same request is sent, judged and reported once."""
        seen: set[tuple[str, str]] = set()
        out = []
        for ep in endpoints:
            key = (ep["method"], _path_of(self.url_for(ep["path"])))
            if key not in seen:
                seen.add(key)
                out.append(ep)
        return out

    def _configured(self, method: str, url: str, *kinds: str) -> dict[str, Any] | None:
        """The configured endpoint (of these kinds) that sends this method to this URL."""
        path = _path_of(url)
        return next((ep for ep in self._of_kind(*kinds) if ep["method"] == method
                     and _path_of(self.url_for(ep["path"])) == path), None)

    def _new_client(self, **kw: Any) -> httpx.Client:
        client = httpx.Client(http2=True, verify=self.tls, timeout=self.timeout, max_redirects=5,
                              headers={"User-Agent": f"perfcheck/{__version__}", "Accept-Encoding": accept_encoding()}, **kw)
        # httpx has no public hook for a whole-response deadline: wrap its pool's network backend.
        pool = getattr(client._transport, "_pool", None)
        if pool is not None and hasattr(pool, "_network_backend"):
            pool._network_backend = _DeadlineBackend(pool._network_backend, self.clock)
        return client

    def open(self) -> None:
        self.client = self._new_client()
        try:
            self.base = self._exchange("GET", self.url, name=f"GET {urlsplit(self.url).path or '/'}", kind="html",
                                       headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, raise_errors=True)
        except FactUnavailable as exc:  # only the budget can say no this early
            raise TargetError(f"http: {exc.reason}") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL: e.g. longer than httpx takes (64 KiB)
            self.close()
            raise TargetError(scrub(f"http: cannot audit {describe_request_error(exc, self.url)}", self.secrets)) from None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def order(self, names: set[str]) -> list[str]:
        return sorted(names, key=lambda n: (n in LAST, n))

    def describe_error(self, exc: Exception) -> str:
        if isinstance(exc, httpx.HTTPError):
            try:
                url = str(exc.request.url)
            except RuntimeError:  # no request attached
                url = self.url
            return scrub(describe_request_error(exc, url), self.secrets)
        return scrub(f"{type(exc).__name__}: {exc}", self.secrets)

    def real_url(self, record: dict[str, Any]) -> str:
        return self.real_urls.get(record.get("url", ""), self.url_for(record.get("path", "/")))

    def url_for(self, path: str, query: dict[str, str] | None = None) -> str:
        return join_url(self.url, path, query)

    def _exchange(self, method: str, url: str, *, name: str = "", kind: str = "api", headers: dict[str, str] | None = None,
                  content: bytes | None = None, limit: int = BODY_LIMIT, expected: int | None = None,
                  follow: bool = True, client: httpx.Client | None = None, extensions: dict | None = None,
                  raise_errors: bool = False, timeout: httpx.Timeout | None = None) -> dict[str, Any]:
        """Send one request (within the budget) and record its answer. A request that gets
        no HTTP answer is recorded with `error` (or raised, for the base page)."""
        client = client or self.client
        assert client is not None
        if self.remaining() == 0:
            raise FactUnavailable("not finished: the time budget (max_seconds) ran out", Status.ERROR)
        for attempt in (1, 2):
            self.budget.take()
            self._arm(timeout or self.timeout)
            try:
                return self._send_once(client, method, url, name=name, kind=kind, headers=headers, content=content,
                                       limit=limit, expected=expected, follow=follow, extensions=extensions, timeout=timeout)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                # A kept-alive connection the server closed just as we reused it (common after
                # a 500): the request never reached the app, so one retry on a new one is safe.
                if attempt == 1 and _stale_connection(exc):
                    continue
                error = exc
            except httpx.HTTPError as exc:
                error = exc
            finally:
                self.clock.at = None
            if raise_errors:
                raise error
            return {"name": name or f"{method} {_path_of(url)}", "method": method, "kind": kind,
                    "url": redact_url(url), "path": _path_of(url), "status": None, "expected_status": expected,
                    "error": scrub(describe_request_error(error, url), self.secrets)}
        raise AssertionError("unreachable")

    def _arm(self, timeout: httpx.Timeout) -> None:
        """The exchange's wall-clock deadline: headers and body within http.timeout_s, and
        never past the audit's own deadline."""
        seconds = timeout.read if timeout.read is not None else float(self.options.get("timeout_s", 10))
        at = time.monotonic() + seconds
        reason = f"{_Clock.PREFIX} {seconds:g} s (http.timeout_s)"
        # Past the audit's deadline the runner has already reported this target as unfinished;
        # the grace keeps that verdict first (not a racing "cannot audit"), then the thread stops.
        if self.deadline is not None and self.deadline + DEADLINE_GRACE_S < at:
            at, reason = self.deadline + DEADLINE_GRACE_S, f"{_Clock.PREFIX} the time budget (max_seconds)"
        self.clock.at, self.clock.reason = at, reason

    def _send_once(self, client: httpx.Client, method: str, url: str, *, name: str, kind: str,
                   headers: dict[str, str] | None, content: bytes | None, limit: int, expected: int | None,
                   follow: bool, extensions: dict | None, timeout: httpx.Timeout | None) -> dict[str, Any]:
        started = time.perf_counter()
        with client.stream(method, url, headers=headers, content=content, follow_redirects=follow,
                           extensions=extensions or {}, timeout=timeout or self.timeout) as resp:
            raw = bytearray()
            truncated = False
            for chunk in resp.iter_raw():
                raw += chunk
                if len(raw) >= limit:
                    truncated = True
                    break
            elapsed_ms = (time.perf_counter() - started) * 1000
        self.budget.sent += len(resp.history)  # redirects followed were requests too
        self.real_urls[redact_url(str(resp.url))] = str(resp.url)
        return self._record(resp, bytes(raw), truncated, elapsed_ms, name=name, kind=kind, expected=expected)

    def _record(self, resp: httpx.Response, raw: bytes, truncated: bool, elapsed_ms: float, *,
                name: str, kind: str, expected: int | None) -> dict[str, Any]:
        headers = {k.lower(): ", ".join(resp.headers.get_list(k)) for k in resp.headers.keys()
                   if k.lower() not in ("set-cookie", "authorization")}
        content_type = headers.get("content-type", "")
        encoding = headers.get("content-encoding", "")
        decoded = _decode(raw, encoding, ASSET_LIMIT)
        declared = resp.headers.get("content-length")
        wire = max(len(raw), int(declared)) if declared and declared.isdigit() else len(raw)
        text = None
        parsed = None
        json_error = None
        if decoded is not None and (is_textual(content_type) or not content_type):
            charset = resp.charset_encoding or "utf-8"
            try:
                text = decoded.decode(charset, errors="replace")[:TEXT_LIMIT]
            except LookupError:
                text = decoded.decode("utf-8", errors="replace")[:TEXT_LIMIT]
            if "json" in content_type.lower() and not truncated:
                try:
                    parsed = json.loads(decoded)
                except ValueError as exc:
                    json_error = str(exc)
        request = resp.request
        return {
            "name": name or f"{request.method} {_path_of(str(request.url))}",
            "method": request.method,
            "kind": kind,
            "url": redact_url(str(resp.url)),
            "path": _path_of(str(resp.url)),
            "status": resp.status_code,
            "expected_status": expected,
            "redirects": len(resp.history),
            "http_version": resp.http_version,
            "headers": headers,
            "content_type": content_type,
            "content_encoding": encoding.strip().lower(),
            "wire_bytes": wire,  # as sent (compressed), from Content-Length when we stopped early
            "body_bytes": None if decoded is None or truncated else len(decoded),
            "truncated": truncated,
            "text": text,
            "json": parsed,
            "json_error": json_error,
            "elapsed_ms": round(elapsed_ms, 2),
            "error": None,
        }

    def _send_endpoint(self, ep: dict[str, Any], **kw: Any) -> dict[str, Any]:
        accept = {"api": "application/json", "list": "application/json", "html": "text/html,*/*;q=0.8"}
        headers = {"Accept": accept.get(ep["kind"], "*/*"), **ep["headers"]}
        limit = MEDIA_LIMIT if ep["kind"] == "media" else BODY_LIMIT
        return self._exchange(ep["method"], self.url_for(ep["path"]), name=ep["name"], kind=ep["kind"],
                              headers=headers, limit=limit, expected=ep["status"], **kw)

    def _of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [ep for ep in self.endpoints if ep["kind"] in kinds]

    def _api_prefix(self) -> str:
        """The first path segment the API endpoints share (e.g. /api), to probe under it."""
        firsts = {ep["path"].split("?")[0].strip("/").split("/")[0] for ep in self._of_kind(*API_KINDS, "write")}
        return f"/{firsts.pop()}" if len(firsts) == 1 and "" not in firsts else ""

    # --- facts ----------------------------------------------------------------------

    def _html(self) -> list[dict[str, Any]]:
        """HTML pages (the base page when it is HTML, and kind: html endpoints), each with
        a conditional re-request using its ETag or Last-Modified."""
        pages = []
        if ("html" in media_type(self.base.get("content_type", "")) and self.base.get("status") == 200
                and not self._configured("GET", self.url, "html")):  # else sent and reported once, by its name
            pages.append(self.base)
        for ep in self._of_kind("html"):
            pages.append(self._send_endpoint(ep))
        out = []
        for page in pages:
            page = dict(page)
            page["conditional"] = None
            headers = page.get("headers") or {}
            validator = {}
            if headers.get("etag"):
                validator = {"If-None-Match": headers["etag"]}
            elif headers.get("last-modified"):
                validator = {"If-Modified-Since": headers["last-modified"]}
            if validator and page.get("status") == 200:
                again = self._exchange("GET", self.real_url(page), name=page["name"], kind="html", headers={"Accept": "text/html", **validator})
                page["conditional"] = {"sent": next(iter(validator)), "status": again.get("status"),
                                       "error": again.get("error"), "wire_bytes": again.get("wire_bytes")}
            out.append(page)
        return out

    def _endpoints(self) -> list[dict[str, Any]]:
        """One GET of every configured api, list and media endpoint."""
        return [self._send_endpoint(ep) for ep in self._of_kind(*API_KINDS, "media")]

    def _assets(self) -> list[dict[str, Any]]:
        """Static assets and images: those found in the HTML pages and the configured ones."""
        refs: list[tuple[str, str, str, bool]] = []  # url, type, source, modern alternative
        if self.options.get("discover_assets", True):
            hosts = set(self.options.get("asset_hosts") or [])
            limit = int(self.options.get("max_assets", 20))
            for page in self.fact("http.html"):
                for ref in find_assets(page.get("text") or "", self.real_url(page), hosts, limit):
                    refs.append((ref.url, ref.type, f"found in {page['path']}", ref.modern_alternative))
        for ep in self._of_kind("static", "image"):
            refs.append((self.url_for(ep["path"]), "image" if ep["kind"] == "image" else "static", "configured", False))
        out, seen = [], set()
        for url, kind, source, modern in refs[: int(self.options.get("max_assets", 20)) + len(self._of_kind("static", "image"))]:
            if url in seen:
                continue
            seen.add(url)
            accept = BROWSER_ACCEPT_IMAGE if kind in ("image", "icon") else "text/css,*/*;q=0.1" if kind == "style" else "*/*"
            record = self._exchange("GET", url, kind="image" if kind in ("image", "icon") else "static",
                                    headers={"Accept": accept}, limit=ASSET_LIMIT)
            record.update({"asset_type": kind, "source": source, "modern_alternative": modern,
                           "same_host": urlsplit(url).netloc == urlsplit(self.url).netloc})
            out.append(record)
        return out

    def _errors(self) -> dict[str, Any]:
        """An unknown route and bad query parameters, to see the error answers' shape."""
        probes = []
        unknown = f"{self._api_prefix()}/perfcheck-no-such-route-{random_tokens.token_hex(4)}"
        record = self._exchange("GET", self.url_for(unknown), name=f"GET {unknown}", headers={"Accept": "application/json"})
        record["probe"] = "unknown route"
        probes.append(record)
        for ep in self._of_kind("list")[:2]:
            bad = self._exchange("GET", self.url_for(ep["path"], {"limit": "perfcheck-not-a-number"}),
                                 name=f"{ep['name']}?limit=perfcheck-not-a-number",
                                 headers={"Accept": "application/json", **ep["headers"]})
            bad["probe"] = "bad query parameter"
            bad["endpoint"] = ep["name"]
            probes.append(bad)
        return {"probes": probes}

    def _validation(self) -> list[dict[str, Any]]:
        """Malformed JSON and an oversized field to each kind: write endpoint (the only
        writes the audit sends)."""
        out = []
        for ep in self._of_kind("write"):
            url = self.url_for(ep["path"])
            headers = {"Accept": "application/json", "Content-Type": "application/json", **ep["headers"]}
            malformed = self._exchange(ep["method"], url, name=ep["name"], kind="write", headers=headers,
                                       content=b'{"perfcheck": "malformed", ')
            malformed["probe"] = "malformed JSON"
            body, field = oversized_body(ep["body"])
            oversized = self._exchange(ep["method"], url, name=ep["name"], kind="write", headers=headers,
                                       content=json.dumps(body).encode())
            oversized["probe"] = f"oversized field {field!r} ({OVERSIZE:,} characters)"
            out.append({"name": ep["name"], "path": ep["path"], "probes": [malformed, oversized]})
        return out

    def _cors(self) -> dict[str, Any]:
        """A preflight and a simple request from a foreign origin (and from the allowed
        origin the configuration names, if any)."""
        target = (self._of_kind(*API_KINDS) or [None])[0]
        path = target["path"] if target else urlsplit(self.url).path or "/"
        url = self.url_for(target["path"]) if target else self.url
        extra = target["headers"] if target else {}

        def preflight(origin: str) -> dict[str, Any]:
            return self._exchange("OPTIONS", url, name=f"OPTIONS {path}", headers={
                "Origin": origin, "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, content-type"}, follow=False)

        result = {"path": path, "origin": FOREIGN_ORIGIN, "preflight": preflight(FOREIGN_ORIGIN),
                  "simple": self._exchange("GET", url, name=f"GET {path}", follow=False,
                                           headers={"Origin": FOREIGN_ORIGIN, "Accept": "application/json", **extra}),
                  "allowed_origin": self.options.get("cors_origin") or None, "allowed_preflight": None}
        if result["allowed_origin"]:
            result["allowed_preflight"] = preflight(result["allowed_origin"])
        return result

    def _connection_reuse(self) -> dict[str, Any]:
        """Three requests on one fresh client: how many TCP connections did they need?"""
        connects = []

        def trace(event: str, info: dict) -> None:
            if event == "connection.connect_tcp.complete":
                connects.append(event)

        answers = []
        with self._new_client() as client:
            for _ in range(3):
                answers.append(self._exchange("GET", self.url, kind="html", client=client,
                                              extensions={"trace": trace}, limit=BODY_LIMIT))
        ok = [a for a in answers if a.get("status")]
        return {
            "path": self.base.get("path", "/"),
            "scheme": urlsplit(self.url).scheme,
            "requests": len(answers),
            "answered": len(ok),
            "connections": len(connects),
            "http_versions": sorted({a["http_version"] for a in ok}),
            "connection_close": any("close" in (a.get("headers") or {}).get("connection", "").lower() for a in ok),
            "errors": [a["error"] for a in answers if a.get("error")],
        }

    def _rate_limit_burst(self) -> dict[str, Any]:
        """Opt-in: up to `requests` GETs at the run's rate cap, stopping at the first 429."""
        cfg = self.options.get("rate_limit_burst") or {}
        planned = int(cfg.get("requests", 0))
        if planned <= 0:
            return {"enabled": False}
        named = cfg.get("endpoint") or ""
        candidates = [ep for ep in self._of_kind(*API_KINDS) if not named or ep["name"] == named or ep["path"] == named]
        if named and not candidates:
            raise FactUnavailable(f"http.rate_limit_burst.endpoint {named!r} names no api or list endpoint", Status.ERROR)
        ep = candidates[0] if candidates else None
        url = self.url_for(ep["path"]) if ep else self.url
        name = ep["name"] if ep else f"GET {self.base.get('path', '/')}"
        headers = {"Accept": "application/json", **(ep["headers"] if ep else {})}
        statuses: dict[str, int] = {}
        limited = None
        sent = 0
        started = time.perf_counter()
        for i in range(planned):
            record = self._exchange("GET", url, name=name, headers=headers, limit=8 * 1024)
            sent += 1
            key = str(record.get("status") or "error")
            statuses[key] = statuses.get(key, 0) + 1
            if record.get("status") == 429:
                limited = {"after": i + 1, "headers": record.get("headers") or {}}
                break
            if statuses.get("error", 0) >= 5:
                break  # the server stopped answering: don't keep knocking
        return {"enabled": True, "endpoint": name, "planned": planned, "sent": sent, "statuses": statuses,
                "seconds": round(time.perf_counter() - started, 3), "rate_cap": self.options.get("max_rate"),
                "limited": limited}

    def _socketio_url(self, **query: str) -> str:
        path = self.options.get("socketio_path", "/socket.io/")
        if not path:
            raise FactUnavailable("the Socket.IO probe is off (http.socketio_path is empty)")
        return self.url_for(path, {"EIO": "4", "transport": "polling", **query})

    def _socketio(self) -> dict[str, Any]:
        """The Engine.IO v4 polling handshake."""
        url = self._socketio_url()
        record = self._exchange("GET", url, name=f"GET {self.options.get('socketio_path')}", kind="socketio",
                                headers={"Accept": "*/*"}, limit=16 * 1024)
        result = {"path": self.options.get("socketio_path"), "status": record.get("status"),
                  "content_type": record.get("content_type"), "error": record.get("error"), "open": None,
                  "protocol_error": None}
        if record.get("status") == 200:
            try:
                result["open"] = engineio.parse_open(record.get("text") or "")
            except engineio.ProtocolError as exc:
                result["protocol_error"] = str(exc)
        if result["open"]:
            self._socketio_close(result["open"]["sid"])
        return result

    def _socketio_close(self, sid: str) -> None:
        try:
            self._exchange("POST", self._socketio_url(sid=sid), kind="socketio", content=b"1",
                           headers={"Content-Type": "text/plain;charset=UTF-8"}, limit=1024)
        except FactUnavailable:
            pass  # out of budget: the server drops the session after pingTimeout anyway

    def _socketio_burst(self) -> dict[str, Any]:
        """Opt-in: connect a Socket.IO session, send `messages` events with acks in one
        payload, and read what comes back: acks, errors, a disconnect."""
        cfg = self.options.get("socketio_burst") or {}
        planned = int(cfg.get("messages", 0))
        if planned <= 0:
            return {"enabled": False}
        hs = self.fact("http.socketio")
        if not hs.get("open"):
            raise FactUnavailable(f"no Socket.IO handshake at {hs.get('path')} to send the burst on", Status.SKIP)
        namespace = cfg.get("namespace") or "/"
        event = cfg.get("event") or "message"
        opened = self._exchange("GET", self._socketio_url(), kind="socketio", limit=16 * 1024)
        sid = engineio.parse_open(opened.get("text") or "")["sid"]
        post_headers = {"Content-Type": "text/plain;charset=UTF-8"}
        statuses: list[int | None] = []
        engine_types: list[str] = []
        packets: list[engineio.SocketPacket] = []

        def poll(seconds: float) -> None:
            answer = self._exchange("GET", self._socketio_url(sid=sid), kind="socketio", limit=256 * 1024,
                                    timeout=httpx.Timeout(seconds, connect=self.timeout.connect))
            if answer.get("status") == 200:
                types, found = engineio.parse_payload(answer.get("text") or "")
                engine_types.extend(types)
                packets.extend(found)

        statuses.append(self._exchange("POST", self._socketio_url(sid=sid), kind="socketio", headers=post_headers,
                                       content=engineio.connect_packet(namespace).encode()).get("status"))
        poll(2.0)
        if not any(p.type == engineio.CONNECT for p in packets):
            refused = [p.data for p in packets if p.type == engineio.CONNECT_ERROR]
            raise FactUnavailable(f"the Socket.IO server did not accept a connection to namespace {namespace!r}"
                                  + (f": {refused[0]}" if refused else ""), Status.ERROR)
        payload = engineio.join([engineio.event_packet(namespace, i + 1, event, cfg.get("data", "perfcheck"))
                                 for i in range(planned)])
        statuses.append(self._exchange("POST", self._socketio_url(sid=sid), kind="socketio", headers=post_headers,
                                       content=payload.encode()).get("status"))
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            before = len(packets)
            acks = sum(1 for p in packets if p.type == engineio.ACK)
            if acks >= planned or engineio.CLOSE in engine_types or any(p.type == engineio.DISCONNECT for p in packets):
                break
            try:
                poll(1.0)
            except FactUnavailable:
                break
            if len(packets) == before and engine_types and engine_types[-1] in (engineio.NOOP, engineio.PING):
                continue
        if engineio.CLOSE not in engine_types:
            self._socketio_close(sid)
        return {
            "enabled": True, "event": event, "namespace": namespace, "planned": planned,
            "post_statuses": statuses,
            "acks": [p.data for p in packets if p.type == engineio.ACK],
            "events": [p.data for p in packets if p.type == engineio.EVENT],
            "disconnected": engineio.CLOSE in engine_types or any(p.type == engineio.DISCONNECT for p in packets),
        }

    def _metrics(self) -> dict[str, Any]:
        """GET /metrics, parsed with prometheus_client's parser."""
        path = self.options.get("metrics_path", "/metrics")
        if not path:
            raise FactUnavailable("the /metrics probe is off (http.metrics_path is empty)")
        record = self._exchange("GET", self.url_for(path), name=f"GET {path}", kind="metrics",
                                headers={"Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1"}, limit=BODY_LIMIT * 8)
        result = {"path": path, "status": record.get("status"), "content_type": record.get("content_type"),
                  "error": record.get("error"), "families": None}
        if record.get("status") != 200:
            return result
        if record.get("truncated"):
            raise FactUnavailable(f"GET {path} answered a body larger than {_size(BODY_LIMIT * 8)}, read stopped: "
                                  "too big to be an exposition perfcheck can judge", Status.ERROR)
        if "html" in media_type(record.get("content_type") or ""):
            raise FactUnavailable(f"GET {path} answered HTML ({media_type(record['content_type'])}), not the "
                                  "Prometheus text format (a catch-all route?)", Status.ERROR)
        text = record.get("text")
        if text is None:
            raise FactUnavailable(f"GET {path} answered a body perfcheck could not read "
                                  f"({record.get('content_type') or 'no content type'})", Status.ERROR)
        result["families"] = parse_metrics(path, text)
        return result

    def _health(self) -> dict[str, Any]:
        path = self.options.get("health_path", "/health")
        if not path:
            raise FactUnavailable("the /health probe is off (http.health_path is empty)")
        record = self._exchange("GET", self.url_for(path), name=f"GET {path}", kind="health",
                                headers={"Accept": "application/json"})
        if record.get("truncated"):
            raise FactUnavailable(f"GET {path} answered a body larger than {_size(BODY_LIMIT)}, read stopped: "
                                  "a health answer is a few lines", Status.ERROR)
        record["probe_path"] = path
        return record

    def _latency(self) -> dict[str, Any]:
        """P50/P95/P99 per endpoint from the configured engine (http.load.engine)."""
        engine = sources.engine_of(self.options)
        if engine == "metrics":
            return sources.from_metrics(self._metrics_text, self.options, self.remaining())
        if engine == "prometheus":
            return sources.from_prometheus(self.options, self.verify)
        if engine == "locust":
            return self._latency_locust()
        runs = max(1, int((self.options.get("load") or {}).get("runs", 1)))
        if runs == 1:
            return {**self._latency_synthetic(), "source": {"kind": "synthetic"}}
        each = [self._latency_synthetic(share=runs - i) for i in range(runs)]  # the rest split what is left
        return {**each[-1], "endpoints": sources.median_of_runs([e["endpoints"] for e in each]),
                "source": {"kind": "synthetic", "runs": runs, "judged": "median of the runs"}}

    def _metrics_text(self) -> str:
        """The /metrics body, for the latency from the service's own histogram."""
        path = self.options.get("metrics_path") or "/metrics"
        record = self._exchange("GET", self.url_for(path), name=f"GET {path}", kind="metrics",
                                headers={"Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1"}, limit=BODY_LIMIT * 8)
        if record.get("status") != 200 or record.get("text") is None or record.get("truncated"):
            why = record.get("error") or f"answered {record.get('status')}" + (", too big" if record.get("truncated") else "")
            raise FactUnavailable(f"latency from /metrics: GET {path} {why}", Status.ERROR)
        return record["text"]

    def _latency_locust(self) -> dict[str, Any]:
        from perfcheck.collectors.http import locust_engine  # why: locust is an optional extra

        eps = [ep for ep in self._of_kind(*API_KINDS, "html") if ep["method"] == "GET"]
        return locust_engine.run(self.url, eps, self.options, self.remaining())

    def _latency_synthetic(self, share: int = 1) -> dict[str, Any]:
        """The latency engine's bounded open-model run over the GET endpoints (`share`: one
        of that many runs, which split the time budget)."""
        load = self.options.get("load") or {}
        eps = [ep for ep in self._of_kind(*API_KINDS, "html") if ep["method"] == "GET"]
        targets = [LoadEndpoint(name=ep["name"], path=ep["path"], headers={"Accept-Encoding": accept_encoding(), **ep["headers"]})
                   for ep in eps]
        if not targets:  # only a base URL: measure the base page
            base_path = urlsplit(self.url).path or "/"
            targets = [LoadEndpoint(name=f"GET {base_path}", path="")]
        warmup = int(load.get("warmup", 10))
        per_endpoint = int(load.get("requests", 200))
        room = self.budget.remaining // share // len(targets) - warmup
        if room < 10:
            raise FactUnavailable(f"the request budget (http.max_requests = {self.budget.max_requests}) leaves too few "
                                  f"requests for a latency run over {len(targets)} endpoint(s)", Status.ERROR)
        per_endpoint = min(per_endpoint, room)
        rate = min(float(load.get("rate", 50)), float(self.options.get("max_rate", 200)))
        max_seconds = float(load.get("max_seconds", 20))
        timeout_s = float(self.options.get("timeout_s", 10))
        left = self.remaining()
        if left is not None:  # the run, its grace for requests in flight and its wind-down fit the audit's time
            room = left / share - min(timeout_s, GRACE_S) - 0.5
            if room < 1.0:
                raise FactUnavailable("not run: too little of the time budget (max_seconds) was left for the latency run",
                                      Status.ERROR)
            max_seconds = min(max_seconds, room)
        self.budget.sent += len(targets) * (per_endpoint + warmup)  # the engine paces itself at `rate`
        try:
            results = run_load(self.url.rstrip("/") if targets[0].path else self.url, targets,
                               requests=per_endpoint, rate=rate, warmup=warmup,
                               concurrency=int(load.get("concurrency", 10)), max_seconds=max_seconds,
                               timeout_s=timeout_s, verify=self.verify,
                               progress=lambda done, total: self.progress("http.latency", done, total))
        except NotImplementedError:
            raise FactUnavailable("the latency engine is not available in this build", Status.ERROR) from None
        return {"endpoints": results, "requests": per_endpoint, "rate": rate, "warmup": warmup}


OVERSIZE = 100_000  # characters in the oversized-field probe


def oversized_body(body: Any) -> tuple[Any, str]:
    """The configured body with its first string field made huge (or a new field)."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    if isinstance(body, dict):
        out = dict(body)
        field = next((k for k, v in out.items() if isinstance(v, str)), None) or next(iter(out), "name")
        out[field] = "x" * OVERSIZE
        return out, field
    return {"name": "x" * OVERSIZE}, "name"


def parse_metrics(path: str, text: str) -> list[dict[str, Any]]:
    """Prometheus text format to plain data; a body that does not parse is an error fact."""
    families = []
    kept = 0
    try:
        for family in text_string_to_metric_families(text):
            samples = []
            for sample in family.samples:
                if kept < 20000:  # bound the fact; counts stay right in `sample_count`
                    samples.append({"name": sample.name, "labels": dict(sample.labels), "value": sample.value})
                    kept += 1
            families.append({"name": family.name, "type": family.type, "help": family.documentation,
                             "samples": samples, "sample_count": len(family.samples)})
    except Exception as exc:  # the parser raises ValueError and others on malformed text
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FactUnavailable(f"GET {path} does not parse as Prometheus text format: {first[:120]}"
                              f"{_bad_line(text)}", Status.ERROR) from None
    if not families and text.strip():
        raise FactUnavailable(f"GET {path} does not parse as Prometheus text format: no metric found", Status.ERROR)
    return families


def _bad_line(text: str) -> str:
    """Where the exposition text first goes wrong, to point the user at it."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            list(text_string_to_metric_families(line + "\n"))
        except Exception:
            return f" (line {number}: {line[:60]!r})"
    return ""


def _size(limit: int) -> str:
    return f"{limit / 2 ** 20:g} MB" if limit >= 2 ** 20 else f"{limit // 1024} KB"


def _stale_connection(exc: Exception) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (httpx.ReadError, httpx.WriteError)) or "without sending a response" in text \
        or "connection reset" in text or "broken pipe" in text


def _path_of(url: str) -> str:
    parts = urlsplit(redact_url(url))
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
