/* perfcheck */
-- Every sequence with how far it has gone towards its end, and the integer column it
-- feeds (a serial or identity column, or a column whose default calls it): a bigint
-- sequence still overflows an int column at 2,147,483,647.
SELECT n.nspname AS schema, c.relname AS name, s.seqtypid::regtype::text AS type,
       s.seqmax AS max_value, s.seqmin AS min_value, s.seqincrement AS increment, s.seqcycle AS cycle,
       pg_sequence_last_value(c.oid) AS last_value,
       col.table_schema, col.table_name, col.column_name, col.column_type
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
  SELECT tn.nspname AS table_schema, t.relname AS table_name, a.attname AS column_name,
         format_type(a.atttypid, NULL) AS column_type
  FROM pg_depend d
  JOIN pg_class t ON t.oid = d.refobjid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
    AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
  UNION ALL
  SELECT tn.nspname, t.relname, a.attname, format_type(a.atttypid, NULL)
  FROM pg_depend d
  JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
  JOIN pg_class t ON t.oid = ad.adrelid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ad.adnum
  WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid AND d.deptype = 'n'
  LIMIT 1
) col ON true
-- has_sequence_privilege() raises on any other relation: guarded by the CASE, whatever the join order.
WHERE CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT') OR has_sequence_privilege(c.oid, 'USAGE') END
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s))
ORDER BY n.nspname, c.relname
