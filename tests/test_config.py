import pytest

from perfcheck import config
from perfcheck.config import ConfigError


def test_precedence_file_then_environment_then_flags(tmp_path):
    path = tmp_path / "perfcheck.yaml"
    path.write_text("targets:\n  db: postgresql://file@h/db\n  redis: redis://file:6379/0\n")
    cfg = config.load(str(path), environ={"DATABASE_URL": "postgresql://env@h/db"})
    assert cfg.target("db") == "postgresql://env@h/db"
    assert cfg.target("redis") == "redis://file:6379/0"
    cfg = config.load(str(path), targets={"db": "postgresql://flag@h/db"}, environ={"DATABASE_URL": "postgresql://env@h/db"})
    assert cfg.target("db") == "postgresql://flag@h/db"


@pytest.mark.parametrize("text, message", [
    ("targets: [oops", "perfcheck.yaml line 1: malformed YAML"),
    ("targetz: {}", "unknown key 'targetz'"),
    ("postgres:\n  statement_timeout_ms: soon\n", "postgres.statement_timeout_ms: expected an integer, got a string"),
    ("checks:\n  db.pool:\n    weight: true\n", "line 3: checks.db.pool.weight: expected a number, got true/false"),
    ("- a list", "expected a mapping at the top level"),
])
def test_bad_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "perfcheck.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(str(path), environ={})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_malformed_urls_are_rejected_without_echoing_the_password():
    with pytest.raises(ConfigError) as err:
        config.load(targets={"db": "mysql://u:hunter2@h/db"}, environ={})
    assert "must start with" in str(err.value) and "hunter2" not in str(err.value)
    with pytest.raises(ConfigError):
        config.load(targets={"db": "postgresql://u:hunter2@h:notaport/db"}, environ={})
