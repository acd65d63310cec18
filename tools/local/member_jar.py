"""Build the member-side code (grid_config/member/, Java 17 + Maven) into the cache dir.

The members need the entry processors' classes on their classpath; the jar is build
output, so it lives in ``<cache>/member/`` and never in the repository. Its name carries a
hash of the module's sources: a source change gives a new jar (rebuilt once), an unchanged
module costs one hash of a few small files. Concurrent builders (parallel test sessions,
several worktrees sharing one cache) each build in a private temporary folder and publish
with an atomic rename, so nobody ever sees a half-written jar.

``python -m tools.local.member_jar [cache_dir]`` builds and prints the jar's path (for
compose: ``SPACEGRID_MEMBER_JAR=$(python -m tools.local.member_jar)``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from tools.local.jars import JarFetchError, require_tools

#: how long a cold build (first download of Maven's plugins included) may take
BUILD_TIMEOUT_S = 900
_KEEP_OLD_JARS = 5


def module_dir() -> Path:
    """The Maven module, next to hazelcast.yaml in the grid_config package."""
    return Path(str(resources.files("grid_config") / "member")).resolve()


def _sources(module: Path) -> list[Path]:
    files = [module / "pom.xml", *sorted((module / "src").rglob("*"))]
    return [f for f in files if f.is_file()]


def source_hash(module: Path) -> str:
    """A digest of the module's pom and sources (paths and contents): the jar's identity."""
    digest = hashlib.sha256()
    for f in _sources(module):
        digest.update(f.relative_to(module).as_posix().encode() + b"\0")
        digest.update(f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def ensure_member_jar(cache_dir: Path, module: Path | None = None) -> Path:
    """Return the member jar for the current sources, building it with Maven when missing."""
    module = module or module_dir()
    if not (module / "pom.xml").is_file():
        raise JarFetchError(f"member module not found at {module} (install spacegrid from a source checkout)")
    out_dir = Path(cache_dir) / "member"
    jar = out_dir / f"spacegrid-member-{source_hash(module)}.jar"
    if jar.is_file():
        return jar
    require_tools()
    if shutil.which("javac") is None:
        raise JarFetchError("javac not found: building the member jar needs a JDK 17, not just a JRE")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix="build-") as build:
        cmd = [
            "mvn", "-B", "-q", "-f", str(module / "pom.xml"), "package",
            f"-Dspacegrid.build.dir={build}",
        ]
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        if proc.returncode != 0:
            raise JarFetchError(
                f"mvn failed building the member jar (exit {proc.returncode}):\n" + (proc.stdout + proc.stderr)[-4000:]
            )
        built = Path(build) / "spacegrid-member.jar"
        if not built.is_file():
            raise JarFetchError(f"mvn succeeded but produced no {built.name} in {build}")
        staged = Path(build) / jar.name
        built.rename(staged)
        os.replace(staged, jar)  # atomic publish: same filesystem, readers see all or nothing
    _prune(out_dir, keep=jar)
    build_seconds.append(time.monotonic() - started)
    return jar


#: durations of the builds this process ran (the harness reports them)
build_seconds: list[float] = []


def _prune(out_dir: Path, keep: Path) -> None:
    """Keep the newest few jars (other worktrees may run other sources), delete older ones."""
    jars = sorted(out_dir.glob("spacegrid-member-*.jar"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [j for j in jars if j != keep][_KEEP_OLD_JARS:]:
        try:
            old.unlink()
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cache = Path(args[0]) if args else Path(os.environ.get("SPACEGRID_CACHE_DIR", "~/.cache/spacegrid")).expanduser()
    try:
        print(ensure_member_jar(cache))
    except JarFetchError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
