"""The targets perfcheck audits, and the categories of its checks: the one table where
the words for a target meet.

The public contract fixes three words per target, and they stay: the config key and CLI
flag (`db`, `redis`, `url`: perfcheck.yaml and `--db`), the collector's word that fact
names and the checklist's `target:` use (`postgres`, `redis`, `http`: "postgres.indexes"),
and the check ids with their categories (`db.pool` in `database`). Everything that maps
one to another reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    word: str  # the collector's, the facts' and the checklist's word: "postgres"
    key: str  # the config key and CLI flag: "db" (perfcheck.yaml `db:`, `--db`)
    title: str  # how documentation names it: "PostgreSQL"
    env: str  # the environment variable read when the key is not set
    schemes: tuple[str, ...]  # URL schemes accepted
    collector: str  # "module:Class", imported only when the target is audited

    @property
    def flag(self) -> str:
        return f"--{self.key}"


@dataclass(frozen=True)
class Category:
    id: str  # "database": the checklist's category, selectable with --only
    prefix: str  # its check ids' prefix: "db" (db.pool), and the package checks/<prefix>/


TARGETS = (
    Target("postgres", "db", "PostgreSQL", "DATABASE_URL", ("postgres", "postgresql"),
           "perfcheck.collectors.postgres.collector:PostgresCollector"),
    Target("redis", "redis", "Redis", "REDIS_URL", ("redis", "rediss", "unix"),
           "perfcheck.collectors.redis:RedisCollector"),
    Target("http", "url", "HTTP", "PERFCHECK_URL", ("http", "https"),
           "perfcheck.collectors.http.collector:HttpCollector"),
)
# In report order. A category's checks may audit several targets (cache.levels reads app metrics over HTTP).
CATEGORIES = (
    Category("database", "db"),
    Category("cache", "cache"),
    Category("api", "api"),
    Category("cdn", "cdn"),
    Category("realtime", "rt"),
    Category("monitoring", "mon"),
)
NO_TARGET = "none"  # the checklist's target of a manual check: nothing is measured

BY_WORD = {t.word: t for t in TARGETS}
BY_KEY = {t.key: t for t in TARGETS}


def title(word: str) -> str:
    """How documentation names a checklist target: "PostgreSQL", "-" for none."""
    return BY_WORD[word].title if word in BY_WORD else ("-" if word == NO_TARGET else word)
