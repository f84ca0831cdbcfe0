"""Real-time (Socket.IO) checks: one module per check, named after the check id (rt.x → x.py)."""
