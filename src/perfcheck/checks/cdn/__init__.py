"""CDN and static asset checks: one module per check, named after the check id (cdn.x → x.py)."""
