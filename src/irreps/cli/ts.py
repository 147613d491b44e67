"""``irreps ts``: transition-state (first-order saddle) search with the model Hessian."""

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
from irreps.cli.vib import add_analysis_arguments, frequencies_record


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ts",
        help="transition-state search (P-RFO eigenvector following) from a guess",
        description=(
            "Search a first-order saddle point from the guess STRUCTURE (e.g. the highest image of "
            "`irreps neb`) by partitioned rational-function optimisation with the model Hessian, "
            "then confirm it has exactly one imaginary frequency. Writes OUT/ts.extxyz, "
            "OUT/ts_path.extxyz (every step), OUT/ts.json and OUT/imaginary_mode.extxyz. "
            "With --reactant (and --product) the barrier(s) are reported. Exits with status 1 "
            "unless a first-order saddle was found. Guards check every step (non-finite energies, "
            "forces or Hessians, atoms closer than a floor, forces): a search that trips one stops, "
            "writes the last good step to OUT/ts.last_good.extxyz, says what tripped and exits with status 3."
        ),
    )
    add_model_arguments(parser)
    add_analysis_arguments(parser)
    parser.add_argument("--fmax", type=float, default=0.01, help="force threshold in eV/Å (default 0.01)")
    parser.add_argument("--steps", type=int, default=200, help="maximum steps, one Hessian each (default 200)")
    parser.add_argument("--trust-radius", type=float, default=0.1, help="initial step length limit in Å (default 0.1)")
    parser.add_argument("--follow-mode", type=int, default=0, help="Hessian eigenvector to climb along at the start (0 = lowest)")
    parser.add_argument("--reactant", default=None, help="structure file of the reactant minimum, for the forward barrier")
    parser.add_argument("--product", default=None, help="structure file of the product minimum, for the reverse barrier")
    parser.add_argument("-o", "--out", default="ts", help="output folder (default ./ts)")
    add_guard_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from irreps.sim.guards import GuardTripped, last_good_path
    from irreps.sim.io import write_frames, write_json
    from irreps.sim.ts import TSConfig, find_saddle
    from irreps.sim.vib import write_modes

    out = Path(args.out)
    files = [out / "ts.extxyz", out / "ts_path.extxyz", out / "ts.json", out / "imaginary_mode.extxyz"]
    refuse_existing(files, args.overwrite)
    config = TSConfig(
        fmax=args.fmax, steps=args.steps, trust_radius=args.trust_radius, trust_max=max(0.3, args.trust_radius),
        follow_mode=args.follow_mode, projection=args.projection, imaginary_threshold_cm1=args.imaginary_threshold,
    )
    guess = read_structure(args.structure, args.index, args.allow_close_atoms)
    calculator = make_calculator(args, hessian=args.hessian)
    try:
        result = find_saddle(guess, calculator, config, progress=not args.quiet, guards=make_guards(args, calculator.model),
                             last_good=last_good_path(files[0]))
    except GuardTripped as trip:
        return report_trip("ts", trip)
    record = {"converged": result.converged, "reason": result.reason, "steps": result.steps, "energy_eV": result.energy, "fmax": result.fmax,
              "first_order_saddle": result.is_first_order_saddle, **frequencies_record(result.vib)}
    for name, path in (("reactant", args.reactant), ("product", args.product)):
        if path:
            end_point = read_structure(path, args.index, args.allow_close_atoms)
            energy = make_calculator(args, model=calculator.model).get_potential_energy(end_point)
            record[f"{name}_energy_eV"] = energy
            record["barrier_forward_eV" if name == "reactant" else "barrier_reverse_eV"] = result.energy - energy
    write_frames(files[0], [result.atoms])
    write_frames(files[1], result.frames)
    write_json(files[2], record)
    if result.vib.num_imaginary:
        write_modes(files[3], result.atoms, result.vib, overwrite=args.overwrite, indices=[0])
    print(result.vib.report())
    print(f"ts p-rfo: {result.reason} after {result.steps} steps; E = {result.energy:.6f} eV, fmax = {result.fmax:.3g} eV/Å")
    for key in ("barrier_forward_eV", "barrier_reverse_eV"):
        if key in record:
            print(f"{key.replace('_eV', '').replace('_', ' ')}: {record[key]:.4f} eV ({record[key] * 96.485:.2f} kJ/mol)")
    verdict = "first-order saddle (exactly one imaginary mode)" if result.is_first_order_saddle else (
        f"NOT a first-order saddle: {result.vib.num_imaginary} imaginary modes")
    print(verdict)
    print(f"wrote {', '.join(str(f) for f in files if f.exists())}")
    return 0 if result.converged and result.is_first_order_saddle else 1
