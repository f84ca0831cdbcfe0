/* perfcheck */
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       current_database() AS database,
       current_user AS "user",
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       pg_has_role(current_user, 'pg_monitor', 'USAGE') AS pg_monitor,
       -- what lets a role see other roles' sessions and statement texts (pg_monitor includes it)
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats,
       pg_is_in_recovery() AS in_recovery,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS stats_reset,
       pg_postmaster_start_time() AS started,
       now() AS now
