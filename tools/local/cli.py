"""``spacegrid local up|down|status``: real engines on loopback for people."""

from __future__ import annotations

import argparse
import time

from grid_config.settings import CommonSettings, load
from tools.local.jars import JarFetchError
from tools.local.processes import EngineError
from tools.local.stack import LocalStack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start Hazelcast members (and a Kafka broker) and wait until ready")
    up.add_argument("--members", type=int, default=1, help="number of Hazelcast members (default 1)")
    up.add_argument("--kafka", action="store_true", help="also start a Kafka broker (KRaft)")
    sub.add_parser("down", help="stop everything `up` started (by PID)")
    sub.add_parser("status", help="one line per running engine: kind, PID, host:port")


def stack_from(settings: CommonSettings) -> LocalStack:
    """The default profile, on the ports the settings point at."""
    first = settings.member_addresses[0]
    kafka = settings.kafka_bootstrap.split(",")[0]
    kafka_port = int(kafka.rsplit(":", 1)[1])
    return LocalStack.create(
        settings.cache_dir,
        cluster_name=settings.hazelcast_cluster,
        member_base_port=int(first.rsplit(":", 1)[1]),
        kafka_port=kafka_port,
        controller_port=kafka_port + 1,
    )


def run(args: argparse.Namespace) -> int:
    stack = stack_from(load(CommonSettings))
    try:
        if args.action == "up":
            if not 1 <= args.members <= len(stack.cluster.ports):
                print(f"--members must be between 1 and {len(stack.cluster.ports)}")
                return 2
            started = time.monotonic()
            stack.up(args.members, args.kafka)
            print(f"ready in {time.monotonic() - started:.1f}s")
        elif args.action == "down":
            stack.down()
        for line in stack.status_lines():
            print(line)
    except (EngineError, JarFetchError) as e:
        print(f"error: {e}")
        return 1
    return 0
