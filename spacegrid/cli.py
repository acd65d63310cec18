"""The one entry point, ``spacegrid``: a thin dispatcher over per-command modules.

Each command lives in the package that owns it and exposes ``add_arguments(parser)``
and ``run(args) -> int``. Modules are imported only when their command runs, so
``spacegrid --help`` stays fast and nothing heavy (Faust, drivers) loads needlessly.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

#: command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("spacegrid.commands.up", "embedded mode: unit + in-process grid + pump + writer + SQLite"),
    "unit": ("processing_unit.cli", "one processing unit against Hazelcast"),
    "pump": ("data_pump.cli", "the data pump: grid change records -> Kafka (Faust)"),
    "writer": ("data_writer.cli", "the data writer: Kafka -> database in batches (Faust)"),
    "reader": ("data_reader.cli", "cold-start load of the grid from the database"),
    "verify": ("data_writer.verify_cli", "grid vs database drift check (exit 0 = converged)"),
    "local": ("spacegrid.local.cli", "local Hazelcast members and Kafka broker on loopback"),
    "grid": ("spacegrid.commands.grid", "grid status and member add/remove"),
    "bench": ("spacegrid.bench.cli", "benchmarks (JSON under bench-results/)"),
}


def _load(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name][0])


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
