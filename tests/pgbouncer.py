"""A real PgBouncer in front of the test PostgreSQL: generated ini, a free loopback port,
transaction pooling by default, the admin console open to the test user."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

import pwd

from perfcheck.demo.sandbox import free_port


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
                                              if os.path.exists(p)), None)


class PgBouncer:
    def __init__(self, pg_port: int, user: str, mode: str = "transaction", admin: bool = True, pool_size: int = 5,
                 databases: dict[str, str] | None = None):
        self.pg_port, self.user, self.mode, self.admin, self.pool_size = pg_port, user, mode, admin, pool_size
        self.databases = databases or {}  # name -> its own pool_mode
        self.root = Path(tempfile.mkdtemp(prefix="perfcheck-pgbouncer-"))
        self.port = 0
        self.process: subprocess.Popen | None = None

    def url_for(self, database: str, user: str | None = None) -> str:
        return f"postgresql://{user or self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> "PgBouncer":
        binary = pgbouncer_binary()
        assert binary, "pgbouncer is not installed"
        self.port = free_port()
        (self.root / "users.txt").write_text(f'"{self.user}" ""\n')
        ini = self.root / "pgbouncer.ini"
        ini.write_text("\n".join([
            "[databases]", *(f"{name} = host=127.0.0.1 port={self.pg_port} pool_mode={mode}"
                             for name, mode in self.databases.items()),
            f"* = host=127.0.0.1 port={self.pg_port}", "",
            "[pgbouncer]", "listen_addr = 127.0.0.1", f"listen_port = {self.port}", "unix_socket_dir =",
            "auth_type = trust", f"auth_file = {self.root / 'users.txt'}", f"pool_mode = {self.mode}",
            f"admin_users = {self.user if self.admin else ''}", f"default_pool_size = {self.pool_size}",
            "max_client_conn = 50", f"logfile = {self.root / 'log'}", f"pidfile = {self.root / 'pid'}",
            "ignore_startup_parameters = extra_float_digits", "server_reset_query = DISCARD ALL", ""]))
        command = [binary, str(ini)]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root: as the postgres user, like the cluster
            account = pwd.getpwnam("postgres")
            for path in [self.root, *self.root.iterdir()]:
                os.chown(path, account.pw_uid, account.pw_gid)
            command = ["runuser", "-u", "postgres", "--", *command]
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
        raise RuntimeError(f"pgbouncer did not start: {log[-500:]}")

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
