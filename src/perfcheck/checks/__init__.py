"""Built-in checks, one module per category; registered through the `perfcheck.checks`
entry points exactly as a third-party plugin's are. Checks never import a driver."""
