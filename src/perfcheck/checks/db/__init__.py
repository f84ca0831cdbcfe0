"""Database (PostgreSQL) checks: one module per check, named after the check id (db.x → x.py)."""
