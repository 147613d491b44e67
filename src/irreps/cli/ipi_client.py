"""``irreps ipi-client``: serve i-PI's force requests with a trained model over a socket."""

from __future__ import annotations

import argparse
import sys

from irreps.cli._sim import add_calculator_arguments, make_calculator, read_structure


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ipi-client",
        help="force client for i-PI (classical and path-integral MD driven by i-PI)",
        description=(
            "Connect to a running i-PI (an <ffsocket> of its input) and answer its force requests with "
            "MODEL until i-PI ends the run: energy, forces and, for a cell periodic in all three directions, "
            "the virial. TEMPLATE is i-PI's initial structure file (it fixes the elements in i-PI's order "
            "and the periodicity). One client serves every bead in turn; start several on the same address "
            "to evaluate beads in parallel. Example: `i-pi input.xml & irreps ipi-client model.pt init.extxyz "
            "--unix irreps` with <ffsocket mode='unix'><address>irreps</address></ffsocket> in input.xml "
            "(see examples/ipi/)."
        ),
    )
    add_calculator_arguments(parser, ("TEMPLATE",))
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--unix", metavar="NAME", help="UNIX socket <address> of an <ffsocket mode='unix'> (file /tmp/ipi_NAME)")
    where.add_argument("--port", type=int, help="TCP port of an <ffsocket mode='inet'>")
    parser.add_argument("--host", default="localhost", help="host of i-PI with --port (default localhost)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for i-PI to open its socket (default 60)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from irreps.export.ipi import connect, serve

    template = read_structure(args.template, args.index, allow_close_atoms=True)
    calculator = make_calculator(args)
    try:
        client = connect(unix=args.unix, host=args.host, port=args.port, wait_s=args.wait)
    except ConnectionError as err:
        print(f"irreps ipi-client: error: {err}", file=sys.stderr)
        return 2
    count = serve(calculator, template, client)
    print(f"i-PI ended the run after {count} force evaluations")
    return 0
