/* perfcheck */
-- Column statistics for ordering index keys and for the heuristic mode (no HypoPG):
-- distinct values, share of NULLs, physical order correlation, average width.
SELECT schemaname AS schema, tablename AS table, attname AS column, inherited,
       n_distinct, null_frac, correlation, avg_width
FROM pg_stats
JOIN unnest(%(schemas)s::text[], %(names)s::text[]) AS wanted(schema, name)
  ON schemaname = wanted.schema AND tablename = wanted.name
