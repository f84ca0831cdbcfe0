/* perfcheck */
-- Tables without a primary key, with their replica identity: 'd' default (the primary
-- key: none here), 'i' a chosen unique index, 'f' full (the whole row), 'n' nothing.
-- Partitions follow their parent; extension-owned tables are left out.
SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
       c.relreplident::text AS replica_identity, greatest(c.reltuples, 0)::bigint AS estimated_rows,
       pg_relation_size(c.oid) AS size_bytes,
       (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisreplident) AS replica_identity_index,
       (SELECT array_agg(ic.relname ORDER BY ic.relname) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
           AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                             AND a.attnum = ANY (i.indkey::int2[]) AND NOT a.attnotnull)) AS unique_not_null_indexes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
  AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s))
ORDER BY n.nspname, c.relname
