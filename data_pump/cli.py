"""``spacegrid pump``: run one data-pump worker (Faust) against Hazelcast and Kafka."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loglevel", default="info", choices=["debug", "info", "warning", "error"], help="log level"
    )


def run(args: argparse.Namespace) -> int:
    from grid_config.settings import load
    from data_pump.settings import PumpSettings

    settings = load(PumpSettings)
    if settings.grid == "embedded":
        print(
            "spacegrid pump ships from a Hazelcast cluster (set SPACEGRID_GRID=hazelcast); "
            "the embedded mode's pump runs inside `spacegrid up`.",
            file=sys.stderr,
        )
        return 2

    import faust

    from data_pump.app import build
    from data_pump.topics import ensure_topics, pump_topics

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    logging.basicConfig(level=args.loglevel.upper())
    loop.run_until_complete(ensure_topics(settings.bootstrap_servers, pump_topics(settings)))
    app = build(settings)
    worker = faust.Worker(app, loop=loop, loglevel=args.loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        return int(e.code or 0)
    return 0
