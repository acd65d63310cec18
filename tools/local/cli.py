"""``spacegrid local up|down|status|logs``: real engines on loopback for people.

Every action says what it did, or that there was nothing to do; ``logs`` prints the tail
of a member's or the broker's log file from the cache dir (or lists them).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from pathlib import Path

from grid_config.settings import CommonSettings, load
from tools.local.jars import JarFetchError
from tools.local.processes import EngineError
from tools.local.stack import LocalStack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start Hazelcast members (and a Kafka broker) and wait until ready")
    up.add_argument("--members", type=int, default=1, help="number of Hazelcast members (default 1)")
    up.add_argument("--kafka", action="store_true", help="also start a Kafka broker (KRaft)")
    sub.add_parser("down", help="stop everything `up` started (by PID) and say what was stopped")
    sub.add_parser("status", help="one line per running engine: kind, PID, host:port (or: nothing runs)")
    logs = sub.add_parser("logs", help="tail of a member's or the broker's log (no target: list the log files)")
    logs.add_argument("target", nargs="*", metavar="member N | kafka",
                      help="`member 2` for member-2's log, `kafka` for the broker's")
    logs.add_argument("-n", "--lines", type=int, default=100, help="how many last lines (default 100)")


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
                print(f"--members must be between 1 and {len(stack.cluster.ports)}", file=sys.stderr)
                return 2
            started = time.monotonic()
            stack.up(args.members, args.kafka)
            print(f"ready in {time.monotonic() - started:.1f}s")
        elif args.action == "down":
            running = stack.status_lines()
            stack.down()
            if not running:
                print("nothing was running: nothing stopped")
                return 0
            print(f"stopped {len(running)} engine(s):")
            for line in running:
                print(f"  {line}")
            return 0
        elif args.action == "logs":
            return _logs(stack, args.target, args.lines)
        lines = stack.status_lines()
        for line in lines:
            print(line)
        if not lines:
            print(f"nothing runs (profile {stack.profile.name!r} in {stack.profile.root}); "
                  "start with `spacegrid local up --members 3 --kafka`")
    except (EngineError, JarFetchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def log_files(stack: LocalStack) -> dict[str, Path]:
    """Every engine log of this profile that exists: ``member N`` / ``kafka`` -> its file."""
    found = {f"member {p.stem.split('-', 1)[1]}": p for p in sorted(stack.profile.root.glob("member-*.log"))}
    broker_log = stack.broker.root / "broker.log"
    if broker_log.exists():
        found["kafka"] = broker_log
    return found


def _logs(stack: LocalStack, target: list[str], count: int) -> int:
    files = log_files(stack)
    if not target:
        if not files:
            print(f"no engine logs in {stack.profile.root} yet: `spacegrid local up` writes them")
        for name, path in files.items():
            print(f"{name:<10} {path}")
        return 0
    name = " ".join(target)
    if name not in files:
        known = ", ".join(files) or "none yet"
        print(f"no log for {name!r} (usage: spacegrid local logs [member N | kafka]; present: {known})",
              file=sys.stderr)
        return 2
    with open(files[name], errors="replace") as f:
        sys.stdout.writelines(deque(f, maxlen=max(1, count)))
    return 0
