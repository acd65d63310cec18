"""Test tiers by folder (unit / integration / e2e) and the engine fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.engines", "tests.support.postgres", "tests.support.report_guard"]
# the shared contract suites live outside test files: have pytest explain their failed asserts
pytest.register_assert_rewrite("tests.contract")

_TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier, taken from the folder it lives in."""
    root = Path(__file__).parent
    for item in items:
        try:
            tier = Path(item.fspath).relative_to(root).parts[0]
        except ValueError:
            continue
        if tier in _TIERS:
            item.add_marker(getattr(pytest.mark, tier))
