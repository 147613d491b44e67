"""``irreps vib``: harmonic vibrational analysis from the model Hessian."""

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
        "vib",
        help="harmonic frequencies, normal modes and zero-point energy",
        description=(
            "Harmonic analysis of STRUCTURE (relax it first) with the Hessian of MODEL: frequencies "
            "in cm^-1 (imaginary ones flagged), zero-point energy, normal modes. Writes "
            "OUT/frequencies.json, OUT/modes.extxyz (an animation of each mode with the mode as a "
            "per-atom vector array 'mode') and OUT/spectrum.png. Guards check the structure first "
            "(non-finite energy, forces or Hessian, atoms closer than a floor, forces): one that trips "
            "says what and exits with status 3."
        ),
    )
    add_model_arguments(parser)
    add_analysis_arguments(parser)
    parser.add_argument("--amplitude", type=float, default=0.3, help="mode animation amplitude in Å (default 0.3)")
    parser.add_argument("-o", "--out", default="vib", help="output folder (default ./vib)")
    add_guard_arguments(parser)
    parser.set_defaults(func=run)


def add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the harmonic analysis shared with ``irreps ts``."""
    parser.add_argument("--hessian", choices=("auto", "autograd", "direct"), default="auto",
                        help="Hessian from the model's Hessian head (direct) or by autograd (default: direct when available)")
    parser.add_argument("--projection", choices=("auto", "rigid", "translations", "none"), default="auto",
                        help="rigid motions to project out (auto: translations+rotations for molecules, translations for crystals)")
    parser.add_argument("--imaginary-threshold", type=float, default=10.0,
                        help="frequencies below minus this (cm^-1) count as imaginary (default 10)")


def frequencies_record(vib) -> dict:
    """JSON-ready summary of a :class:`~irreps.sim.vib.VibrationalModes`."""
    return {
        "frequencies_cm1": [float(f) for f in vib.frequencies_cm1],
        "zpe_eV": vib.zpe_eV,
        "num_imaginary": vib.num_imaginary,
        "projection": vib.projection,
    }


def run(args: argparse.Namespace) -> int:
    from irreps.sim.guards import GuardTripped
    from irreps.sim.io import write_json
    from irreps.sim.plots import plot_spectrum
    from irreps.sim.vib import vibrate, write_modes

    out = Path(args.out)
    files = [out / "frequencies.json", out / "modes.extxyz", out / "spectrum.png"]
    refuse_existing(files, args.overwrite)
    atoms = read_structure(args.structure, args.index, args.allow_close_atoms)
    calculator = make_calculator(args, hessian=args.hessian)
    guards = make_guards(args, calculator.model)
    try:
        vib = vibrate(atoms, calculator, args.projection, args.imaginary_threshold, guards=guards)
    except GuardTripped as trip:
        return report_trip("vib", trip)
    fmax = float((calculator.get_forces(atoms) ** 2).sum(axis=1).max() ** 0.5)
    if fmax > 0.01:
        print(f"warning: forces up to {fmax:.3g} eV/Å: not a stationary point, relax first (irreps relax)")
    print(vib.report())
    write_json(files[0], frequencies_record(vib))
    write_modes(files[1], atoms, vib, amplitude=args.amplitude, overwrite=args.overwrite)
    plot_spectrum(vib.frequencies_cm1, files[2])
    print(f"wrote {', '.join(map(str, files))}")
    return 0
