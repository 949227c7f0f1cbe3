"""The test suite's own layout: fixtures in conftest.py, plain helpers in support.py, and no
test module importing another (so a helper is defined once and a module runs on its own)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MODULES = sorted(TESTS.glob("*.py"))
SHARED = {"conftest", "support"}


def imported_test_modules(source: str) -> list[str]:
    """Modules of this package named in the imports of `source` that are test modules or
    conftest.py (helpers come from support.py; fixtures reach tests without an import)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and not module.startswith("tests."):
                continue
            names = [module.removeprefix("tests.")] if module else [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("tests.") for a in node.names
                     if a.name.startswith("tests.")]
        else:
            continue
        found += [n for n in names if n.split(".")[0].startswith("test_")
                  or n.split(".")[0] == "conftest"]
    return found


def top_level_functions(source: str) -> set[str]:
    return {n.name for n in ast.parse(source).body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_no_test_module_imports_another(path):
    assert imported_test_modules(path.read_text()) == []


def test_shared_helpers_are_defined_once():
    shared = top_level_functions((TESTS / "support.py").read_text())
    redefined = {f"{path.name}: {name}" for path in MODULES if path.stem != "support"
                 for name in top_level_functions(path.read_text()) & shared}
    assert not redefined, f"helpers of tests/support.py defined again: {sorted(redefined)}"


def test_import_check_flags_every_spelling():
    source = "\n".join([
        "from .test_apply import drifted_db",
        "from tests.test_diagnose import cli",
        "import tests.test_window",
        "from . import test_backup",
        "from .conftest import query",
        "from .support import cli",
        "from pgreconcile.cli import build_parser",
        "import test_something_outside",  # not this package
    ])
    assert imported_test_modules(source) == ["test_apply", "test_diagnose", "test_window",
                                             "test_backup", "conftest"]
