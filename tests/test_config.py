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


def test_database_targets_as_libpq_and_orms_write_them():
    for db in ("host=db dbname=shop user=app password='x y'", "postgresql+asyncpg://app@db/shop",
               "postgres://app@db:6543/shop?connection_limit=5&pool_timeout=20&statement_timeout=30000&schema=app",
               "service=shop"):
        config.load(targets={"db": db}, environ={})
    config.load(targets={"db": "postgresql:///shop"}, environ={"PGHOST": "db"})  # libpq fills the host in
    for db in ("postgresql://", "postgresql:///shop", "dbname=shop"):
        with pytest.raises(ConfigError) as err:
            config.load(targets={"db": db}, environ={})
        assert str(err.value).startswith("--db: ") and "\n" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        config.load(targets={"db": "host=db password=hunter2 port=x"}, environ={})
    assert "hunter2" not in str(err.value)


# --- hostile or mistaken files: one line that names the file, the line and the problem ---------

def _error(tmp_path, text: str, **kw) -> str:
    path = tmp_path / "perfcheck.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(str(path), environ={}, **kw)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path} line ") or message.startswith(f"{path}:"), message
    return message


def test_a_key_given_twice_is_an_error_at_its_second_line_even_inside_a_list(tmp_path):
    text = "http:\n  endpoints:\n    - name: songs\n      path: /api/songs\n      path: /api/albums\n"
    assert "line 5: malformed YAML (column 7): duplicate key 'path' (first given on line 4)" in _error(tmp_path, text)


def test_a_merge_key_may_be_overridden_without_being_a_duplicate(tmp_path):
    path = tmp_path / "perfcheck.yaml"
    path.write_text("categories:\n  database: &w {weight: 1}\n  cache:\n    <<: *w\n    weight: 2\n")
    assert config.load(str(path), environ={}).data["categories"]["cache"] == {"weight": 2}


def test_an_error_names_the_line_of_the_value_not_of_its_section(tmp_path):
    text = "# comment\nhttp:\n  timeout_s: 5\n  load:\n    requests: 100\n    warmup: 5\n    concurrency: -2\n"
    assert "line 7: http.load.concurrency: must be 1 or more, got -2" in _error(tmp_path, text)


@pytest.mark.parametrize("value, message", [
    ("0", "must be greater than 0"),
    ("-1", "must be greater than 0"),
    (".nan", "expected a finite number"),
    ("4000", "must be at most 3600"),
    ("'5'", "expected a number, got a string"),
])
def test_a_timeout_is_a_finite_positive_bounded_number(tmp_path, value, message):
    assert f"redis.connect_timeout_s: {message}" in _error(tmp_path, f"redis:\n  connect_timeout_s: {value}\n")


def test_memory_samples_zero_would_read_whole_collections_and_is_refused(tmp_path):
    assert "0 would make Redis read every element" in _error(tmp_path, "redis:\n  memory_samples: 0\n")


def test_thresholds_take_their_defaults_type(tmp_path):
    assert "expected a list of values like" in _error(tmp_path, "checks:\n  cache.commands:\n    thresholds: {dangerous: keys}\n")
    assert "must be 0 or more" in _error(tmp_path, "checks:\n  db.slow_queries:\n    thresholds: {mean_ms: -20}\n")
    path = tmp_path / "perfcheck.yaml"
    path.write_text("checks:\n  db.slow_queries:\n    thresholds: {mean_ms: 12.5}\n  cache.commands:\n    thresholds: {dangerous: [keys]}\n")
    assert config.load(str(path), environ={}).check_overrides("db.slow_queries") == {"thresholds": {"mean_ms": 12.5}}


def test_a_plugin_check_and_category_are_known_names(tmp_path):
    known = config.Known({"acme.queue_depth": {"max_depth": 100}}, frozenset({"queues"}))
    path = tmp_path / "perfcheck.yaml"
    path.write_text("checks:\n  acme.queue_depth:\n    thresholds: {max_depth: 50}\ncategories:\n  queues: {weight: 2}\n")
    assert config.load(str(path), environ={}, known=known).data["categories"]["queues"]["weight"] == 2
    assert "did you mean 'acme.queue_depth'" in _error(tmp_path, "checks:\n  acme.queue_dept: {}\n", known=known)


def test_only_and_skip_flags_are_checked_with_did_you_mean():
    with pytest.raises(ConfigError, match=r"^--skip: unknown check or category 'db\.fk_index' \(did you mean 'db\.fk_indexes'\?\)"):
        config.load(None, skip=["db.fk_index"], environ={})


def test_a_control_character_is_an_error_with_its_line(tmp_path):
    assert "line 2: malformed YAML: control character U+0007" in _error(tmp_path, "only: []\nskip: [\a]\n")


# --- where the config is found, and every error at once ------------------------------------------

def _tree(tmp_path):
    """repo/.git, repo/sub/deeper: a repository with a folder two levels down."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    deeper = repo / "sub" / "deeper"
    deeper.mkdir(parents=True)
    return repo, deeper


def test_the_config_is_found_in_a_parent_folder_up_to_the_repository_root(tmp_path):
    repo, deeper = _tree(tmp_path)
    (repo / "perfcheck.yaml").write_text("targets:\n  url: http://127.0.0.1:9/\n")
    assert config.find(deeper) == repo / "perfcheck.yaml"
    (repo / "perfcheck.yaml").unlink()
    (tmp_path / "perfcheck.yaml").write_text("targets: {}\n")  # above the repository root: not read
    assert config.find(deeper) is None


def test_pyproject_tool_perfcheck_is_read_and_a_pyproject_without_it_is_passed_over(tmp_path):
    repo, deeper = _tree(tmp_path)
    (repo / "pyproject.toml").write_text('[project]\nname = "app"\n\n[tool.perfcheck]\nskip = ["cdn"]\n'
                                         '[tool.perfcheck.postgres]\nstatement_timeout_ms = 1000\n')
    (repo / "sub" / "pyproject.toml").write_text('[project]\nname = "other"\n')  # no [tool.perfcheck]
    assert config.find(deeper) == repo / "pyproject.toml"
    cfg = config.load(str(repo / "pyproject.toml"), environ={})
    assert cfg.data["skip"] == ["cdn"] and cfg.data["postgres"]["statement_timeout_ms"] == 1000
    (deeper / "perfcheck.yaml").write_text("skip: [api]\n")  # nearer, and perfcheck.yaml first in a folder
    assert config.find(deeper) == deeper / "perfcheck.yaml"


def test_a_bad_pyproject_is_one_line_per_problem(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.perfcheck\nskip = 1\n')
    with pytest.raises(ConfigError) as err:
        config.load(str(path), environ={})
    assert "malformed TOML" in str(err.value) and "\n" not in str(err.value)
    path.write_text('[tool.perfcheck]\nskip = "db"\n[tool.perfcheck.checks."db.fk_index"]\n')
    with pytest.raises(ConfigError) as err:
        config.load(str(path), environ={})
    lines = err.value.messages
    assert len(lines) == 2 and all(line.startswith(f"{path} [tool.perfcheck]: ") for line in lines)
    assert "skip: expected a list, got a string" in lines[0] or "skip: expected a list, got a string" in lines[1]
    assert any("did you mean 'db.fk_indexes'?" in line for line in lines)


def test_every_error_in_a_file_is_reported_at_once_in_line_order(tmp_path):
    path = tmp_path / "perfcheck.yaml"
    path.write_text("targetz: {}\n"                       # 1
                    "postgres:\n"                         # 2
                    "  statement_timeout_ms: soon\n"      # 3
                    "checks:\n"                           # 4
                    "  db.fk_index: {}\n"                 # 5
                    "  db.pool:\n"                        # 6
                    "    weight: true\n"                  # 7
                    "http:\n"                             # 8
                    "  endpoints:\n"                      # 9
                    "    - path: nope\n")                 # 10
    with pytest.raises(ConfigError) as err:
        config.load(str(path), only=["db.nope"], environ={})
    lines = err.value.messages
    assert [line.split(":")[0] for line in lines[:5]] == [f"{path} line {n}" for n in (1, 3, 5, 7, 10)]
    assert "unknown key 'targetz' (did you mean 'targets'?)" in lines[0]
    assert "checks: unknown check 'db.fk_index' (did you mean 'db.fk_indexes'?)" in lines[2]
    assert "must start with /" in lines[4]
    assert lines[5].startswith("--only: unknown check or category 'db.nope'")
    assert len(lines) == 6


def test_the_errors_shown_are_bounded(tmp_path):
    path = tmp_path / "perfcheck.yaml"
    path.write_text("".join(f"key{i}: 1\n" for i in range(100)))
    with pytest.raises(ConfigError) as err:
        config.load(str(path), environ={})
    lines = err.value.messages
    assert len(lines) == config.MAX_ERRORS + 1 and lines[-1] == f"… and {100 - config.MAX_ERRORS} more configuration errors"
