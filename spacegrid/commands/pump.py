"""``spacegrid pump``: run one data-pump worker (Faust) against Hazelcast and Kafka."""

from __future__ import annotations

import argparse
import sys

from service_kit.faust_worker import add_loglevel, run_worker
from spacegrid.commands.common import add_http_arguments, http_overrides
from spacegrid.bootstrap import open_grid


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_http_arguments(parser, 8081)  # /health/live, /health/ready, /metrics
    add_loglevel(parser)


def run(args: argparse.Namespace) -> int:
    from data_pump.settings import PumpSettings
    from grid_config.settings import load

    settings = load(PumpSettings, **http_overrides(args))
    if settings.grid == "embedded":
        print(
            "spacegrid pump ships from a Hazelcast cluster (set SPACEGRID_GRID=hazelcast); "
            "the embedded mode's pump runs inside `spacegrid up`.",
            file=sys.stderr,
        )
        return 2

    from data_pump.app import build
    from data_pump.topics import ensure_topics, pump_topics

    return run_worker(
        "pump",
        args.loglevel,
        lambda: ensure_topics(settings.bootstrap_servers, pump_topics(settings)),
        lambda: build(settings, open_grid(settings)),
        pump_namespace=settings.namespace,
    )
