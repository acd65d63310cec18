"""One Apache Kafka 4.x broker in KRaft mode (combined broker + controller) on loopback."""

from __future__ import annotations

import signal
import subprocess
import uuid
from dataclasses import dataclass

from tools.local import jars
from tools.local.processes import QUICK_JIT, EngineError, EngineProcess, Profile, require_free, wait_port

JVM_HEAP = "-Xmx512m"

_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


@dataclass
class KafkaBroker:
    profile: Profile
    port: int
    controller_port: int
    name: str = "broker"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def root(self):
        return self.profile.root / self.name

    def _properties(self) -> str:
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.root / 'data'}",
            "num.partitions=1",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=6",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "min.insync.replicas=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=168",
            "log.flush.interval.messages=9223372036854775807",
            "",
        ])

    def running(self) -> EngineProcess | None:
        return next((e for e in self.profile.running() if e.name == self.name), None)

    def _format_once(self) -> None:
        props = self.root / "server.properties"
        self.root.mkdir(parents=True, exist_ok=True)
        props.write_text(self._properties())
        (self.root / "log4j2.properties").write_text(_LOG4J2)
        if (self.root / "data" / "meta.properties").exists():
            return
        cmd = [
            "java", "-Xmx256m", QUICK_JIT, "-cp", jars.classpath(self.profile.cache_dir, "kafka"),  # runs once, briefly
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
            "kafka.tools.StorageTool", "format", "-t", str(uuid.uuid4()), "-c", str(props),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise EngineError(f"kafka storage format failed: {proc.stdout}{proc.stderr}")

    def start(self, timeout: float = 120.0) -> EngineProcess:
        """Start the broker (keeping its data across restarts) and wait until it serves metadata."""
        existing = self.running()
        if existing:
            return existing
        require_free(self.port, "the Kafka broker")
        require_free(self.controller_port, "the Kafka controller")
        self._format_once()
        cmd = [
            "java", *self.profile.jvm_options(JVM_HEAP),
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
            "-cp", jars.classpath(self.profile.cache_dir, "kafka"),
            "kafka.Kafka", str(self.root / "server.properties"),
        ]
        log = self.root / "broker.log"
        proc = self.profile.spawn(cmd, log)
        engine = EngineProcess("kafka", self.name, proc.pid, "127.0.0.1", self.port, str(log))
        self.profile.add(engine)
        wait_port(self.port, timeout, proc)
        wait_metadata(self.bootstrap, timeout)
        return engine

    def stop(self, graceful: bool = True, timeout: float = 30.0) -> None:
        engine = self.running()
        if engine:
            self.profile.stop(engine, timeout=timeout, sig=signal.SIGTERM if graceful else signal.SIGKILL)


def wait_metadata(bootstrap: str, timeout: float) -> None:
    """Block until the broker answers a metadata request (a listening port is not enough)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> None:
        loop_deadline = asyncio.get_running_loop().time() + timeout
        last: Exception | None = None
        while asyncio.get_running_loop().time() < loop_deadline:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
            try:
                await admin.start()
                await admin.list_topics()
                return
            except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
                last = e
            finally:
                await admin.close()
            await asyncio.sleep(0.5)
        raise EngineError(f"Kafka at {bootstrap} did not serve metadata in {timeout:.0f}s: {last!r}")

    asyncio.run(probe())
