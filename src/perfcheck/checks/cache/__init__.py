"""Cache (Redis and the app's cache metrics) checks: one module per check, named after the check id (cache.x → x.py)."""
