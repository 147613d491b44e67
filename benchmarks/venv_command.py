"""The ``build`` / ``list`` command line of a family of pinned virtualenvs (peers, engines).

``python -m benchmarks.peers`` and ``python -m benchmarks.engines`` are this command over their
own requirement files and cache directory; :mod:`benchmarks.venv_build` does the building.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .venv_build import build, status


@dataclass(frozen=True)
class VenvFamily:
    """Virtualenvs named like their requirement files in ``here``, made under ``root()``."""

    noun: str                               # "peer", "engine": for messages
    files: dict[str, str]                   # name -> requirement file in ``here``
    here: Path
    root: Callable[[], Path]
    describe: Callable[[str], str]          # one ``list`` line per name
    add_options: Callable[[argparse.ArgumentParser], None] = lambda parser: None  # more ``build`` options
    first: Callable[[argparse.Namespace], list[list[str]]] = lambda args: []     # pip calls before the file


def main(family: VenvFamily, prog: str, doc: str) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("build", help=f"create the {family.noun}s' virtualenvs (keeping up-to-date ones)")
    make.add_argument("names", nargs="*", metavar="NAME", help=f"some of {', '.join(family.files)} (default: all)")
    make.add_argument("--force", action="store_true", help="rebuild even if the pins are installed")
    make.add_argument("--dry-run", action="store_true", help="print what each build would do and stop")
    family.add_options(make)
    sub.add_parser("list", help="show what is built")
    args = parser.parse_args()
    if args.command == "list":
        print(f"{family.noun}s in {family.root()}")
        for name in family.files:
            print(family.describe(name))
        return 0
    unknown = [name for name in args.names if name not in family.files]
    if unknown:
        parser.error(f"unknown {family.noun}(s) {', '.join(unknown)}; known: {', '.join(family.files)}")
    names = args.names or list(family.files)
    if args.dry_run:
        for name in names:
            action, why = status(family.root() / name, (family.here / family.files[name]).read_text(), args.force)
            print(f"[{'keep' if action == 'ok' else 'build'}] {name}: {family.root() / name} ({why})")
        return 0
    failed = [name for name in names
              if not build(name, family.root() / name, family.here / family.files[name], family.first(args), args.force)]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
