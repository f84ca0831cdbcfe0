/* perfcheck */
-- The leaf partitions under partitioned tables, with their depth (1 = a direct partition).
SELECT rn.nspname AS root_schema, r.relname AS root_name,
       n.nspname AS schema, c.relname AS name, t.level,
       greatest(c.reltuples, coalesce(s.n_live_tup, 0), 0)::bigint AS rows
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS wanted(schema, name)
JOIN pg_namespace rn ON rn.nspname = wanted.schema
JOIN pg_class r ON r.relnamespace = rn.oid AND r.relname = wanted.name
CROSS JOIN LATERAL pg_partition_tree(r.oid) AS t
JOIN pg_class c ON c.oid = t.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE t.isleaf
ORDER BY root_schema, root_name, schema, name
