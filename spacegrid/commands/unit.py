"""``spacegrid unit``: one processing unit against a Hazelcast cluster."""

from __future__ import annotations

import argparse
import sys


from spacegrid.commands.common import add_http_arguments, http_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_http_arguments(parser, 8080)


def run(args: argparse.Namespace) -> int:
    from spacegrid.bootstrap import build_unit_app
    from service_kit.logs import configure_logging
    from processing_unit.server import serve
    from processing_unit.settings import load_unit_settings

    overrides = http_overrides(args)
    settings = load_unit_settings(require_secret=False, **overrides)
    if settings.grid == "embedded":
        print(
            "spacegrid unit: SPACEGRID_GRID=embedded cannot be shared between processes; "
            "run `spacegrid up` for the embedded mode, or set SPACEGRID_GRID=hazelcast "
            "(and SPACEGRID_HAZELCAST_MEMBERS) to run a unit against a cluster.",
            file=sys.stderr,
        )
        return 2
    settings = load_unit_settings(require_secret=True, **overrides)
    configure_logging()
    return serve(
        build_unit_app(settings),
        settings.http_host,
        settings.http_port,
        settings.drain_grace_s,
        settings.shutdown_timeout_s,
    )
