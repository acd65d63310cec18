"""``spacegrid up``: the embedded mode, one process (docs/architecture.md, "Two modes").

Wiring only: the in-process grid, the same unit application as ``spacegrid unit``, the
same shipping function as the pump (into an in-process channel instead of Kafka) and
the same batching/upsert code as the writer (into SQLite). See :mod:`spacegrid.embedded`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="override SPACEGRID_HTTP_HOST")
    parser.add_argument("--port", type=int, help="override SPACEGRID_HTTP_PORT")


def run(args: argparse.Namespace) -> int:
    from spacegrid.embedded import serve

    overrides = {k: v for k, v in (("http_host", args.host), ("http_port", args.port)) if v is not None}
    return serve(**overrides)
