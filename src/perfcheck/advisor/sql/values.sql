/* perfcheck */
-- The values the index advisor plans statements with (representative parameters): each
-- column's most common values and their frequencies, and its histogram bounds, as text.
SELECT attname AS column, inherited, most_common_vals::text::text[] AS mcv, most_common_freqs AS mcf,
       histogram_bounds::text::text[] AS histogram, n_distinct, null_frac
FROM pg_stats
WHERE schemaname = %(schema)s AND tablename = %(name)s
ORDER BY inherited
