/* perfcheck */
SELECT con.conname AS name, n.nspname AS schema, t.relname AS table, t.relkind::text AS table_kind,
       con.conrelid::bigint AS table_oid,
       con.conkey::int[] AS attnums,
       (SELECT array_agg(a.attname ORDER BY k.ord)
          FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
       rn.nspname AS ref_schema, r.relname AS ref_table, con.confrelid::bigint AS ref_table_oid,
       (SELECT array_agg(a.attname ORDER BY k.ord)
          FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS ref_columns,
       -- reltuples is -1 until the first ANALYZE; the live-tuple counter fills in.
       greatest(t.reltuples, coalesce(s.n_live_tup, 0), 0)::bigint AS estimated_rows,
       pg_relation_size(t.oid) AS table_bytes
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
LEFT JOIN pg_stat_user_tables s ON s.relid = t.oid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class r ON r.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = r.relnamespace
-- conparentid <> 0: PostgreSQL's own copy of a constraint for one partition (of the
-- referencing or the referenced table); the constraint the user wrote is judged once.
WHERE con.contype = 'f' AND NOT t.relispartition AND con.conparentid = 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
  AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s))
