"""``spacegrid writer``: run one data-writer worker (Faust): Kafka -> database in batches."""

from __future__ import annotations

import argparse

from service_kit.faust_worker import add_loglevel, run_worker
from spacegrid.commands.common import add_http_arguments, http_overrides
from spacegrid.bootstrap import open_grid, open_sink


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_http_arguments(parser, 8082)  # /health/live, /health/ready, /metrics
    add_loglevel(parser)


def run(args: argparse.Namespace) -> int:
    from data_writer.app import build
    from data_writer.settings import WriterSettings
    from data_writer.topics import ensure_topics
    from grid_config.settings import load

    settings = load(WriterSettings, **http_overrides(args))
    return run_worker(
        "writer",
        args.loglevel,
        lambda: ensure_topics(settings),
        # announced in the grid's process registry when there is a cluster to announce in
        lambda: build(settings, open_sink(settings, settings.deferral),
                      registry=open_grid(settings) if settings.grid == "hazelcast" else None),
        writer_namespace=settings.namespace,
    )
