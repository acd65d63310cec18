"""Run one Faust worker process (``spacegrid pump`` / ``spacegrid writer``) the same way.

Both create their topics first (brokers run with auto-create off), log JSON lines like
the units (Faust's own colour handler and spinner off), and turn the worker's exit into
the command's exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any, Awaitable, Callable

LOGLEVELS = ["debug", "info", "warning", "error"]


def app_options(settings: Any, role: str, app_id: str, session_timeout_s: float) -> dict[str, Any]:
    """What every spacegrid Faust app sets alike (``settings``: a CommonSettings).

    Loopback web server on the settings' port (Faust defaults to 0.0.0.0:6066), a short
    session so a dead worker's partitions move within seconds, acks from all replicas, and
    no topic declaration: topics are created explicitly (grid_config.topics).
    """
    (settings.cache_dir / role).mkdir(parents=True, exist_ok=True)
    return dict(
        broker=[f"kafka://{b}" for b in settings.bootstrap_servers],
        datadir=str(settings.cache_dir / role / app_id),
        web_enabled=True,
        web_bind=settings.http_host,
        web_host=settings.http_host,
        web_port=settings.http_port,
        broker_session_timeout=session_timeout_s,
        broker_heartbeat_interval=max(0.5, session_timeout_s / 6),
        producer_acks=-1,
        topic_allow_declare=False,
        topic_disable_leader=True,
    )


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

    from processing_unit.logs import configure_logging

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    configure_logging(loglevel.upper())
    log = logging.getLogger(f"spacegrid.{name}")
    log.info("%s starting", name, extra=extra)
    try:
        loop.run_until_complete(prepare())
    except Exception:  # noqa: BLE001 - reported as one JSON log line, exit status 1
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
