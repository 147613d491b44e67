"""Entry point of the ``irreps`` command.

Every module in :mod:`irreps.cli` (other than this one and private ``_*`` modules) is a
subcommand: it defines ``register(subparsers)`` which adds its parser and sets ``func``.
Discovery keeps this file free of a hand-kept list that every new command would edit.
Subcommand modules import heavy dependencies inside their ``run`` functions so that
``irreps --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

import irreps
import irreps.cli as cli_pkg


def build_parser() -> argparse.ArgumentParser:
    """Parser with every discovered subcommand attached."""
    parser = argparse.ArgumentParser(
        prog="irreps",
        description=(
            "Symmetry-equivariant deep learning for 3D atomistic systems: train interatomic "
            "potentials on extended-XYZ data and run simulations with them."
        ),
        epilog="Run `irreps COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"irreps {irreps.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name == "main" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"irreps.cli.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``irreps`` command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as err:
        # Bad input is reported in one line naming the problem, not as a traceback.
        print(f"irreps {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C where a command has no clean stop of its own
        print(f"irreps {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
