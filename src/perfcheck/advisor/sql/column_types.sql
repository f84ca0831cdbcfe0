/* perfcheck */
-- The column types of the given tables, for index methods that serve only some types:
-- GIN for jsonb and arrays, BRIN for date and time columns.
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column, t.typname AS type,
       t.typcategory::text AS category
FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS wanted(schema, name)
JOIN pg_namespace n ON n.nspname = wanted.schema
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = wanted.name
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
