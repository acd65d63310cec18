"""The one entry point, ``spacegrid``: a thin dispatcher over per-command modules.

Each command is a module exposing ``add_arguments(parser)`` and ``run(args) -> int``:
runtime commands under :mod:`spacegrid.commands`, developer tools under ``tools/`` (found
in the checkout, see :mod:`spacegrid.checkout`). Modules are imported only when their
command runs, so ``spacegrid --help`` stays fast and nothing heavy loads needlessly.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from spacegrid.checkout import import_tool

#: command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("spacegrid.commands.up", "embedded mode: unit + in-process grid + pump + writer + SQLite"),
    "unit": ("spacegrid.commands.unit", "one processing unit against Hazelcast"),
    "pump": ("spacegrid.commands.pump", "the data pump: grid change records -> Kafka (Faust)"),
    "writer": ("spacegrid.commands.writer", "the data writer: Kafka -> database in batches (Faust)"),
    "reader": ("spacegrid.commands.reader", "cold-start load of the grid from the database"),
    "verify": ("spacegrid.commands.verify", "grid vs database drift check (exit 0 = converged)"),
    "local": ("tools.local.cli", "local Hazelcast members and Kafka broker on loopback (from a checkout)"),
    "grid": ("spacegrid.commands.grid", "grid status and member add/remove"),
    "bench": ("tools.bench.cli", "benchmarks, JSON under bench-results/ (from a checkout)"),
}


def _load(name: str) -> ModuleType:
    module = COMMANDS[name][0]
    if module.startswith("tools."):
        return import_tool(module, f"spacegrid {name}")
    return importlib.import_module(module)


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spacegrid", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            _load(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(selected).parse_args(argv)
    if not args.command:
        build_parser(None).print_help()
        return 2
    return int(_load(args.command).run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
