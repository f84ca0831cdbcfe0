"""The README and the examples say what perfcheck really does: the generated checks
table is fresh, the README's two commands are the ones CI runs, and the example
perfcheck.yaml is `perfcheck init`'s template, explains every option and validates."""

from __future__ import annotations

from pathlib import Path

from perfcheck import config, docs
from perfcheck.checklist import load as load_checklist

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "src" / "perfcheck" / "templates" / "perfcheck.yaml"
EXAMPLE = ROOT / "examples" / "perfcheck.yaml"


def test_readme_checks_table_is_fresh():
    assert docs.main(["--check", "--readme", str(ROOT / "README.md")]) == 0, \
        "README.md's checks table is stale: run `python -m perfcheck.docs`"


def test_a_stale_table_is_detected_and_rewritten(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{docs.START}\n| old | table |\n{docs.END}\n\nafter\n")
    assert docs.main(["--check", "--readme", str(readme)]) == 1
    assert docs.main(["--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "| old | table |" not in text and text.endswith(f"{docs.END}\n\nafter\n")
    for check_id in load_checklist()[1]:
        assert f"`{check_id}`" in text
    assert docs.main(["--check", "--readme", str(readme)]) == 0


def test_readme_states_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert "scripts/bootstrap && .venv/bin/perfcheck demo" in readme
    assert "scripts/bootstrap && .venv/bin/python -m pytest" in readme
    assert "scripts/bootstrap && .venv/bin/python -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_example_config_is_the_init_template():
    assert EXAMPLE.read_text() == TEMPLATE.read_text(), "examples/perfcheck.yaml must be a copy of templates/perfcheck.yaml"


def test_example_config_validates_and_its_values_are_the_defaults():
    data = config.load(str(EXAMPLE), environ={}).data
    for section in ("postgres", "redis", "http", "baseline", "assertions", "mute", "only", "skip"):
        assert data[section] == config.DEFAULTS[section], f"{section}: the example's values differ from the defaults"


def _keys(shape, prefix=""):
    if isinstance(shape, dict):
        for key, inner in shape.items():
            if key != "*":
                yield f"{prefix}{key}"
            yield from _keys(inner, prefix)
    elif isinstance(shape, list):
        yield from _keys(shape[0], prefix)


def test_every_option_is_explained_in_the_example():
    text = EXAMPLE.read_text()
    missing = sorted({key for key in _keys(config.SCHEMA) if f"{key}:" not in text})
    assert not missing, f"options not shown in examples/perfcheck.yaml: {missing}"


def test_the_readme_config_examples_validate(tmp_path):
    import re

    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"block{i}.yaml"
        path.write_text(block)
        config.load(str(path), environ={})  # raises ConfigError with the line that is wrong
