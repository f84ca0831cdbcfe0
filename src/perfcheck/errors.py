"""Errors every layer may raise: a leaf module, so that the PostgreSQL session, the
advisor and the collectors share them without importing one another."""

from __future__ import annotations

from typing import Any


class TargetError(Exception):
    """The target cannot be reached or logged into; the message is one line, secret-free."""


class ConfigError(Exception):
    """A problem with the user's configuration or flags; shown as one line, exit 2.
    `at` is where in perfcheck.yaml (("checks", "db.pool", "weight")), so the message
    can name the file and line once it is known."""

    def __init__(self, message: str, at: tuple[Any, ...] = (), hidden: int = 0) -> None:
        super().__init__(message)
        self.at = at
        self.hidden = hidden  # problems beyond MAX_ERRORS, counted in the last line

    @property
    def messages(self) -> list[str]:
        """One line per problem (a file with several mistakes names them all at once)."""
        return str(self).split("\n")

    @classmethod
    def many(cls, errors: list[ConfigError]) -> ConfigError:
        """Every problem found, one line each (at most MAX_ERRORS), as one error."""
        lines = [line for exc in errors for line in exc.messages[:len(exc.messages) - (1 if exc.hidden else 0)]]
        hidden = sum(exc.hidden for exc in errors) + max(0, len(lines) - MAX_ERRORS)
        lines = lines[:MAX_ERRORS] + ([f"… and {hidden} more configuration errors"] if hidden else [])
        return cls("\n".join(lines), errors[0].at if errors else (), hidden)


MAX_ERRORS = 20  # configuration errors shown at once; the rest are counted
