"""``irreps neb``: climbing-image nudged elastic band between two end points."""

from __future__ import annotations

import argparse
from pathlib import Path

from irreps.cli._sim import (
    add_guard_arguments,
    add_model_arguments,
    make_calculator,
    make_guards,
    read_structure,
    refuse_existing,
    report_trip,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "neb",
        help="minimum-energy path and barrier by climbing-image NEB",
        description=(
            "Nudged elastic band from START to END (same atoms in the same order; relax both first) "
            "with MODEL: IDPP interpolation and a climbing image. Writes OUT/band.extxyz (end points "
            "included), OUT/highest.extxyz (the climbing image: a guess for `irreps ts`), "
            "OUT/neb.json (energies and barriers) and OUT/profile.png. Exits with status 1 when "
            "--steps runs out before convergence. Guards check every image at every step (non-finite "
            "energies or forces, atoms closer than a floor, forces): a band that trips one stops, "
            "writes the last good band to OUT/band.last_good.extxyz, says what tripped and exits with status 3."
        ),
    )
    add_model_arguments(parser, structures=("START", "END"))
    parser.add_argument("--images", type=int, default=7, help="movable images between the end points (default 7)")
    parser.add_argument("--no-climb", action="store_true", help="plain NEB without a climbing image")
    parser.add_argument("--interpolation", choices=("idpp", "linear"), default="idpp", help="initial path (default idpp)")
    parser.add_argument("--optimizer", choices=("fire", "bfgs"), default="fire")
    parser.add_argument("--fmax", type=float, default=0.05, help="force threshold in eV/Å (default 0.05)")
    parser.add_argument("--steps", type=int, default=500, help="maximum optimiser steps (default 500)")
    parser.add_argument("--spring", type=float, default=0.1, help="spring constant in eV/Å^2 (default 0.1)")
    parser.add_argument("-o", "--out", default="neb", help="output folder (default ./neb)")
    add_guard_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from irreps.sim.guards import GuardTripped, last_good_path
    from irreps.sim.io import write_frames, write_json
    from irreps.sim.neb import NEBConfig, run_neb
    from irreps.sim.plots import plot_neb

    out = Path(args.out)
    files = [out / "band.extxyz", out / "highest.extxyz", out / "neb.json", out / "profile.png"]
    refuse_existing(files, args.overwrite)
    config = NEBConfig(
        images=args.images, climb=not args.no_climb, interpolation=args.interpolation, optimizer=args.optimizer,
        fmax=args.fmax, steps=args.steps, spring=args.spring,
    )
    start, end = (read_structure(path, args.index, args.allow_close_atoms) for path in (args.start, args.end))
    model = make_calculator(args).model
    try:
        result = run_neb(start, end, lambda: make_calculator(args, model=model), config, progress=not args.quiet,
                         guards=make_guards(args, model), last_good=last_good_path(files[0]))
    except GuardTripped as trip:
        return report_trip("neb", trip)
    record = {
        "converged": result.converged,
        "steps": result.steps,
        "energies_eV": [float(e) for e in result.energies],
        "path_A": [float(x) for x in result.path],
        "highest_image": result.highest,
        "barrier_forward_eV": result.barrier_forward,
        "barrier_reverse_eV": result.barrier_reverse,
    }
    write_frames(files[0], result.images)
    write_frames(files[1], [result.images[result.highest]])
    write_json(files[2], record)
    plot_neb(result.path, result.energies, files[3], highest=result.highest)
    status = "converged" if result.converged else "NOT converged"
    print(f"neb: {status} after {result.steps} steps; highest image {result.highest} of {len(result.images) - 1}")
    for n, (x, e) in enumerate(zip(result.path, result.energies - result.energies[0])):
        print(f"  image {n:>2}  s = {x:7.3f} Å  E - E_start = {e:9.4f} eV" + ("  <- highest" if n == result.highest else ""))
    print(f"barrier forward {result.barrier_forward:.4f} eV, reverse {result.barrier_reverse:.4f} eV")
    print(f"wrote {', '.join(map(str, files))}")
    return 0 if result.converged else 1
