"""A failing test's report survives CPython 3.11's AST bug (a pytest plugin of the suite).

pytest finds the statement of each traceback entry with ``ast.parse``. CPython 3.11 keeps
the AST constructor's recursion depth in state that is not per thread, and it can end up
wrong (python/cpython#106905, seen in threaded programs; our test processes run threads
beside pytest's, e.g. the classic Hazelcast client's and thread pools): ``SystemError: AST
constructor recursion depth mismatch``. Inside pytest's report code that is an INTERNALERROR, which ended a CI run
after 137 of 816 tests and hid which test had failed. The report is then made again in
Python's own traceback format (``--tb=native``), which does not need the statement.
"""

from __future__ import annotations

from typing import Any, Generator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    try:
        return (yield)
    except SystemError as e:
        if "recursion depth mismatch" not in str(e):
            raise
        option = item.config.option
        style, option.tbstyle = option.tbstyle, "native"
        try:
            return pytest.TestReport.from_item_and_call(item, call)
        finally:
            option.tbstyle = style
