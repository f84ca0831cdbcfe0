"""A small shop database with the checklist's database problems planted, the workload
that exposes them, and the same schema with every problem fixed.

Beyond the issue's list, the planted application also plans every statement anew (no
prepared statements) and leaves a table bloated with autovacuum switched off on it:
real problems of the same checklist, so that the database score reflects a database in
trouble rather than the handful of checks that happen to have nothing to say.

Small on purpose (a few tens of thousands of rows): big enough for the checks'
thresholds (an unused index over 1 MB, a foreign key on a 20,000-row table), quick to
build on a shared 2-core machine.
"""

from __future__ import annotations

import psycopg

SCHEMA = """
CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL);
INSERT INTO customers (name, email)
  SELECT 'customer ' || (g % 500), 'c' || g || '@example.com' FROM generate_series(1, 2000) g;

-- db.fk_indexes: orders.customer_id references customers with no index on it.
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
                     status text NOT NULL, total numeric(10, 2) NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO orders (customer_id, status, total, created_at)
  SELECT 1 + g % 2000, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3], g % 997, now() - g * interval '1 minute'
  FROM generate_series(1, 20000) g;
-- db.duplicate_indexes: an identical pair and a prefix-covered one.
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX orders_status_copy_idx ON orders (status);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX orders_created_at_status_idx ON orders (created_at, status);

-- db.vacuum: autovacuum off on a table that a batch job rewrites (see planted_workload).
CREATE TABLE carts (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, touched_at timestamptz NOT NULL)
  WITH (autovacuum_enabled = false);
INSERT INTO carts (customer_id, touched_at) SELECT g % 2000, now() FROM generate_series(1, 12000) g;

-- db.unused_indexes: a 1.5 MB index nothing reads.
CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload text NOT NULL);
INSERT INTO events (kind, payload) SELECT 'kind' || g % 7, md5(g::text) FROM generate_series(1, 30000) g;
CREATE INDEX events_payload_idx ON events (payload);

-- db.n_plus_one: a list of posts, then each post's author one at a time.
CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO authors (name) SELECT 'author ' || g FROM generate_series(1, 300) g;
CREATE TABLE posts (id serial PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id),
                    title text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO posts (author_id, title, created_at)
  SELECT 1 + g % 300, 'post ' || g, now() - g * interval '1 hour' FROM generate_series(1, 3000) g;
CREATE INDEX posts_author_id_idx ON posts (author_id);
CREATE INDEX posts_created_at_idx ON posts (created_at);

-- db.select_star: a 24-column table read with SELECT *.
CREATE TABLE profiles (id serial PRIMARY KEY, name text, email text, bio text, avatar bytea, settings jsonb,
  street text, city text, zip text, country text, phone text, company text, title text, website text,
  twitter text, github text, locale text, timezone text, theme text, plan text, referrer text,
  created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), deleted_at timestamptz);
INSERT INTO profiles (name, email, bio) SELECT 'p' || g, 'p' || g || '@example.com', repeat('bio ', 50)
  FROM generate_series(1, 500) g;

-- A schema with a quoted, mixed-case name, and a foreign key without an index.
CREATE SCHEMA "Billing";
CREATE TABLE "Billing"."Invoices" (id serial PRIMARY KEY, "CustomerId" bigint NOT NULL REFERENCES customers (id),
                                   amount numeric NOT NULL);
INSERT INTO "Billing"."Invoices" ("CustomerId", amount) SELECT 1 + g % 2000, g FROM generate_series(1, 2000) g;

ANALYZE;
"""

# db.invalid_indexes: a unique index built CONCURRENTLY over duplicate names fails and stays INVALID.
INVALID_INDEX = "CREATE UNIQUE INDEX CONCURRENTLY customers_name_key ON customers (name)"


def plant(conn: psycopg.Connection, dbname: str) -> None:
    conn.execute(f"ALTER DATABASE {dbname} SET statement_timeout = 0")
    conn.execute(f"ALTER DATABASE {dbname} SET log_min_duration_statement = -1")
    conn.execute(SCHEMA)
    try:
        conn.execute(INVALID_INDEX)
    except psycopg.errors.UniqueViolation:
        pass


def planted_workload(conn: psycopg.Connection) -> None:
    """What the application does: N+1, SELECT *, deep OFFSET pages, lookups by customer,
    every statement planned anew (`conn` made with prepare_threshold=None, as behind a
    transaction-mode PgBouncer without prepared statement support)."""
    for page in range(15):
        rows = conn.execute("SELECT id, title, author_id FROM posts WHERE author_id > %s ORDER BY created_at DESC LIMIT 20",
                            (page,)).fetchall()
        for _id, _title, author_id in rows:
            conn.execute("SELECT id, name FROM authors WHERE id = %s", (author_id,)).fetchone()
    for i in range(30):
        conn.execute("SELECT * FROM profiles WHERE id = %s", (1 + i,)).fetchone()
    for page in range(20):
        conn.execute("SELECT id, kind FROM events ORDER BY id DESC LIMIT %s OFFSET %s", (50, 500 * page)).fetchall()
    for i in range(20):
        conn.execute("SELECT id, total FROM orders WHERE customer_id = %s", (1 + i,)).fetchall()
        conn.execute('SELECT id, amount FROM "Billing"."Invoices" WHERE "CustomerId" = %s', (1 + i,)).fetchall()
    # A batch job touches every cart, last (a later read would prune the dead rows away).
    conn.execute("UPDATE carts SET touched_at = now()")


def fix(conn: psycopg.Connection, dbname: str) -> None:
    """Every planted problem fixed, as perfcheck's findings say."""
    for statement in (
        f"ALTER DATABASE {dbname} SET statement_timeout = '30s'",
        f"ALTER DATABASE {dbname} SET idle_in_transaction_session_timeout = '60s'",
        f"ALTER DATABASE {dbname} SET lock_timeout = '10s'",
        f"ALTER DATABASE {dbname} SET log_min_duration_statement = '100ms'",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON orders (customer_id)",
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_customerid_idx ON "Billing"."Invoices" ("CustomerId")',
        "DROP INDEX CONCURRENTLY IF EXISTS orders_status_copy_idx",
        "DROP INDEX CONCURRENTLY IF EXISTS orders_created_at_idx",
        "DROP INDEX CONCURRENTLY IF EXISTS events_payload_idx",
        "DROP INDEX CONCURRENTLY IF EXISTS customers_name_key",
        "ALTER TABLE carts RESET (autovacuum_enabled)",
        "VACUUM (ANALYZE) carts",
        "ANALYZE",
        # Only this database's statistics: the cluster is shared with other tests.
        "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)",
    ):
        conn.execute(statement)


def fixed_workload(conn: psycopg.Connection) -> None:
    """The same pages, written as the findings advise."""
    for page in range(15):
        rows = conn.execute("SELECT id, title, author_id FROM posts WHERE author_id > %s ORDER BY created_at DESC LIMIT 20",
                            (page,)).fetchall()
        conn.execute("SELECT id, name FROM authors WHERE id = ANY(%s)", ([r[2] for r in rows],)).fetchall()
    for i in range(30):
        conn.execute("SELECT id, name, email FROM profiles WHERE id = %s", (1 + i,)).fetchone()
    last = None
    for _ in range(20):
        if last is None:
            rows = conn.execute("SELECT id, kind FROM events ORDER BY id DESC LIMIT %s", (50,)).fetchall()
        else:
            rows = conn.execute("SELECT id, kind FROM events WHERE id < %s ORDER BY id DESC LIMIT %s", (last, 50)).fetchall()
        last = rows[-1][0]
    for i in range(20):
        conn.execute("SELECT id, total FROM orders WHERE customer_id = %s", (1 + i,)).fetchall()
        conn.execute('SELECT id, amount FROM "Billing"."Invoices" WHERE "CustomerId" = %s', (1 + i,)).fetchall()
