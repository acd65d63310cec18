"""A profile's whole set of local engines: the Hazelcast cluster and the Kafka broker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.local.hazelcast import HazelcastCluster
from tools.local.kafka import KafkaBroker
from tools.local.processes import Profile

MAX_MEMBERS = 10


@dataclass
class LocalStack:
    profile: Profile
    cluster: HazelcastCluster
    broker: KafkaBroker

    @classmethod
    def create(
        cls,
        cache_dir: Path,
        profile: str = "default",
        cluster_name: str = "spacegrid",
        member_base_port: int = 5701,
        kafka_port: int = 9092,
        controller_port: int = 9093,
        member_slots: int = MAX_MEMBERS,
        quick_jit: bool = False,
    ) -> "LocalStack":
        """``quick_jit`` for engines that live minutes (tests): see ``processes.QUICK_JIT``."""
        prof = Profile(cache_dir, profile, quick_jit=quick_jit)
        ports = list(range(member_base_port, member_base_port + member_slots))
        return cls(prof, HazelcastCluster(prof, cluster_name, ports), KafkaBroker(prof, kafka_port, controller_port))

    def up(self, members: int, kafka: bool) -> None:
        """Start what is missing (running engines are kept, never duplicated)."""
        self.cluster.start(members)
        if kafka:
            self.broker.start()

    def down(self) -> None:
        self.broker.stop()
        self.cluster.stop_all()

    def status_lines(self) -> list[str]:
        """One line per running engine: kind, PID, host:port."""
        return [f"{e.kind:<10} {e.pid:<8} {e.address}  ({e.name})" for e in self.profile.running()]
