"""Helpers the checks share: pure functions of gathered facts, no checks here."""
