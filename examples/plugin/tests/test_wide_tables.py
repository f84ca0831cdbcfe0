"""The plugin's own unit tests: the check is a pure function, so hand-built facts do."""

from perfcheck.model import Status

from perfcheck_example_plugin.checks import wide_tables


def table(name, columns, schema="public", kind="r"):
    return {"schema": schema, "name": name, "columns": columns, "kind": kind}


def test_narrow_tables_pass():
    outcome = wide_tables.judge({"postgres.tables": [table("users", 5), table("songs", 30)]}, {"max_columns": 30})
    assert outcome.status is Status.PASS and outcome.findings == []


def test_wide_table_is_named_with_its_column_count():
    facts = {"postgres.tables": [table("users", 5), table("Events", 120, schema="audit")]}
    outcome = wide_tables.judge(facts, {"max_columns": 30})
    assert outcome.status is Status.FAIL  # four times the limit scores under 0.5
    [finding] = outcome.findings
    assert finding.object == 'audit."Events"' and finding.evidence["columns"] == 120


def test_slightly_wide_table_warns():
    outcome = wide_tables.judge({"postgres.tables": [table("users", 34)]}, {"max_columns": 30})
    assert outcome.status is Status.WARN and 0.5 < outcome.score < 0.9


def test_views_and_an_empty_database():
    assert wide_tables.judge({"postgres.tables": [table("v", 99, kind="m")]}, {"max_columns": 30}).status is Status.SKIP
    assert wide_tables.judge({"postgres.tables": []}, {"max_columns": 30}).status is Status.SKIP
