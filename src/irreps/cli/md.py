"""``irreps md``: NVE or Langevin NVT molecular dynamics with a trained model."""

from __future__ import annotations

import argparse
import sys
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
        "md",
        help="molecular dynamics (NVE velocity Verlet or Langevin NVT)",
        description=(
            "Run MD of STRUCTURE with MODEL. Writes OUT/trajectory.extxyz (or .traj), OUT/log.csv "
            "(step, time, T, E_pot, E_kin, E_tot), OUT/md.png and OUT/summary.json (NVE: mean T and "
            "the spread of E_tot; NVT: mean T and its fluctuation beside the canonical one). Outputs grow "
            "as *.part files and get their final names when the run ends; --resume continues "
            "from the last trajectory frame up to --steps. Guards check every step (non-finite "
            "energies or forces, atoms closer than a floor, forces, temperature, NVE energy drift): "
            "a run that trips one stops, keeps its *.part files (resumable, e.g. with a shorter "
            "--timestep), writes the last good frame to OUT/trajectory.last_good.extxyz (or "
            ".traj), says what tripped at which step and exits with status 3."
        ),
    )
    add_model_arguments(parser)
    parser.add_argument("--ensemble", choices=("nve", "nvt"), default="nve")
    parser.add_argument("--steps", type=int, default=1000, help="total number of steps (default 1000)")
    parser.add_argument("--timestep", type=float, default=0.5, help="time step in fs (default 0.5)")
    parser.add_argument("--temperature", type=float, default=300.0, help="initial / bath temperature in K (default 300)")
    parser.add_argument("--friction", type=float, default=0.01, help="Langevin friction in 1/fs (default 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial velocities and Langevin noise")
    parser.add_argument("--traj-every", type=int, default=10, help="trajectory frame every N steps (default 10)")
    parser.add_argument("--log-every", type=int, default=1, help="log row every N steps (default 1)")
    parser.add_argument("--format", choices=("extxyz", "traj"), default="extxyz", help="trajectory format")
    parser.add_argument("-o", "--out", default="md", help="output folder (default ./md)")
    parser.add_argument("--resume", action="store_true", help="continue from the last frame of OUT's trajectory")
    parser.add_argument("--forces", choices=("conservative", "direct"), default="conservative",
                        help="conservative: -dE/dx (default); direct: the model's direct force head, which does "
                             "not conserve energy (needs --allow-nonconservative)")
    parser.add_argument("--allow-nonconservative", action="store_true",
                        help="run with --forces direct anyway (e.g. to measure the drift)")
    add_guard_arguments(parser, dynamics=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from irreps.sim.guards import GuardTripped
    from irreps.sim.io import write_json
    from irreps.sim.md import MDConfig, run_md
    from irreps.sim.md_summary import describe, summarize
    from irreps.sim.plots import plot_md

    if args.forces == "direct" and not args.allow_nonconservative:
        print("irreps md: --forces direct uses forces that are not the gradient of the energy, so NVE runs drift "
              "and NVT samples the wrong distribution; add --allow-nonconservative to run anyway", file=sys.stderr)
        return 2
    out = Path(args.out)
    trajectory = out / f"trajectory.{args.format}"
    log, plot, summary = out / "log.csv", out / "md.png", out / "summary.json"
    if not args.resume:
        refuse_existing([trajectory, log, plot, summary], args.overwrite)
    config = MDConfig(
        ensemble=args.ensemble, timestep_fs=args.timestep, steps=args.steps, temperature_K=args.temperature,
        friction_per_fs=args.friction, seed=args.seed, traj_every=args.traj_every, log_every=args.log_every,
    )
    atoms = read_structure(args.structure, args.index, args.allow_close_atoms)
    calculator = make_calculator(args)
    try:
        result = run_md(atoms, calculator, config, trajectory, log, resume=args.resume, overwrite=args.overwrite,
                        progress=not args.quiet, guards=make_guards(args, calculator.model))
    except GuardTripped as trip:
        return report_trip("md", trip, f"the run so far is in {out}/*.part: --resume continues from its last frame "
                           "(a shorter --timestep often helps); ")
    figures = summarize(result.log, result.atoms, config)
    record = {
        "ensemble": args.ensemble,
        "steps": args.steps,
        "resumed_from_step": result.first_step,
        "timestep_fs": args.timestep,
        "atoms": len(atoms),
        "steps_per_s": result.steps_per_s,
        **figures,
        "trajectory": str(trajectory),
        "log": str(log),
    }
    plot_md(result.log, plot)
    write_json(summary, record)
    print(f"md {args.ensemble}: {args.steps - result.first_step} steps of {args.timestep} fs, {result.steps_per_s:.1f} steps/s")
    print(describe(figures))
    print(f"wrote {trajectory}, {log}, {plot}, {summary}")
    return 0
