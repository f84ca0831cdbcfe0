/* perfcheck */
SELECT pid, usename AS "user", datname AS database, application_name, client_addr::text AS client_addr,
       backend_type, state, wait_event_type, wait_event,
       EXTRACT(EPOCH FROM now() - backend_start) AS backend_age_s,
       EXTRACT(EPOCH FROM now() - xact_start) AS xact_age_s,
       EXTRACT(EPOCH FROM now() - query_start) AS query_age_s,
       EXTRACT(EPOCH FROM now() - state_change) AS state_age_s,
       left(query, 500) AS query
FROM pg_stat_activity
WHERE pid <> pg_backend_pid()
