/* perfcheck */
-- As this session sees them: role and database defaults (ALTER ROLE/DATABASE … SET) applied.
-- perfcheck's own session overrides statement/lock/idle timeouts, so those come from
-- pg_db_role_setting and the server default (reset_val) in settings_defaults.sql.
SELECT name, setting, unit, source, reset_val, boot_val, context
FROM pg_settings
WHERE name = ANY(%(names)s)
