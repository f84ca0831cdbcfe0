"""Monitoring checks: one module per check, named after the check id (mon.x → x.py)."""
