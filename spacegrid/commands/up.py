"""``spacegrid up``: the embedded mode, one process (docs/architecture.md, "Two modes").

Wiring only: the in-process grid, the same unit application as ``spacegrid unit``, the
same shipping function as the pump (into an in-process channel instead of Kafka) and
the same batching/upsert code as the writer (into SQLite). See :mod:`spacegrid.embedded`.
"""

from __future__ import annotations

import argparse

from spacegrid.commands.common import add_http_arguments, http_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_http_arguments(parser, 8080)


def run(args: argparse.Namespace) -> int:
    from spacegrid.embedded import serve

    return serve(**http_overrides(args))
