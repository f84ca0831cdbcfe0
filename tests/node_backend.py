"""The Node/Express sample backend (tests/apps/node_backend) behind PgBouncer in transaction
mode, for the tests: its npm packages installed once per lock file (`npm ci` into a cache dir),
a PgBouncer on a free loopback port in front of the test cluster, and the app in GOOD or BAD
form on a free port."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from helpers import unavailable
from http_servers import stop
from perfcheck.demo.sandbox import PostgresServer, free_port, wait_for_port

APP_DIR = Path(__file__).parent / "apps" / "node_backend"
CACHE = Path(os.environ.get("PERFCHECK_TEST_CACHE", Path.home() / ".cache" / "perfcheck-tests"))
ITEMS_SQL = ("CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text NOT NULL, description text);"
             "INSERT INTO items (name, description) SELECT 'item ' || i, repeat('a sample item ', 4) "
             "FROM generate_series(1, 200) i WHERE NOT EXISTS (SELECT 1 FROM items)")


def node_modules() -> Path:
    """`npm ci` of the backend's lock file into a cache dir, once per lock file; the folder."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        unavailable("node and npm are not installed: apt-get install -y nodejs npm (scripts/bootstrap does)")
    lock = (APP_DIR / "package-lock.json").read_bytes()
    target = CACHE / f"node_backend-{hashlib.sha256(lock).hexdigest()[:16]}"
    if (target / "node_modules" / ".package-lock.json").exists():
        return target / "node_modules"
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=CACHE))  # beside the target: the rename stays on one disk
    for name in ("package.json", "package-lock.json"):
        shutil.copy(APP_DIR / name, staging / name)
    run = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=staging,
                         capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        unavailable(f"npm ci failed for tests/apps/node_backend: {run.stderr.strip()[-300:]}")
    if not target.exists():
        staging.rename(target)
    else:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "node_modules"


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if not found:
        unavailable("pgbouncer is not installed: apt-get install -y pgbouncer (scripts/bootstrap does)")
    return found


class PgBouncer:
    """PgBouncer in transaction mode in front of one database of the test cluster; `url`
    is what the application connects to."""

    def __init__(self, pg: PostgresServer, database: str):
        self.pg, self.database = pg, database
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="perfcheck-pgbouncer-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{self.pg.user}@127.0.0.1:{self.port}/{self.database}"

    def __enter__(self) -> PgBouncer:
        binary = pgbouncer_binary()
        (self.root / "users.txt").write_text(f'"{self.pg.user}" ""\n')
        (self.root / "pgbouncer.ini").write_text(f"""[databases]
{self.database} = host=127.0.0.1 port={self.pg.port} dbname={self.database}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.root}/users.txt
pool_mode = transaction
default_pool_size = 5
min_pool_size = 5
max_client_conn = 100
logfile = {self.root}/pgbouncer.log
pidfile = {self.root}/pgbouncer.pid
""")
        command = [binary, str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.root, user)
            for path in self.root.iterdir():
                shutil.chown(path, user)
            command = ["runuser", "-u", user, "--", *command]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc:
            stop(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class NodeBackend:
    """`node server.js` in GOOD or BAD form on a free port; `url` is the base URL."""

    def __init__(self, mode: str, modules: Path, database_url: str, redis_url: str):
        self.mode, self.modules = mode, modules
        self.database_url, self.redis_url = database_url, redis_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> NodeBackend:
        env = {**os.environ, "MODE": self.mode, "PORT": str(self.port), "DATABASE_URL": self.database_url,
               "REDIS_URL": self.redis_url, "NODE_PATH": str(self.modules),
               "NODE_ENV": "production" if self.mode == "good" else "development"}
        self.proc = subprocess.Popen([shutil.which("node") or "node", str(APP_DIR / "server.js")], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port, self.proc, seconds=30)
        except RuntimeError as exc:
            err = self.proc.stderr.read().decode(errors="replace")[-500:] if self.proc.poll() is not None else ""
            stop(self.proc)
            raise RuntimeError(f"the Node backend did not start: {exc} {err}") from exc
        return self

    def __exit__(self, *exc) -> None:
        if self.proc:
            stop(self.proc)
