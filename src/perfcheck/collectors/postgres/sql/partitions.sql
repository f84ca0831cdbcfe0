/* perfcheck */
-- Each partition (at any depth) with its ancestors, nearest first: a foreign key declared
-- on an ancestor holds on the partition, and its lookups read the partition's own indexes.
SELECT n.nspname AS schema, c.relname AS table, c.relkind::text AS kind,
       greatest(c.reltuples, coalesce(s.n_live_tup, 0), 0)::bigint AS estimated_rows,
       array_agg(an.nspname ORDER BY a.depth) AS ancestor_schemas,
       array_agg(ac.relname ORDER BY a.depth) AS ancestor_tables
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
-- pg_partition_ancestors lists the relation itself first, then its parent, and so on up.
CROSS JOIN LATERAL pg_partition_ancestors(c.oid) WITH ORDINALITY AS a(relid, depth)
JOIN pg_class ac ON ac.oid = a.relid
JOIN pg_namespace an ON an.oid = ac.relnamespace
WHERE c.relispartition AND a.relid <> c.oid
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
  AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s))
GROUP BY n.nspname, c.relname, c.relkind, c.reltuples, s.n_live_tup
