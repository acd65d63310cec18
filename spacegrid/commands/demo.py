"""``spacegrid demo``: ``spacegrid up`` with an admin, a shopper and a sample catalog.

Seeds through the shop's own API once it serves (a catalog only into an empty one) and
prints a first ``curl`` that places an order; see :mod:`spacegrid.demo`.
"""

from __future__ import annotations

import argparse

from spacegrid.commands.common import add_http_arguments, http_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_http_arguments(parser, 8080)


def run(args: argparse.Namespace) -> int:
    from spacegrid.embedded import serve

    return serve(demo=True, **http_overrides(args))
