"""Imports point down: the layer rule of docs/architecture.md, checked on the source.

    spacegrid (CLI and wiring)            may import every runtime package
    processing_unit, data_pump,           import grid_config and service_kit
    data_writer, data_reader              (data_reader also data_writer: the Sink port)
    grid_config                           imports service_kit
    service_kit                           imports no project package
    tools, loadtests                      never imported by a runtime package

A short AST walk over every import (module level and inside functions), so an upward
import fails here even when it hides in a function body.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Mapping

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"spacegrid", "processing_unit", "data_pump", "data_writer", "data_reader", "grid_config",
           "service_kit", "tools", "loadtests", "tests"}
COMPONENT = {"grid_config", "service_kit"}

#: runtime package -> the project packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "service_kit": set(),
    "grid_config": {"service_kit"},
    "processing_unit": COMPONENT,
    "data_pump": COMPONENT,
    "data_writer": COMPONENT,
    "data_reader": COMPONENT | {"data_writer"},
    "spacegrid": {"processing_unit", "data_pump", "data_writer", "data_reader", "grid_config", "service_kit"},
}


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import statement in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def layer_violations(root: Path, allowed: Mapping[str, set[str]] = ALLOWED) -> list[str]:
    """``path:line: pkg imports module`` for every import the layer rule forbids."""
    found = []
    for package, may_import in allowed.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, module in imported_modules(path.read_text()):
                top = module.split(".")[0]
                if top in PROJECT and top != package and top not in may_import:
                    found.append(f"{path.relative_to(root)}:{line}: {package} imports {module}")
    return found


def test_imports_point_down() -> None:
    assert layer_violations(ROOT) == []


@pytest.mark.parametrize(
    ("path", "source", "violation"),
    [
        ("data_pump/bad.py", "from spacegrid.cli import main\n", "data_pump/bad.py:1: data_pump imports spacegrid.cli"),
        ("processing_unit/bad.py", "def f():\n    import tools.bench.cli\n",
         "processing_unit/bad.py:2: processing_unit imports tools.bench.cli"),
        ("grid_config/bad.py", "from processing_unit import app\n", "grid_config/bad.py:1: grid_config imports processing_unit"),
        ("service_kit/bad.py", "import grid_config.names\n", "service_kit/bad.py:1: service_kit imports grid_config.names"),
        ("data_writer/bad.py", "from data_pump.shipping import x\n",
         "data_writer/bad.py:1: data_writer imports data_pump.shipping"),
    ],
)
def test_a_deliberate_upward_import_is_caught(tmp_path: Path, path: str, source: str, violation: str) -> None:
    for package in ALLOWED:
        (tmp_path / package).mkdir()
    (tmp_path / path).write_text(source)
    assert layer_violations(tmp_path) == [violation]


def test_sideways_imports_that_the_rule_allows_pass(tmp_path: Path) -> None:
    for package in ALLOWED:
        (tmp_path / package).mkdir()
    (tmp_path / "data_reader" / "ok.py").write_text("from data_writer.ports import Sink\nimport orjson\n")
    (tmp_path / "spacegrid" / "ok.py").write_text("from data_pump.app import build\n")
    assert layer_violations(tmp_path) == []
