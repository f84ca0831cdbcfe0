"""An example perfcheck plugin: one check, `example.wide_tables`."""
