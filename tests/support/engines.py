"""pytest plugin: real engines on loopback, started once per test session.

The same launcher code as ``spacegrid local up`` (tools/local/), but a profile of
its own (``test-<id>``), random free ports and its own cluster name, so a person's
engines on the default ports and a test run never disturb each other. Everything is
stopped at session end, also on Ctrl-C (fixture finalizers) and at interpreter exit.

Without Java or Maven the engine tests skip with the reason; with
``SPACEGRID_REQUIRE_ENGINES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from grid_config.names import Names
from tools.local import jars, member_jar
from tools.local.processes import free_ports
from tools.local.stack import LocalStack

REQUIRE_ENGINES = os.environ.get("SPACEGRID_REQUIRE_ENGINES") == "1"
TIMINGS: dict[str, float] = {}
_STACKS: list[LocalStack] = []
_LOCK = threading.Lock()


def cache_dir() -> Path:
    return Path(os.environ.get("SPACEGRID_CACHE_DIR", os.path.expanduser("~/.cache/spacegrid")))


def engines_unavailable(reason: str) -> None:
    """Skip, or fail when CI demands real engines."""
    if REQUIRE_ENGINES:
        pytest.fail(f"engine unavailable and SPACEGRID_REQUIRE_ENGINES=1: {reason}", pytrace=False)
    pytest.skip(reason)


def _stop_all() -> None:
    with _LOCK:
        stacks, _STACKS[:] = list(_STACKS), []
    for stack in stacks:
        try:
            stack.down()
        finally:
            shutil.rmtree(stack.profile.root, ignore_errors=True)


atexit.register(_stop_all)


def new_stack(member_slots: int = 6) -> LocalStack:
    """A fresh test profile on free ports; stopped at session end unless stopped before."""
    try:
        jars.require_tools()
        for engine in ("hazelcast", "kafka"):
            jars.ensure_jars(cache_dir(), engine)
        member_jar.ensure_member_jar(cache_dir())  # the members' entry processors
        if member_jar.build_seconds:
            TIMINGS["member jar build (s)"] = member_jar.build_seconds[-1]
    except jars.JarFetchError as e:
        engines_unavailable(str(e))
    ports = free_ports(member_slots + 2)
    tag = uuid.uuid4().hex[:8]
    stack = LocalStack.create(
        cache_dir(),
        profile=f"test-{tag}",
        cluster_name=f"spacegrid-test-{tag}",
        member_base_port=ports[0],
        kafka_port=ports[-2],
        controller_port=ports[-1],
        member_slots=member_slots,
        quick_jit=True,  # engines of a test session live minutes: C2 would not pay back
    )
    with _LOCK:
        _STACKS.append(stack)
    return stack


@dataclass
class ClusterHandle:
    stack: LocalStack

    @property
    def cluster_name(self) -> str:
        return self.stack.cluster.cluster_name

    @property
    def members(self) -> list[str]:
        return self.stack.cluster.addresses()

    @property
    def settings_env(self) -> dict[str, str]:
        return {
            "SPACEGRID_GRID": "hazelcast",
            "SPACEGRID_HAZELCAST_MEMBERS": self.stack.cluster.member_list,
            "SPACEGRID_HAZELCAST_CLUSTER": self.cluster_name,
            "SPACEGRID_CACHE_DIR": str(cache_dir()),
        }


@dataclass
class BrokerHandle:
    stack: LocalStack

    @property
    def bootstrap(self) -> str:
        return self.stack.broker.bootstrap

    @property
    def settings_env(self) -> dict[str, str]:
        return {"SPACEGRID_KAFKA_BOOTSTRAP": self.bootstrap}


@pytest.fixture(scope="session")
def local_engines() -> Iterator[LocalStack]:
    """3 Hazelcast members and a Kafka broker, started side by side, once per session."""
    stack = new_stack()
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        grid = pool.submit(stack.cluster.start, 3)
        broker = pool.submit(stack.broker.start)
        grid.result()
        broker.result()
    TIMINGS["3 Hazelcast members + Kafka broker ready (s)"] = time.monotonic() - started
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def hazelcast_cluster(local_engines: LocalStack) -> ClusterHandle:
    return ClusterHandle(local_engines)


@pytest.fixture(scope="session")
def kafka_broker(local_engines: LocalStack) -> BrokerHandle:
    return BrokerHandle(local_engines)


@pytest.fixture
def engine_factory() -> Iterator[Callable[[], LocalStack]]:
    """Dedicated engines for destructive tests (kill a member, stop the broker)."""
    made: list[LocalStack] = []

    def make(member_slots: int = 4) -> LocalStack:
        stack = new_stack(member_slots)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.down()


@pytest.fixture
def namespace() -> str:
    """A unique prefix: every map, queue and topic of one test gets its own name."""
    return f"t{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def names(namespace: str) -> Names:
    return Names(namespace=namespace)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if TIMINGS:
        terminalreporter.section("engine start-up")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{what}: {seconds:.1f}")
