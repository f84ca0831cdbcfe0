"""The servers in front of a backend, on free loopback ports, each in a temporary folder of its
own that `stop()` removes: PgBouncer in front of PostgreSQL, and nginx (an edge for static
files, or any `http { … }` body). Used by `perfcheck demo --fixed` and by the test suite."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from perfcheck.demo.sandbox import MissingServer, free_port, os_user, wait_for_port


def _binary(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None)


def pgbouncer_binary() -> str | None:
    return _binary("pgbouncer")


def nginx_binary() -> str | None:
    return _binary("nginx")


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class PgBouncer:
    """PgBouncer in front of the PostgreSQL on `pg_port`: transaction pooling by default.
    Without a password clients are trusted (the tests' superuser); with one, clients log in
    with `auth` (PgBouncer's auth_type) and PgBouncer logs in to the server with the same
    password. `admin` makes the user an admin of the console, else `stats` lets it read SHOW
    (how perfcheck sees the mode)."""

    def __init__(self, pg_port: int, user: str, mode: str = "transaction", admin: bool = True, pool_size: int = 5,
                 databases: dict[str, str] | None = None, password: str | None = None, stats: bool = False,
                 auth: str = "scram-sha-256", min_pool_size: int = 0):
        self.pg_port, self.user, self.mode, self.admin, self.pool_size = pg_port, user, mode, admin, pool_size
        self.password, self.stats, self.auth, self.min_pool_size = password, stats, auth, min_pool_size
        self.databases = databases or {}  # name -> its own pool_mode
        self.root = Path(tempfile.mkdtemp(prefix="perfcheck-pgbouncer-"))
        self.port = 0
        self.process: subprocess.Popen | None = None

    def url_for(self, database: str, user: str | None = None) -> str:
        auth = user or self.user
        if self.password and user in (None, self.user):
            auth += f":{self.password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _ini(self) -> str:
        return "\n".join([
            "[databases]", *(f"{name} = host=127.0.0.1 port={self.pg_port} pool_mode={mode}"
                             for name, mode in self.databases.items()),
            f"* = host=127.0.0.1 port={self.pg_port}", "",
            "[pgbouncer]", "listen_addr = 127.0.0.1", f"listen_port = {self.port}", "unix_socket_dir =",
            f"auth_type = {self.auth if self.password else 'trust'}", f"auth_file = {self.root / 'users.txt'}",
            f"pool_mode = {self.mode}", f"admin_users = {self.user if self.admin else ''}",
            f"stats_users = {self.user if self.stats else ''}", f"default_pool_size = {self.pool_size}",
            f"min_pool_size = {self.min_pool_size}",
            "max_client_conn = 100", f"logfile = {self.root / 'log'}", f"pidfile = {self.root / 'pid'}",
            "ignore_startup_parameters = extra_float_digits", "server_reset_query = DISCARD ALL", ""])

    def start(self) -> "PgBouncer":
        binary = pgbouncer_binary()
        if not binary:
            self.stop()
            raise MissingServer("pgbouncer not found: apt-get install -y pgbouncer")
        self.port = free_port()
        (self.root / "users.txt").write_text(f'"{self.user}" "{self.password or ""}"\n')
        (self.root / "users.txt").chmod(0o600)
        (self.root / "pgbouncer.ini").write_text(self._ini())
        command = [binary, str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root: as the cluster's user (postgres)
            account = pwd.getpwnam(os_user())
            for path in [self.root, *self.root.iterdir()]:
                os.chown(path, account.pw_uid, account.pw_gid)
            command = ["runuser", "-u", account.pw_name, "--", *command]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.url_for("postgres"), connect_timeout=2).close()
                return self
            except psycopg.Error:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
        self.stop()
        raise RuntimeError(f"pgbouncer did not start: {' '.join(log[-500:].split())}")

    def stop(self) -> None:
        pidfile = self.root / "pid"
        if pidfile.exists():  # the daemon itself, in case runuser does not pass the signal on
            try:
                os.kill(int(pidfile.read_text().strip()), 15)
            except (ValueError, OSError):
                pass
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PgBouncer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Nginx:
    """nginx in the foreground with the `http { … }` body given; ports are chosen first
    so the body can name them ({port0}, {port1}…, and {root} for its folder)."""

    def __init__(self, root: Path | None, http_body: str, ports: int = 1):
        self.own_root = root is None  # a folder of its own, removed by stop()
        self.root = Path(tempfile.mkdtemp(prefix="perfcheck-nginx-")) if root is None else root
        self.ports = [free_port() for _ in range(ports)]
        self.body = http_body.format(root=self.root, **{f"port{i}": p for i, p in enumerate(self.ports)})
        self.proc: subprocess.Popen | None = None

    def url(self, i: int = 0, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[i]}{path}"

    def _conf(self) -> str:
        user = "user root;" if os.geteuid() == 0 else ""  # workers must read a private temp dir
        return f"""
{user}
daemon off; worker_processes 1; pid {self.root}/nginx.pid; error_log {self.root}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {self.root}/tmp/body; proxy_temp_path {self.root}/tmp/proxy;
  fastcgi_temp_path {self.root}/tmp/fcgi; uwsgi_temp_path {self.root}/tmp/uwsgi; scgi_temp_path {self.root}/tmp/scgi;
  types {{ text/html html; text/css css; application/javascript js; image/jpeg jpg; image/png png; image/webp webp;
          audio/mpeg mp3; text/plain txt; application/json json; }}
  default_type application/octet-stream;
{self.body}
}}
"""

    def start(self) -> "Nginx":
        binary = nginx_binary()
        if not binary:
            self.stop()
            raise MissingServer("nginx not found: apt-get install -y nginx")
        (self.root / "tmp").mkdir(exist_ok=True)
        conf = self.root / "nginx.conf"
        conf.write_text(self._conf())
        self.proc = subprocess.Popen([binary, "-p", str(self.root), "-c", str(conf), "-e", str(self.root / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for port in self.ports:
                wait_for_port(port, self.proc, 10)
        except RuntimeError as exc:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            log = (self.root / "error.log").read_text() if (self.root / "error.log").exists() else ""
            self.stop()
            raise RuntimeError(f"nginx did not start: {exc}: {err} {log}") from None
        return self

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)
            self.proc = None
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
