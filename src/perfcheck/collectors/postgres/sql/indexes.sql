/* perfcheck */
SELECT i.indexrelid::bigint AS oid, n.nspname AS schema, t.relname AS table, ic.relname AS name,
       am.amname AS method, i.indisunique AS is_unique, i.indisprimary AS is_primary,
       i.indisvalid AS is_valid, i.indisready AS is_ready,
       i.indnkeyatts AS key_columns,
       i.indkey::int2[]::int[] AS attnums,
       (SELECT array_agg(a.attname ORDER BY k.ord)
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS columns,
       pg_get_expr(i.indexprs, i.indrelid) AS expressions,
       pg_get_expr(i.indpred, i.indrelid) AS predicate,
       i.indclass::oid[]::bigint[] AS opclasses,
       i.indcollation::oid[]::bigint[] AS collations,
       -- conrelid first: pg_constraint has an index on it, none on conindid.
       EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conrelid = i.indrelid
               AND con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')) AS backs_constraint,
       ic.relispartition AS is_partition,
       pg_relation_size(i.indexrelid) AS size_bytes,
       coalesce(s.idx_scan, 0) AS scans,
       t.relkind::text AS table_kind
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
  AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s))
