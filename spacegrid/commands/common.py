"""Arguments every command that serves or reaches HTTP takes alike."""

from __future__ import annotations

import argparse
from typing import Any


def add_http_arguments(parser: argparse.ArgumentParser, default_port: int) -> None:
    """``--host``/``--port``: where this process serves HTTP (over SPACEGRID_HTTP_HOST/PORT)."""
    parser.add_argument("--host", help="address to listen on (default SPACEGRID_HTTP_HOST, else 127.0.0.1)")
    parser.add_argument("--port", type=int,
                        help=f"port to listen on (default SPACEGRID_HTTP_PORT, else {default_port})")


def http_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in (("http_host", args.host), ("http_port", args.port)) if v is not None}
