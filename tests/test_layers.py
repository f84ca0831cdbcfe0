"""Layers that can't tangle (docs/architecture.md): the import-linter contracts declared in
pyproject.toml hold, no module imports itself through others, checks never import a driver
and reporters never import collectors. Read from the source, so a new module is covered."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from perfcheck import checklist, targets

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "perfcheck"
DRIVERS = {"psycopg", "psycopg_pool", "redis", "httpx", "h2", "h11", "socket", "subprocess"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            # `from .. import collectors` names the module in the alias, not the base.
            names |= {base.rstrip(".") + "." + alias.name for alias in node.names}
    return names


def _files(folder: str) -> list[Path]:
    return sorted((SRC / folder).glob("*.py"))


@pytest.mark.parametrize("path", _files("checks"), ids=lambda p: p.name)
def test_checks_import_no_driver_and_no_collector(path):
    for name in imported_modules(path):
        top = name.lstrip(".").split(".")[0]
        assert top not in DRIVERS, f"{path.name} imports {name}: checks are pure functions of facts"
        assert "collectors" not in name, f"{path.name} imports {name}: checks read facts, not collectors"


@pytest.mark.parametrize("path", _files("report"), ids=lambda p: p.name)
def test_reporters_read_only_the_report(path):
    for name in imported_modules(path):
        top = name.lstrip(".").split(".")[0]
        assert top not in DRIVERS, f"{path.name} imports {name}"
        assert "collectors" not in name and "runner" not in name, f"{path.name} imports {name}: views read only the Report"


def test_the_reader_sees_driver_imports():
    # The guard above must be able to fail: the PostgreSQL collector does import its driver.
    assert "psycopg" in imported_modules(SRC / "collectors" / "postgres" / "collector.py")
    assert "perfcheck.collectors.TargetError" in imported_modules(SRC / "runner.py")


def test_the_import_contracts_hold():
    """lint-imports with pyproject.toml's [tool.importlinter] contracts: layers, checks without
    drivers, reports reading only the model, collectors without checks or advisor internals."""
    lint = Path(sys.executable).with_name("lint-imports")
    command = [str(lint)] if lint.exists() else [shutil.which("lint-imports") or "lint-imports"]
    run = subprocess.run([*command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_no_import_cycle():
    """Function-level imports count too: a cycle hidden inside a function is still a tangle."""
    assert _cycles(grimp.build_graph("perfcheck", cache_dir=None)) == []


def test_the_cycle_finder_finds_cycles(tmp_path, monkeypatch):
    package = tmp_path / "tangled"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from tangled import b\n")
    (package / "b.py").write_text("def f():\n    from tangled import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles(grimp.build_graph("tangled", cache_dir=None)) == [["tangled.a", "tangled.b"]]


def test_one_word_per_target():
    """A check id's prefix is its category's (targets.CATEGORIES), and its module is
    checks/<prefix>/<name>.py; every target a check names is in targets.TARGETS."""
    categories = {c.id: c for c in targets.CATEGORIES}
    found, metas = checklist.load()
    assert set(found) == set(categories)
    for meta in metas.values():
        prefix, _, name = meta.id.partition(".")
        assert prefix == categories[meta.category].prefix, meta.id
        assert (SRC / "checks" / prefix / f"{name}.py").exists(), meta.id
        assert meta.target in targets.BY_WORD or meta.target == targets.NO_TARGET, meta.id



def _function_level_imports(path: Path) -> list[ast.stmt]:
    tree = ast.parse(path.read_text())
    found = {}
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found[node.lineno] = node
    return list(found.values())


def test_function_level_imports_say_why():
    """Imports belong at the top of a module; the few inside a function are there for
    start-up time, each with a `# why:` on its line. cli.py defers most of its imports so
    that `perfcheck --help` starts fast, and is left out."""
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "cli.py":
            continue
        lines = path.read_text().splitlines()
        for node in _function_level_imports(path):
            text = " ".join(lines[node.lineno - 1:node.end_lineno])
            if "# why:" not in text:
                missing.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert missing == [], "function-level imports without a '# why:' reason: " + ", ".join(missing)


MAX_FUNCTION_LINES = 60  # of body: a command's option declarations are its signature, not its steps
# Functions still over the limit, each with who is splitting it; the list only shrinks.
LONG_FUNCTIONS_ALLOWED: set[str] = set()


def _body_lines(node: ast.AST) -> int:
    """From the first statement (the docstring included) to the last: the steps, not the signature."""
    return node.end_lineno - node.body[0].lineno + 1


def _functions(path: Path):
    def visit(node: ast.AST, prefix: str):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{prefix}{child.name}", child
                yield from visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            else:
                yield from visit(child, prefix)

    yield from visit(ast.parse(path.read_text()), "")


def test_no_function_is_too_long():
    """A function over 60 lines of body is split into named steps."""
    long = {}
    for path in sorted(SRC.rglob("*.py")):
        for name, node in _functions(path):
            lines = _body_lines(node)
            key = f"{path.relative_to(SRC).as_posix()}:{name}"
            if lines > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS_ALLOWED:
                long[key] = lines
    assert long == {}, f"split these into named steps (at most {MAX_FUNCTION_LINES} lines): {long}"


def test_the_long_function_allow_list_is_current():
    """An entry goes once its function is split (or gone)."""
    lengths = {f"{path.relative_to(SRC).as_posix()}:{name}": _body_lines(node)
               for path in sorted(SRC.rglob("*.py")) for name, node in _functions(path)}
    stale = {key for key in LONG_FUNCTIONS_ALLOWED if lengths.get(key, 0) <= MAX_FUNCTION_LINES}
    assert stale == set(), f"no longer over {MAX_FUNCTION_LINES} lines: drop them from LONG_FUNCTIONS_ALLOWED: {stale}"
