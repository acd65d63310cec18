"""The suite's pytest plugin: a failure is reported as one even when CPython cannot parse it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

FAILING_TEST = '''
import _pytest._code.code as code


def _broken(*args, **kwargs):
    raise SystemError("AST constructor recursion depth mismatch (before=129, after=181)")


def test_fails_while_the_ast_constructor_is_broken(monkeypatch):
    monkeypatch.setattr(code, "getstatementrange_ast", _broken)
    assert 1 == 2
'''


def _pytest(tmp_path: Path, *plugins: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_broken_ast.py").write_text(FAILING_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins, "--rootdir", str(tmp_path),
         str(tmp_path / "test_broken_ast.py")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_a_failure_whose_source_cannot_be_parsed_is_reported_as_a_failure(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "-p", "tests.support.report_guard")
    assert done.returncode == 1, done.stdout + done.stderr  # tests failed, not an internal error
    assert "INTERNALERROR" not in done.stdout + done.stderr
    assert "1 failed" in done.stdout and "assert 1 == 2" in done.stdout


def test_without_the_plugin_the_same_failure_is_an_internal_error(tmp_path: Path) -> None:
    """What the plugin is for (if pytest ever catches this itself, the plugin can go)."""
    done = _pytest(tmp_path)
    assert done.returncode == 3 and "INTERNALERROR" in done.stdout + done.stderr, done.stdout + done.stderr
