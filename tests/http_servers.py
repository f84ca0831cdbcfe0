"""Real HTTP servers for the HTTP tests, on free loopback ports: the sample API
(tests/apps/sample_api.py, GOOD or BAD) under uvicorn, and nginx with a config the test
writes (its own prefix, pid and log paths in a temp dir, run in the foreground)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


from helpers import unavailable
from perfcheck.demo import proxies
from perfcheck.demo.proxies import stop_process as stop
from perfcheck.demo.sandbox import free_port, wait_for_port

APP = Path(__file__).parent / "apps" / "sample_api.py"


class SampleApi:
    """`python tests/apps/sample_api.py --mode MODE` on a free port; `url` is the base URL."""

    def __init__(self, mode: str):
        self.mode = mode
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> SampleApi:
        self.proc = subprocess.Popen([sys.executable, str(APP), "--mode", self.mode, "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc:
            stop(self.proc)


def nginx_binary() -> str:
    found = proxies.nginx_binary()
    if not found:
        unavailable("nginx is not installed: apt-get install -y nginx (scripts/bootstrap does)")
    return found


class Nginx(proxies.Nginx):
    """nginx in the foreground with the `http { … }` body given (the demo's own server class,
    perfcheck.demo.proxies): a test without nginx installed is skipped, not failed."""

    def __enter__(self) -> Nginx:
        nginx_binary()
        return self.start()


def write_site(root: Path, *, big_image: bool = False, webp: bool = True) -> Path:
    """A small static site: an HTML page naming hashed CSS, JS and an image, and an audio file."""
    site = root / "site"
    (site / "static").mkdir(parents=True, exist_ok=True)
    (site / "media").mkdir(exist_ok=True)
    (site / "index.html").write_text(
        "<!doctype html><html><head><title>site</title>"
        '<link rel="stylesheet" href="/static/site.1a2b3c4d5e.css">'
        '<script src="/static/site.9f8e7d6c5b.js"></script></head><body>'
        '<img src="/static/photo.0a1b2c3d4e.jpg" alt="photo">'
        + "<p>" + "A paragraph of text that makes the page worth compressing. " * 40 + "</p></body></html>")
    (site / "static" / "site.1a2b3c4d5e.css").write_text("".join(f".r{i} {{ padding: {i}px; }}\n" for i in range(300)))
    (site / "static" / "site.9f8e7d6c5b.js").write_text("".join(f"function g{i}(a) {{ return a + {i}; }}\n" for i in range(300)))
    size = 250_000 if big_image else 40_000
    (site / "static" / "photo.0a1b2c3d4e.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(size))
    if webp:
        (site / "static" / "photo.0a1b2c3d4e.jpg.webp").write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 " + os.urandom(size // 3))
    (site / "media" / "track.mp3").write_bytes(b"ID3\x03\x00" + b"\x00\x11\x22\x33" * 8000)
    return site
