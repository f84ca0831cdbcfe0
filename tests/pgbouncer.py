"""A real PgBouncer in front of the test PostgreSQL: generated ini, a free loopback port,
transaction pooling by default, the admin console open to the test user. The server class
is the demo's own (perfcheck.demo.proxies), which `perfcheck demo --fixed` starts too."""

from __future__ import annotations

from perfcheck.demo.proxies import PgBouncer, pgbouncer_binary

__all__ = ["PgBouncer", "pgbouncer_binary"]
