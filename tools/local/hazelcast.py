"""Hazelcast 5.6 members from the Maven Central jar, configured by grid_config/hazelcast.yaml."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from grid_config.hazelcast_health import member_health
from tools.local import jars
from tools.local.member_jar import ensure_member_jar
from tools.local.processes import EngineError, EngineProcess, Profile, require_free, wait_port

JVM_HEAP = "-Xmx384m"
_JAVA_OPENS = [
    "--add-modules", "java.se",
    "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.management/sun.management=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
]


def config_path() -> Path:
    return Path(str(resources.files("grid_config") / "hazelcast.yaml")).resolve()


@dataclass
class HazelcastCluster:
    """A loopback cluster: ``ports`` are every member slot (the TCP-IP member list)."""

    profile: Profile
    cluster_name: str
    ports: list[int]

    @property
    def member_list(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def members(self) -> list[EngineProcess]:
        return [e for e in self.profile.running() if e.kind == "hazelcast"]

    def addresses(self) -> list[str]:
        return [m.address for m in self.members()]

    def _command(self, port: int, expected_size: int) -> list[str]:
        quorum = expected_size >= 3
        return [
            "java", *_JAVA_OPENS, *self.profile.jvm_options(JVM_HEAP),
            f"-Dhazelcast.config={config_path()}",
            f"-Dspacegrid.cluster.name={self.cluster_name}",
            f"-Dspacegrid.port={port}",
            "-Dspacegrid.interface=127.0.0.1",
            "-Dspacegrid.bind.any=false",
            f"-Dspacegrid.members={self.member_list}",
            f"-Dspacegrid.quorum.enabled={'true' if quorum else 'false'}",
            "-Dspacegrid.quorum.size=2",
            # the member-side code (entry processors) next to Hazelcast itself
            "-cp", os.pathsep.join([jars.classpath(self.profile.cache_dir, "hazelcast"),
                                    str(ensure_member_jar(self.profile.cache_dir))]),
            "com.hazelcast.core.server.HazelcastMemberStarter",
        ]

    def start(self, count: int, timeout: float = 120.0) -> list[EngineProcess]:
        """Start members until ``count`` run; returns once the cluster has them all and is safe."""
        running = self.members()
        used = {m.port for m in running}
        free_slots = [p for p in self.ports if p not in used]
        to_start = max(0, count - len(running))
        if to_start > len(free_slots):
            raise EngineError(f"only {len(self.ports)} member ports are configured")
        for port in free_slots[:to_start]:
            require_free(port, "a Hazelcast member")
        started = []
        for port in free_slots[:to_start]:
            index = self.ports.index(port) + 1
            log = self.profile.root / f"member-{index}.log"
            proc = self.profile.spawn(self._command(port, count), log)
            engine = EngineProcess("hazelcast", f"member-{index}", proc.pid, "127.0.0.1", port, str(log))
            self.profile.add(engine)
            started.append((engine, proc))
        for engine, proc in started:
            wait_port(engine.port, timeout, proc)
        self.wait_until(count, timeout)
        return self.members()

    def wait_until(self, size: int, timeout: float = 120.0) -> dict:
        """Block until every running member sees ``size`` members and the cluster is safe."""
        deadline = time.monotonic() + timeout
        last: dict | None = None
        while time.monotonic() < deadline:
            docs = [member_health(f"127.0.0.1:{m.port}") for m in self.members()]
            if docs and all(d and d.get("clusterSize") == size and d.get("clusterSafe") for d in docs):
                return docs[0]  # type: ignore[return-value]
            last = next((d for d in docs if d), last)
            time.sleep(0.3)
        raise EngineError(f"cluster did not reach {size} safe members in {timeout:.0f}s (last health: {last})")

    def remove(self, graceful: bool = True, timeout: float = 120.0) -> EngineProcess:
        """Stop the newest member: SIGTERM (graceful shutdown: partitions migrate first) or SIGKILL."""
        members = self.members()
        if not members:
            raise EngineError("no member is running")
        victim = max(members, key=lambda m: self.ports.index(m.port))
        self.profile.stop(victim, timeout=timeout, sig=signal.SIGTERM if graceful else signal.SIGKILL)
        return victim

    def kill(self, member: EngineProcess) -> None:
        """SIGKILL one member (fault injection) and wait until it is gone."""
        self.profile.stop(member, sig=signal.SIGKILL)

    def stop_all(self, timeout: float = 15.0) -> None:
        """Stop every member: SIGTERM to all at once, SIGKILL whoever is still up after ``timeout``."""
        members = self.members()
        for m in members:
            self.profile.send(m, signal.SIGTERM)
        for m in members:
            self.profile.stop(m, timeout=timeout)
