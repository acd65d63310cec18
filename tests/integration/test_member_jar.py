"""The member jar is built into the cache dir, once per source state, never into the repo."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tools.local import member_jar
from tools.local.jars import JarFetchError
from tests.support.engines import engines_unavailable

pytestmark = pytest.mark.integration


def test_built_outside_the_repo_and_rebuilt_only_when_sources_change(tmp_path: Path) -> None:
    module = tmp_path / "member"
    shutil.copytree(member_jar.module_dir(), module, ignore=shutil.ignore_patterns("target"))
    cache = tmp_path / "cache"
    try:
        jar = member_jar.ensure_member_jar(cache, module)
    except JarFetchError as e:
        engines_unavailable(str(e))
    builds = len(member_jar.build_seconds)
    assert jar.parent == cache / "member"
    names = zipfile.ZipFile(jar).namelist()
    assert "io/spacegrid/member/MemberFactory.class" in names
    assert not any(n.startswith("com/hazelcast/") for n in names)  # hazelcast is `provided`

    assert member_jar.ensure_member_jar(cache, module) == jar
    assert len(member_jar.build_seconds) == builds  # unchanged sources: no build

    source = module / "src/main/java/io/spacegrid/member/MemberFactory.java"
    source.write_text(source.read_text() + "\n// changed\n")
    rebuilt = member_jar.ensure_member_jar(cache, module)
    assert rebuilt != jar and rebuilt.is_file()
    assert len(member_jar.build_seconds) == builds + 1

    assert not (module / "target").exists()  # the build output went to the cache only
    repo_module = member_jar.module_dir()
    status = subprocess.run(["git", "status", "--porcelain", "--ignored", str(repo_module)],
                            capture_output=True, text=True, cwd=repo_module).stdout
    assert status == ""
