/* perfcheck */
-- The placeholders in braces are filled in by the collector from the columns this
-- pg_stat_statements version has (total_time before 13, total_exec_time and plans from 13).
-- Columns renamed in 17 (blk_read_time → shared_blk_read_time) are not selected.
SELECT s.queryid, s.query, s.calls, s.rows,
       {total_ms} AS total_ms, {mean_ms} AS mean_ms, {plans} AS plans, {plan_ms} AS total_plan_ms,
       s.shared_blks_hit, s.shared_blks_read,
       r.rolname AS "user"
FROM {schema}.pg_stat_statements s
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.query NOT LIKE '/* perfcheck */%%'  -- perfcheck's own: its tag leads the text up to 17,
  AND s.query NOT LIKE '%%/* perfcheck */'  -- and ends it from 18, which drops leading comments
  AND s.query NOT LIKE '%%pg_stat_statements%%'
ORDER BY {total_ms} DESC
LIMIT %(limit)s
