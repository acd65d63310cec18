"""The one entry point, ``spacegrid``: a thin dispatcher over per-command modules.

``spacegrid --help`` shows :data:`DESCRIPTION`, not this docstring.

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

from service_kit.exits import EXIT_HELP, EXIT_UNAVAILABLE, EXIT_USAGE, unavailable_line
from spacegrid.checkout import import_tool

DESCRIPTION = (
    "spacegrid: an online shop on a space-based architecture. `spacegrid demo` starts it in one "
    "process with a sample catalog; `spacegrid up` without one; the other commands run and "
    "inspect the distributed mode (Hazelcast, Kafka, a database)."
)

#: command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("spacegrid.commands.up", "embedded mode: unit + in-process grid + pump + writer + SQLite"),
    "demo": ("spacegrid.commands.demo", "`up` with an admin, a shopper and a sample catalog; prints a first order"),
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
    parser = argparse.ArgumentParser(prog="spacegrid", description=DESCRIPTION, epilog=EXIT_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=EXIT_HELP)
        if name == selected:
            _load(name).add_arguments(p)
            describe_leaves(p)
    return parser


def describe_leaves(parser: argparse.ArgumentParser) -> None:
    """Give every sub-command without a description its one-line help as one (``--help`` shows it)."""
    for action in parser._actions:  # argparse keeps sub-commands here; no public accessor
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                if child.description is None:
                    child.description = helps.get(name)
                describe_leaves(child)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spacegrid")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without install
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    from grid_config.settings import SettingsError

    argv = list(sys.argv[1:] if argv is None else argv)
    selected = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(selected).parse_args(argv)
    if not args.command:
        build_parser(None).print_help()
        return EXIT_USAGE
    try:
        return int(_load(args.command).run(args) or 0)
    except SettingsError as e:
        print(f"spacegrid {args.command}: {e.code}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - unreachable dependencies are one line, not a traceback
        line = unavailable_line(e)
        if line is None:
            raise
        print(f"spacegrid {args.command}: {line}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
