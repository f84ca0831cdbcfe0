/* perfcheck */
-- avg_width: pg_stats' average stored width of the column (NULL before the first ANALYZE);
-- typlen: the type's fixed width (-1 variable, TOASTable); toast_bytes and table_rows: what
-- a SELECT * of a row also reads out of line (db.select_star judges the bytes fetched).
SELECT c.oid::bigint AS table_oid, n.nspname AS schema, c.relname AS table, a.attnum, a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       st.avg_width, ty.typlen::int AS typlen,
       CASE WHEN c.reltoastrelid <> 0 THEN pg_relation_size(c.reltoastrelid) ELSE 0 END AS toast_bytes,
       greatest(c.reltuples, 0)::bigint AS table_rows
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN (SELECT schemaname, tablename, attname, max(avg_width) AS avg_width FROM pg_stats
           GROUP BY schemaname, tablename, attname) st
       ON st.schemaname = n.nspname AND st.tablename = c.relname AND st.attname = a.attname
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
  AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s))
