/* perfcheck */
-- Without pg_read_all_stats, another role's session shows only its pid, user, database and
-- application_name: its backend_type, state, times and query are NULL ('<insufficient
-- privilege>' for the query). `hidden` marks those rows, their query is left out, and
-- pg_locks, which every role may read, still tells whether such a session is inside a
-- transaction (each transaction holds a lock on its own virtual transaction id).
SELECT a.pid, a.usename AS "user", a.datname AS database, a.application_name, a.client_addr::text AS client_addr,
       a.backend_type, a.state, a.wait_event_type, a.wait_event,
       EXTRACT(EPOCH FROM now() - a.backend_start) AS backend_age_s,
       EXTRACT(EPOCH FROM now() - a.xact_start) AS xact_age_s,
       EXTRACT(EPOCH FROM now() - a.query_start) AS query_age_s,
       EXTRACT(EPOCH FROM now() - a.state_change) AS state_age_s,
       CASE WHEN a.backend_type IS NOT NULL THEN left(a.query, 500) END AS query,
       a.backend_type IS NULL AS hidden,
       x.pid IS NOT NULL AS in_transaction
FROM pg_stat_activity a
LEFT JOIN (SELECT DISTINCT l.pid FROM pg_locks l WHERE l.locktype = 'virtualxid' AND l.granted) x ON x.pid = a.pid
WHERE a.pid <> pg_backend_pid()
