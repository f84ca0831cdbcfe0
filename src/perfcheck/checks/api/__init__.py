"""API (HTTP) checks: one module per check, named after the check id (api.x → x.py)."""
