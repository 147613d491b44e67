"""``irreps relax``: geometry (and cell) optimisation with a trained model."""

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
        "relax",
        help="relax a structure (BFGS or FIRE; optional fixed atoms and cell relaxation)",
        description=(
            "Relax STRUCTURE with MODEL until the largest force is below --fmax. Writes the relaxed "
            "structure (-o, extxyz with energy and forces) and optionally every step (--trajectory). "
            "Exits with status 1 when --steps runs out before convergence. Guards check every step "
            "(non-finite energies or forces, atoms closer than a floor, forces): a relaxation that "
            "trips one stops, writes the last good step beside -o (relaxed.last_good.extxyz for the "
            "default), says what tripped at which step and exits with status 3."
        ),
    )
    add_model_arguments(parser)
    parser.add_argument("--optimizer", choices=("bfgs", "fire"), default="bfgs")
    parser.add_argument("--fmax", type=float, default=0.05, help="force threshold in eV/Å (default 0.05)")
    parser.add_argument("--steps", type=int, default=500, help="maximum optimiser steps (default 500)")
    parser.add_argument("--fix", default="", help="atoms to hold fixed: comma-separated indices and ranges, e.g. 0,1,5-9")
    parser.add_argument("--cell", action="store_true", help="also relax the cell (periodic structures)")
    parser.add_argument("-o", "--out", default="relaxed.extxyz", help="relaxed structure (default relaxed.extxyz)")
    parser.add_argument("--trajectory", default=None, help="also write every step here (.extxyz or .traj)")
    add_guard_arguments(parser)
    parser.set_defaults(func=run)


def parse_indices(text: str) -> tuple[int, ...]:
    """``"0,2,5-7"`` -> ``(0, 2, 5, 6, 7)``; malformed text raises ``ValueError``."""
    indices: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            if "-" in part[1:]:
                first, last = part.split("-", 1)
                indices.extend(range(int(first), int(last) + 1))
            else:
                indices.append(int(part))
        except ValueError:
            raise ValueError(f"--fix: cannot read '{part}' (use indices and ranges like 0,2,5-7)") from None
    return tuple(indices)


def run(args: argparse.Namespace) -> int:
    from irreps.sim.guards import GuardTripped, last_good_path
    from irreps.sim.io import write_frames
    from irreps.sim.relax import RelaxConfig, relax

    out = Path(args.out)
    trajectory = Path(args.trajectory) if args.trajectory else None
    refuse_existing([p for p in (out, trajectory) if p is not None], args.overwrite)
    config = RelaxConfig(optimizer=args.optimizer, fmax=args.fmax, steps=args.steps, relax_cell=args.cell, fixed=parse_indices(args.fix))
    atoms = read_structure(args.structure, args.index, args.allow_close_atoms)
    calculator = make_calculator(args)
    try:
        result = relax(atoms, calculator, config, trajectory=trajectory, overwrite=args.overwrite, progress=not args.quiet,
                       guards=make_guards(args, calculator.model), last_good=last_good_path(out))
    except GuardTripped as trip:
        return report_trip("relax", trip)
    write_frames(out, [result.frames[-1]])
    status = "converged" if result.converged else "NOT converged"
    change = result.energy - result.frames[0].get_potential_energy()
    print(f"relax {args.optimizer}: {status} after {result.steps} steps; E = {result.energy:.6f} eV ({change:+.6f} eV "
          f"from the start), fmax = {result.fmax:.4g} eV/Å")
    print(f"wrote {out}" + (f" and {trajectory}" if trajectory else ""))
    return 0 if result.converged else 1
