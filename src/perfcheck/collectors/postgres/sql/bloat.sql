/* perfcheck */
-- What the statistics-based bloat estimate needs, per table and btree index of min_pages
-- or more: pages and tuples as last counted (VACUUM/ANALYZE), the fill factor, and the
-- average width of the stored columns from pg_stats (perfcheck.checks.support.bloat
-- does the arithmetic). Columns without statistics make the estimate unreliable: they
-- are counted, and the check leaves such a relation out.
SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name,
       CASE WHEN c.relkind = 'i' THEN 'index' ELSE 'table' END AS kind,
       t.relname AS table, c.relpages::bigint AS pages, greatest(c.reltuples, 0)::float8 AS tuples,
       current_setting('block_size')::int AS block_size,
       coalesce((SELECT split_part(o, '=', 2)::int FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%%'),
                CASE WHEN c.relkind = 'i' THEN 90 ELSE 100 END) AS fillfactor,
       am.amname AS method, (i.indexprs IS NOT NULL) AS has_expressions,
       w.columns, w.columns_with_stats, w.width, w.has_nulls
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_am am ON am.oid = c.relam
JOIN pg_class t ON t.oid = coalesce(i.indrelid, c.oid)
CROSS JOIN LATERAL (
  SELECT count(*) AS columns, count(s.avg_width) AS columns_with_stats, coalesce(sum(s.avg_width), 0)::int AS width,
         coalesce(bool_or(s.null_frac > 0), false) AS has_nulls
  FROM pg_attribute a
  LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname AND s.attname = a.attname
  WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    AND (i.indexrelid IS NULL OR a.attnum = ANY (i.indkey::int2[]))
) w
WHERE c.relkind IN ('r', 'm', 'i') AND c.relpages >= %(min_pages)s
  AND (c.relkind <> 'i' OR (am.amname = 'btree' AND i.indisvalid))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
  AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s))
ORDER BY c.relpages DESC
LIMIT 500
