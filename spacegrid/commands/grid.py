"""``spacegrid grid status`` and ``spacegrid grid member add|remove``.

``status`` works against any Hazelcast cluster the settings point at: members and the
partitions each owns come from the client; safety and migrations come from each
member's REST health endpoint (the Python client has no cluster-safe query); the change
record's state per journaled map (un-shipped entries, fullest journal, oldest
un-shipped change, journals with a pump position) from the journals themselves.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from grid_config.settings import CommonSettings, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("status", help="members, partitions, map sizes, cluster safe, migrations, journals")
    member = sub.add_parser("member", help="scale the local cluster by one member")
    member.add_argument("change", choices=["add", "remove"])
    member.add_argument("--kill", action="store_true", help="remove with SIGKILL instead of a graceful shutdown")


@dataclass
class GridStatus:
    members: list[str]
    partitions: dict[str, int]
    map_sizes: dict[str, int] = field(default_factory=dict)
    queue_sizes: dict[str, int] = field(default_factory=dict)
    cluster_safe: bool | None = None
    migration_queue: int | None = None
    #: journaled map -> data_pump.shipping.JournalStatus
    journals: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"members: {len(self.members)}"]
        out += [f"  {m}  partitions={self.partitions.get(m, 0)}" for m in self.members]
        out.append(f"cluster safe: {self.cluster_safe}  migrations queued: {self.migration_queue}")
        out += [f"map {name}: {size}" for name, size in sorted(self.map_sizes.items())]
        out += [f"queue {name}: {size}" for name, size in sorted(self.queue_sizes.items())]
        for name, j in sorted(self.journals.items()):
            out.append(f"journal {name}: un-shipped={j.unshipped} fullest={j.fill:.0%} "
                       f"oldest-un-shipped={j.oldest_changed_at or '-'} pump-positions={j.positions}")
        return out


def fetch_status(settings: CommonSettings) -> GridStatus:
    """Ask the cluster itself (blocking; a CLI command)."""
    import hazelcast
    from hazelcast.proxy.map import Map
    from hazelcast.proxy.queue import Queue

    from grid_config.hazelcast_health import member_health

    client = hazelcast.HazelcastClient(
        cluster_name=settings.hazelcast_cluster,
        cluster_members=settings.member_addresses,
        cluster_connect_timeout=10.0,
        smart_routing=True,
    )
    try:
        members = client.cluster_service.get_members()
        by_uuid = {m.uuid: f"{m.address.host}:{m.address.port}" for m in members}
        partitions = client.partition_service
        _await_partition_table(client)
        owners = Counter(
            by_uuid.get(partitions.get_partition_owner(p), "?") for p in range(partitions.get_partition_count())
        )
        status = GridStatus(members=sorted(by_uuid.values()), partitions=dict(owners))
        for proxy in client.get_distributed_objects():
            if isinstance(proxy, Map):
                status.map_sizes[proxy.name] = proxy.blocking().size()
            elif isinstance(proxy, Queue):
                status.queue_sizes[proxy.name] = proxy.blocking().size()
    finally:
        client.shutdown()
    for address in status.members:
        doc = member_health(address)
        if doc:
            status.cluster_safe = bool(doc.get("clusterSafe"))
            status.migration_queue = int(doc.get("migrationQueueSize", 0))
            break
    status.journals = asyncio.run(_journals(settings))
    return status


async def _journals(settings: CommonSettings) -> dict[str, Any]:
    """Per journaled map: un-shipped entries, fullest journal, oldest un-shipped change."""
    from data_pump.shipping import every_journal, journal_status
    from spacegrid.bootstrap import open_grid

    grid = open_grid(settings.model_copy(update={"grid": "hazelcast"}))  # status asks a cluster
    await grid.start()
    try:
        log = grid.change_log
        return await journal_status(log, every_journal(log), oldest=True)
    finally:
        await grid.close()


def _await_partition_table(client, timeout: float = 10.0) -> None:  # noqa: ANN001 - hazelcast client
    """Members assign partitions on first use and push the table to clients asynchronously."""
    import time

    probe = client.get_map("spacegrid-status-probe").blocking()
    probe.get("probe")  # a partition operation: makes the members assign partitions
    probe.destroy()
    service = client.partition_service
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(service.get_partition_owner(p) for p in range(service.get_partition_count())):
            return
        time.sleep(0.1)


def run(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    if args.action == "status":
        for line in fetch_status(settings).lines():
            print(line)
        return 0
    from spacegrid.checkout import import_tool

    stack_from = import_tool("tools.local.cli", "spacegrid grid member").stack_from

    cluster = stack_from(settings).cluster
    current = len(cluster.members())
    if args.change == "add":
        cluster.start(current + 1)
        print(f"added: {current + 1} members")
    else:
        victim = cluster.remove(graceful=not args.kill)
        cluster.wait_until(current - 1)
        print(f"removed {victim.address}: {current - 1} members")
    return 0
