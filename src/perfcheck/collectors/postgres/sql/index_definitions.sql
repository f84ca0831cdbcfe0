/* perfcheck */
-- pg_get_indexdef for the few indexes a check may print (see PostgresCollector._indexes).
SELECT d.oid, pg_get_indexdef(d.oid::oid) AS definition
FROM unnest(%(oids)s::bigint[]) AS d(oid)
