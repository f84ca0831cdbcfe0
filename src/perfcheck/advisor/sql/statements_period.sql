/* perfcheck */
-- Seconds since pg_stat_statements was last reset in full (pg_stat_statements_info,
-- PostgreSQL 14+): the period over which its calls were counted.
SELECT extract(epoch FROM now() - stats_reset)::float8 AS seconds FROM {schema}.pg_stat_statements_info
