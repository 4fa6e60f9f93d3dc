"""The code's layout limits (issue 12), held from now on: in ``worker/`` (the simulator aside),
``config/`` and ``tasks/``, no module over 300 lines, no function over 40 lines and no class
with more than 12 public methods. A declarative table (a settings dict, one ``Settings(...)``
of every variable) is long by nature: such functions are listed in TABLES, each with what it
holds."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("worker", "config", "tasks")
EXCLUDED = (ROOT / "worker" / "simulator",)

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 40
MAX_PUBLIC_METHODS = 12

#: functions that are one declarative table, by ``path:name``
TABLES = {
    "config/celery.py:celery_settings": "the Celery settings, one dict",
    "config/settings.py:load_settings": "one Settings(...) of every STATUSWATCH_* variable",
}


def modules() -> Iterator[tuple[str, str]]:
    """(path from the repo's root, text) of every module the limits hold for."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not any(path.is_relative_to(excluded) for excluded in EXCLUDED):
                yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def nodes(kind: type[ast.AST] | tuple[type[ast.AST], ...]) -> Iterator[tuple[str, Any]]:
    """(``path:name``, node) of every node of ``kind`` in those modules."""
    for name, text in modules():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, kind):
                yield f"{name}:{getattr(node, 'name', '')}", node


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def test_the_layout_covers_the_packages() -> None:
    names = [name for name, _ in modules()]
    assert "worker/store.py" in names and "config/settings.py" in names and "tasks/tracking.py" in names
    assert not any(name.startswith("worker/simulator/") for name in names)


def test_no_module_is_over_300_lines() -> None:
    long = {name: n for name, text in modules() if (n := len(text.splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_is_over_40_lines() -> None:
    lengths = {where: node.end_lineno - node.lineno + 1 for where, node in nodes(FUNCTIONS)}
    long = {where: n for where, n in lengths.items() if n > MAX_FUNCTION_LINES and where not in TABLES}
    assert long == {}


def test_no_class_has_more_than_12_public_methods() -> None:
    public = {
        where: [f.name for f in node.body if isinstance(f, FUNCTIONS) and not f.name.startswith("_")]
        for where, node in nodes(ast.ClassDef)
    }
    crowded = {where: names for where, names in public.items() if len(names) > MAX_PUBLIC_METHODS}
    assert crowded == {}


def test_the_tables_excepted_are_still_there() -> None:
    """An exception for a function that is gone (or renamed) would excuse the next long one."""
    assert set(TABLES) <= {where for where, _ in nodes(FUNCTIONS)}
