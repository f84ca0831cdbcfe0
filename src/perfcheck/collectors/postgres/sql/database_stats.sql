/* perfcheck */
-- The whole row as JSON: its columns differ between versions (sessions, session_time… from 14).
SELECT to_jsonb(d) AS stats
FROM pg_stat_database d
WHERE d.datname = current_database()
