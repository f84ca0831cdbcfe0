"""Errors every layer may raise: a leaf module, so that the PostgreSQL session, the
advisor and the collectors share them without importing one another."""

from __future__ import annotations


class TargetError(Exception):
    """The target cannot be reached or logged into; the message is one line, secret-free."""
