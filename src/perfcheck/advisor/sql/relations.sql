/* perfcheck */
-- The relations a workload's plans scan, each with the table an index belongs on: itself,
-- or the top of its partition tree. Rows: the planner's estimate, or the live-tuple count
-- when the table was never analysed.
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
       greatest(c.reltuples, coalesce(s.n_live_tup, 0), 0)::bigint AS rows,
       rn.nspname AS root_schema, r.relname AS root_name, r.relkind::text AS root_kind
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS wanted(schema, name)
JOIN pg_namespace n ON n.nspname = wanted.schema
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = wanted.name
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
JOIN pg_class r ON r.oid = CASE WHEN c.relispartition THEN pg_partition_root(c.oid) ELSE c.oid END
JOIN pg_namespace rn ON rn.oid = r.relnamespace
