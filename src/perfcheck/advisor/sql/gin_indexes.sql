/* perfcheck */
-- The valid, non-partial GIN indexes of the given tables: their leading column and its
-- operator class (jsonb_path_ops serves only @>, jsonb_ops and array_ops the others too).
SELECT n.nspname AS schema, t.relname AS table, ic.relname AS name,
       pg_get_indexdef(i.indexrelid, 1, true) AS key, opc.opcname AS opclass
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS wanted(schema, name)
JOIN pg_namespace n ON n.nspname = wanted.schema
JOIN pg_class t ON t.relnamespace = n.oid AND t.relname = wanted.name
JOIN pg_index i ON i.indrelid = t.oid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_opclass opc ON opc.oid = i.indclass[0]
WHERE am.amname = 'gin' AND i.indisvalid AND i.indisready AND i.indpred IS NULL
