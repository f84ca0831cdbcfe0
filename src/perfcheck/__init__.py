"""perfcheck: audit a web backend's performance against a proven checklist."""

__version__ = "0.1.0"
