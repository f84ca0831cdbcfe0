/* perfcheck */
-- ALTER ROLE / ALTER DATABASE … SET entries that apply to this role in this database,
-- most specific first (role+database, role, database), as PostgreSQL applies them.
SELECT CASE WHEN s.setrole <> 0 AND s.setdatabase <> 0 THEN 'role_database'
            WHEN s.setrole <> 0 THEN 'role'
            ELSE 'database' END AS level,
       cfg
FROM pg_db_role_setting s
CROSS JOIN LATERAL unnest(s.setconfig) AS cfg
WHERE (s.setrole = 0 OR s.setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user))
  AND (s.setdatabase = 0 OR s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()))
ORDER BY (s.setrole <> 0) DESC, (s.setdatabase <> 0) DESC
