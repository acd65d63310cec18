"""``spacegrid grid status [--json]`` and ``spacegrid grid member add|remove``.

``status`` is the operator's view of any Hazelcast cluster the settings point at (what
``hz-cli`` and Management Center show): the cluster's name, state and version; each
member's address, UUID and version, the master, partitions owned and backed up; migration
progress; every map with its entries, backup entries and memory; queues; and the change
record's state per journaled map (un-shipped entries, fullest journal, oldest un-shipped
change, journals with a pump position, journal credits taken and the smallest budget
left: a budget that stays low with nothing un-shipped is a leak the pump will restore,
decision 0031); and the units, pumps and writers that announce
themselves in the grid (grid_config/processes.py). Members answer about themselves through the
member-side ``MemberStatus`` task (grid_config/member_status.py); a cluster without it
(an older member jar) still gets members, owners and map sizes from the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from grid_config.processes import list_processes, status_lines
from grid_config.settings import CommonSettings, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    status = sub.add_parser("status", help="cluster state and version, members (UUID, master, owned/backup "
                                           "partitions), migrations, maps (entries, backups, memory), journals")
    status.add_argument("--json", action="store_true", help="print the status as one JSON document")
    member = sub.add_parser("member", help="scale the local cluster by one member")
    member.add_argument("change", choices=["add", "remove"])
    member.add_argument("--kill", action="store_true", help="remove with SIGKILL instead of a graceful shutdown")


@dataclass
class MemberView:
    address: str
    uuid: str
    version: str
    master: bool = False
    owned_partitions: int = 0
    backup_partitions: int | None = None
    safe: bool | None = None


@dataclass
class MapView:
    entries: int
    backup_entries: int | None = None
    backup_count: int | None = None
    memory_bytes: int | None = None
    backup_memory_bytes: int | None = None


@dataclass
class GridStatus:
    cluster_name: str
    members: list[MemberView]
    cluster_state: str | None = None
    cluster_version: str | None = None
    cluster_safe: bool | None = None
    partition_count: int = 0
    #: queued, planned, completed, remaining (this repartitioning round)
    migrations: dict[str, int] = field(default_factory=dict)
    maps: dict[str, MapView] = field(default_factory=dict)
    queue_sizes: dict[str, int] = field(default_factory=dict)
    #: journaled map -> data_pump.shipping.JournalStatus
    journals: dict[str, Any] = field(default_factory=dict)
    #: units, pumps and writers announcing themselves (grid_config.processes)
    processes: list[dict[str, Any]] = field(default_factory=list)
    #: why the members' own view is missing (None: every member answered)
    detail_missing: str | None = None

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["journals"] = {name: asdict(j) for name, j in self.journals.items()}
        return doc

    def lines(self) -> list[str]:
        out = [f"cluster {self.cluster_name}: state {self.cluster_state or '?'}, "
               f"version {self.cluster_version or '?'}, {self.partition_count} partitions"]
        out.append(f"members: {len(self.members)}")
        for m in self.members:
            role = "master" if m.master else "      "
            backups = "?" if m.backup_partitions is None else m.backup_partitions
            out.append(f"  {m.address:<21} {m.uuid}  {m.version:<7} {role}  "
                       f"owned={m.owned_partitions} backups={backups} safe={m.safe if m.safe is not None else '?'}")
        out.append(f"cluster safe: {self.cluster_safe}  migrations queued: {self.migrations.get('queued')}")
        if self.migrations.get("planned"):
            out.append("migrations: {completed}/{planned} done, {remaining} remaining".format(**self.migrations))
        for name, v in sorted(self.maps.items()):
            if v.backup_entries is None:
                out.append(f"map {name}: {v.entries} entries")
            else:
                out.append(f"map {name}: {v.entries} entries, {v.backup_entries} backup entries "
                           f"(backups {v.backup_count}), memory {_size(v.memory_bytes)} "
                           f"+ {_size(v.backup_memory_bytes)} backup")
        out += [f"queue {name}: {size}" for name, size in sorted(self.queue_sizes.items())]
        for name, j in sorted(self.journals.items()):
            credits = "" if j.credits_taken is None else (
                f" credits-taken={j.credits_taken} fewest-credits-left={j.fewest_credits}/{j.credit_bound}")
            out.append(f"journal {name}: un-shipped={j.unshipped} fullest={j.fill:.0%} "
                       f"oldest-un-shipped={j.oldest_changed_at or '-'} pump-positions={j.positions}{credits}")
        out += status_lines(self.processes)
        if self.detail_missing:
            out.append(f"(members' own view unavailable: {self.detail_missing})")
        return out


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def fetch_status(settings: CommonSettings) -> GridStatus:
    """Ask the cluster itself (blocking; a CLI command)."""
    import hazelcast
    from hazelcast.proxy.map import Map
    from hazelcast.proxy.queue import Queue

    from grid_config.hazelcast_health import member_health
    from grid_config.member_status import every_member_status

    client = hazelcast.HazelcastClient(
        cluster_name=settings.hazelcast_cluster,
        cluster_members=settings.member_addresses,
        cluster_connect_timeout=10.0,
        smart_routing=True,
    )
    try:
        members = client.cluster_service.get_members()
        partitions = client.partition_service
        _await_partition_table(client)
        owners = Counter(partitions.get_partition_owner(p) for p in range(partitions.get_partition_count()))
        views = {
            str(m.uuid): MemberView(f"{m.address.host}:{m.address.port}", str(m.uuid),
                                    f"{m.version.major}.{m.version.minor}.{m.version.patch}",
                                    owned_partitions=owners.get(m.uuid, 0))
            for m in members
        }
        if members:  # the oldest member is the master; the client lists members oldest first
            views[str(members[0].uuid)].master = True
        status = GridStatus(settings.hazelcast_cluster, [], partition_count=partitions.get_partition_count())
        try:
            answers = every_member_status(client)
        except Exception as e:  # noqa: BLE001 - an older member jar: the client's view only
            answers, status.detail_missing = [], f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        maps: dict[str, MapView] = {}
        for a in answers:
            view = views.get(a["uuid"]) or MemberView(a["address"], a["uuid"], a["version"])
            views[a["uuid"]] = view
            view.master, view.safe, view.version = a["master"], a["member_safe"], a["version"]
            view.owned_partitions, view.backup_partitions = a["owned_partitions"], a["backup_partitions"]
            status.cluster_state, status.cluster_version = a["cluster_state"], a["cluster_version"]
            status.cluster_safe = a["cluster_safe"] if status.cluster_safe is None else status.cluster_safe and a["cluster_safe"]
            for key in ("queued", "planned", "completed", "remaining"):
                source = "migration_queue" if key == "queued" else f"migrations_{key}"
                status.migrations[key] = max(status.migrations.get(key, 0), int(a[source]))
            for name, s in a["maps"].items():
                v = maps.setdefault(name, MapView(0, 0, s["backup_count"], 0, 0))
                v.entries += s["owned_entries"]
                v.backup_entries = (v.backup_entries or 0) + s["backup_entries"]
                v.memory_bytes = (v.memory_bytes or 0) + s["owned_memory_bytes"]
                v.backup_memory_bytes = (v.backup_memory_bytes or 0) + s["backup_memory_bytes"]
        for proxy in client.get_distributed_objects():
            if isinstance(proxy, Map) and proxy.name not in maps:
                maps[proxy.name] = MapView(proxy.blocking().size())
            elif isinstance(proxy, Queue):
                status.queue_sizes[proxy.name] = proxy.blocking().size()
        status.maps = maps
        status.members = sorted(views.values(), key=lambda m: m.address)
    finally:
        client.shutdown()
    if not answers:
        for m in status.members:
            doc = member_health(m.address)
            if doc:
                status.cluster_safe = bool(doc.get("clusterSafe"))
                status.cluster_state = doc.get("clusterState")
                status.migrations["queued"] = int(doc.get("migrationQueueSize", 0))
                break
    status.journals, status.processes = asyncio.run(_journals_and_processes(settings))
    return status


async def _journals_and_processes(settings: CommonSettings) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per journaled map: un-shipped entries, fullest journal, oldest un-shipped change; and
    the processes announcing themselves."""
    from data_pump.shipping import every_journal, journal_status
    from spacegrid.bootstrap import open_grid

    grid = open_grid(settings.model_copy(update={"grid": "hazelcast"}))  # status asks a cluster
    await grid.start()
    try:
        log = grid.change_log
        return (await journal_status(log, every_journal(log), oldest=True, credits=True),
                await list_processes(grid))
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
        status = fetch_status(settings)
        if args.json:
            print(json.dumps(status.to_dict(), indent=2, default=str))
        else:
            print("\n".join(status.lines()))
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
