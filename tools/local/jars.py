"""Fetch the engines' jars from Maven Central with a pinned maven-dependency-plugin.

Maven 3.8's default dependency plugin is old, so the plugin version is pinned here.
Jars land in ``<cache>/jars/<engine>/`` and are fetched once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

HAZELCAST_VERSION = "5.6.0"
KAFKA_VERSION = "4.1.1"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tools.local</groupId><artifactId>{engine}-jars</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"""

ENGINES = {
    "hazelcast": ("com.hazelcast", "hazelcast", HAZELCAST_VERSION),
    "kafka": ("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
}


class JarFetchError(RuntimeError):
    """Maven could not fetch an engine's jars (the message carries Maven's output)."""


def require_tools() -> None:
    """Fail with a clear reason when Java or Maven is not installed."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        raise JarFetchError(f"missing tools on PATH: {', '.join(missing)} (Java 17+ and Maven are needed)")


def jar_dir(cache_dir: Path, engine: str) -> Path:
    return cache_dir / "jars" / engine


def ensure_jars(cache_dir: Path, engine: str) -> Path:
    """Return the folder holding ``engine``'s runtime jars, fetching them on first use."""
    group, artifact, version = ENGINES[engine]
    target = jar_dir(cache_dir, engine)
    marker = target / f".complete-{version}"
    if marker.exists():
        return target
    require_tools()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_POM.format(engine=engine, group=group, artifact=artifact, version=version))
        cmd = [
            "mvn", "-B", "-q", "-f", str(pom),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={target}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise JarFetchError(
                f"mvn failed fetching {group}:{artifact}:{version} (exit {proc.returncode}):\n"
                + (proc.stdout + proc.stderr)[-4000:]
            )
    marker.touch()
    return target


def classpath(cache_dir: Path, engine: str) -> str:
    return str(ensure_jars(cache_dir, engine) / "*")
