"""``spacegrid writer``: run one data-writer worker (Faust): Kafka -> database in batches."""

from __future__ import annotations

import argparse
import asyncio
import logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loglevel", default="info", choices=["debug", "info", "warning", "error"], help="log level"
    )


def run(args: argparse.Namespace) -> int:
    import faust

    from data_writer.app import build
    from data_writer.settings import WriterSettings
    from data_writer.topics import ensure_topics
    from grid_config.settings import load

    settings = load(WriterSettings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    logging.basicConfig(level=args.loglevel.upper())
    loop.run_until_complete(ensure_topics(settings))
    app = build(settings)
    worker = faust.Worker(app, loop=loop, loglevel=args.loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        return int(e.code or 0)
    return 0
