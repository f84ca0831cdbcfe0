"""Real servers for the tests: the suite starts its own PostgreSQL cluster and Redis on
free loopback ports (never the machine's shared ones), and stops them at the end.

In CI (CI=true) a missing server binary fails the run; elsewhere those tests skip.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import psycopg
import pytest

from perfcheck.demo.sandbox import MissingServer, PostgresServer, RedisServer, hypopg_available

from helpers import unavailable
from pgbouncer import PgBouncer, pgbouncer_binary


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer()
    try:
        server.start()
    except MissingServer as exc:
        unavailable(str(exc))
    yield server
    server.stop()


@dataclass
class Database:
    """A fresh database on the test cluster; `url` is what a user would pass to --db."""

    server: PostgresServer
    name: str

    @property
    def url(self) -> str:
        return self.server.url_for(self.name)

    def connect(self, **kw) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, **kw)

    def execute(self, sql: str, params=None) -> list[tuple]:
        with self.connect() as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []


_names = itertools.count()


@pytest.fixture
def database(pg_server):
    """A fresh database with pg_stat_statements (and HypoPG when installed)."""
    name = f"t{os.getpid()}_{next(_names)}"
    pg_server.psql(f"CREATE DATABASE {name}")
    db = Database(pg_server, name)
    db.execute("CREATE EXTENSION pg_stat_statements")
    yield db
    pg_server.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()")
    pg_server.psql(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="session")
def hypopg(pg_server):
    if not hypopg_available(pg_server.bindir):
        unavailable("HypoPG is not installed: apt-get install -y postgresql-15-hypopg")
    return True


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    try:
        server.start()
    except MissingServer as exc:
        unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture
def pgbouncer(pg_server):
    """A PgBouncer in transaction mode in front of the test cluster (admin console open)."""
    if not pgbouncer_binary():
        unavailable("PgBouncer is not installed: apt-get install -y pgbouncer")
    bouncer = PgBouncer(pg_server.port, pg_server.user).start()
    yield bouncer
    bouncer.stop()
