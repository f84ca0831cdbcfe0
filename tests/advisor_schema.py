"""A schema for the index advisor's tests: tables just big enough (30k rows) for the
planner to make a real choice, every shape the advisor must see through (views, CTEs,
partitions, quoted mixed-case names, existing btree/hash/partial indexes, a tiny table).
Built in one psql call, deterministic (setseed)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

from perfcheck.advisor import Options, analyse
from perfcheck.advisor.analyse import SQL_PACKAGE
from perfcheck.config import DEFAULTS
from perfcheck.pg.session import Session

HYPOPG = {"hypopg": {"schema": "public", "version": "1.3.1"}}
_ids = itertools.count()


def scratch_session(pg_server, prefix: str, schema: str) -> Iterator[Session]:
    """An advisor session on a throwaway database built from `schema`, dropped afterwards
    (for a module-scoped fixture to yield from)."""
    name = f"{prefix}_{os.getpid()}_{next(_ids)}"
    pg_server.psql(f"CREATE DATABASE {name}")
    pg_server.psql(schema, database=name)
    # The test cluster runs with synchronous_commit off: until the inserts' commit is flushed,
    # VACUUM cannot mark their pages all-visible (and the planner then never prices an
    # index-only scan). A checkpoint flushes it.
    pg_server.psql("CHECKPOINT", database=name)
    pg_server.psql("VACUUM ANALYZE", database=name)
    session = Session.open(pg_server.url_for(name), DEFAULTS["postgres"], SQL_PACKAGE)
    try:
        yield session
    finally:
        session.close()
        pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def advise_one(session: Session, query: str, *, queryid: int, rows_per_call: float, calls: int = 100,
               mean_ms: float = 20.0):
    """The advice for one statement as pg_stat_statements would report it."""
    rows = [{"queryid": queryid, "query": query, "calls": calls, "rows": int(calls * rows_per_call),
             "total_ms": calls * mean_ms}]
    return analyse(session, rows, HYPOPG, Options.from_thresholds({}))


SCHEMA = r"""
SELECT setseed(0.42);
CREATE EXTENSION IF NOT EXISTS hypopg;

CREATE TABLE users (id int PRIMARY KEY, email varchar(200) NOT NULL, name text, country text, active bool,
                    created_at timestamptz);
INSERT INTO users SELECT g, 'user' || g || '@example.com', 'name ' || g, (ARRAY['fr','de','us','uk','es'])[1 + g % 5],
       g % 2 = 0, timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 30000) g;

CREATE TABLE orders (id int PRIMARY KEY, user_id int, status text, total numeric, created_at timestamptz, note text);
INSERT INTO orders SELECT g, 1 + (random() * 2999)::int, (ARRAY['new','paid','shipped','done','cancelled'])[1 + (random() * 4)::int],
       (random() * 1000)::int, timestamptz '2024-01-01' + g * interval '1 minute', 'n' FROM generate_series(1, 30000) g;

CREATE TABLE visits (id int PRIMARY KEY, user_id int, created_at timestamptz, path text);
INSERT INTO visits SELECT g, g % 300, timestamptz '2024-01-01' + (random() * 100000) * interval '1 minute', '/p/' || (g % 50)
  FROM generate_series(1, 30000) g;

CREATE TABLE pairs (id int PRIMARY KEY, a int, b int, payload text);
INSERT INTO pairs SELECT g, (random() * 99)::int, (random() * 99)::int, 'x' FROM generate_series(1, 30000) g;

CREATE TABLE tasks (id int PRIMARY KEY, done_at timestamptz, kind text);
INSERT INTO tasks SELECT g, CASE WHEN g % 100 <> 0 THEN timestamptz '2024-01-01' END, 'k' FROM generate_series(1, 30000) g;

CREATE TABLE sessions (id int PRIMARY KEY, token text, user_id int);
INSERT INTO sessions SELECT g, md5(g::text), g % 1000 FROM generate_series(1, 30000) g;

CREATE TABLE products (id int PRIMARY KEY, sku text, category_id int, price numeric);
INSERT INTO products SELECT g, 'sku-' || g, g % 400, (random() * 100)::int FROM generate_series(1, 30000) g;
CREATE INDEX products_sku_idx ON products (sku);
CREATE INDEX products_category_price_idx ON products (category_id, price);

CREATE TABLE api_keys (id int PRIMARY KEY, key text, owner int);
INSERT INTO api_keys SELECT g, md5('k' || g), g FROM generate_series(1, 30000) g;
CREATE INDEX api_keys_key_hash ON api_keys USING hash (key);

CREATE TABLE jobs (id int PRIMARY KEY, queue text, finished_at timestamptz, payload text);
INSERT INTO jobs SELECT g, 'q' || (g % 500), CASE WHEN g % 100 <> 0 THEN timestamptz '2024-01-01' END, 'x'
  FROM generate_series(1, 30000) g;
CREATE INDEX jobs_pending_queue_idx ON jobs (queue) WHERE finished_at IS NULL;

CREATE TABLE tiny (id int PRIMARY KEY, code text);
INSERT INTO tiny SELECT g, 'c' || g FROM generate_series(1, 100) g;

CREATE TABLE events (id bigint, account_id int, kind text, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events SELECT g, (random() * 1999)::int, 'k' || (g % 10), timestamptz '2023-01-01' + g * interval '15 minutes'
  FROM generate_series(1, 30000) g;

CREATE SCHEMA "Billing";
CREATE TABLE "Billing"."Accounts" ("AccountId" int PRIMARY KEY, "OwnerEmail" text, "Plan" text);
INSERT INTO "Billing"."Accounts" SELECT g, 'owner' || g || '@example.com', 'p' || (g % 3) FROM generate_series(1, 30000) g;

CREATE TABLE subscription_renewal_events_archive_for_enterprise_customers (
  id int PRIMARY KEY, customer_account_reference_identifier int, subscription_plan_reference_identifier int);
INSERT INTO subscription_renewal_events_archive_for_enterprise_customers
  SELECT g, (random() * 99)::int, (random() * 99)::int FROM generate_series(1, 30000) g;

CREATE VIEW active_users AS SELECT id, email, name FROM users WHERE active;
ANALYZE;
"""
