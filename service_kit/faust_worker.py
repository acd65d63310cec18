"""Run one Faust worker process (``spacegrid pump`` / ``spacegrid writer``) the same way.

Both create their topics first (brokers run with auto-create off), log JSON lines like
the units (Faust's own colour handler and spinner off), and turn the worker's exit into
the command's exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any, Awaitable, Callable

from service_kit.exits import EXIT_UNAVAILABLE, unavailable_line

LOGLEVELS = ["debug", "info", "warning", "error"]


def add_loglevel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loglevel", default="info", choices=LOGLEVELS, help="log level")


def run_worker(
    name: str,
    loglevel: str,
    prepare: Callable[[], Awaitable[Any]],
    build: Callable[[], Any],
    **extra: Any,
) -> int:
    """Set up logging, ``await prepare()`` (topics), then run the Faust app ``build()`` returns."""
    import faust

    from service_kit.logs import configure_logging

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    configure_logging(loglevel.upper())
    log = logging.getLogger(f"spacegrid.{name}")
    log.info("%s starting", name, extra=extra)
    try:
        loop.run_until_complete(prepare())
    except Exception as e:  # noqa: BLE001 - an unreachable broker is one line (exit 3), else logged (1)
        line = unavailable_line(e)
        if line is not None:
            print(f"spacegrid {name}: {line}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        log.exception("cannot create or check the %s's topics", name)
        return 1
    worker = faust.Worker(
        build(), loop=loop, loglevel=loglevel, quiet=True, redirect_stdouts=False, override_logging=False
    )
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        return int(e.code or 0)
    return 0
