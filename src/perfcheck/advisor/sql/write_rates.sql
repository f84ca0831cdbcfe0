/* perfcheck */
-- Rows written to each table since its statistics began (a partitioned table: its
-- partitions together), and over how many seconds: the database's stats_reset, or the
-- server's start when they were never reset. HOT updates add no index entry unless an
-- indexed column changes.
SELECT wanted.schema, wanted.name,
       coalesce(sum(s.n_tup_ins), 0)::bigint AS inserted,
       coalesce(sum(s.n_tup_upd), 0)::bigint AS updated,
       coalesce(sum(s.n_tup_hot_upd), 0)::bigint AS hot_updated,
       coalesce(sum(s.n_tup_del), 0)::bigint AS deleted,
       extract(epoch FROM now() - coalesce(d.stats_reset, pg_postmaster_start_time()))::float8 AS seconds
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS wanted(schema, name)
JOIN pg_namespace n ON n.nspname = wanted.schema
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = wanted.name
LEFT JOIN LATERAL pg_partition_tree(c.oid) AS tree ON true  -- no row for a plain table: itself
LEFT JOIN pg_stat_all_tables s ON s.relid = coalesce(tree.relid, c.oid)
CROSS JOIN (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS d
GROUP BY wanted.schema, wanted.name, d.stats_reset
