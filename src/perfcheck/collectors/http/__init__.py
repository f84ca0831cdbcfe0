"""collectors/http."""
