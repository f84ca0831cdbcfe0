"""collectors/postgres."""
