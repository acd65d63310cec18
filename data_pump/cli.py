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
    from processing_unit.logs import configure_logging

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # structured JSON lines on stderr, the same format as the units (Faust's own colour
    # handler and progress spinner stay off: override_logging=False, spinner=None)
    configure_logging(args.loglevel.upper())
    logging.getLogger("spacegrid.pump").info("pump starting", extra={"pump_namespace": settings.namespace})
    try:
        loop.run_until_complete(ensure_topics(settings.bootstrap_servers, pump_topics(settings)))
    except Exception:  # noqa: BLE001 - reported as one JSON log line, exit status 1
        logging.getLogger("spacegrid.pump").exception("cannot create or check the pump's topics")
        return 1
    app = build(settings)
    worker = faust.Worker(
        app, loop=loop, loglevel=args.loglevel, quiet=True, redirect_stdouts=False, override_logging=False
    )
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        return int(e.code or 0)
    return 0
