/* perfcheck */
-- The indexes of the given tables, each key as PostgreSQL prints it (a column or an
-- expression) with its sort options, so that a candidate can be compared with them.
SELECT n.nspname AS schema, t.relname AS table, ic.relname AS name, am.amname AS method,
       i.indisvalid AS is_valid, i.indisready AS is_ready, i.indisunique AS is_unique,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) AS keys,
       ARRAY(SELECT (i.indoption::int2[])[k - 1]::int FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) AS options,
       pg_get_expr(i.indpred, i.indrelid, true) AS predicate
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS wanted(schema, name)
JOIN pg_namespace n ON n.nspname = wanted.schema
JOIN pg_class t ON t.relnamespace = n.oid AND t.relname = wanted.name
JOIN pg_index i ON i.indrelid = t.oid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
