"""NVE molecular dynamics of acetylacetone: total-energy drift and speed, ours vs MACE.

Starts from the first structure of ``../shared/data/botnet/acac/test_MD_300K.xyz`` (the bundled
copy of that file's subset when the shared data is missing, said so in the output), draws
Maxwell-Boltzmann velocities at ``--temperature`` (seeded; centre-of-mass motion and rotation
removed) and integrates with ASE's velocity Verlet for ``--ps`` picoseconds at ``--timestep`` fs
in float64. The drift of the total energy is reported two ways, in meV/atom over the run:
the slope of a linear fit times the duration (systematic drift) and the largest deviation
from the initial value (drift plus fluctuation). Speed is MD steps per second, including the
neighbour list (skin reuse) and the integrator.

MACE runs in its own virtualenv (``--mace-python``, default: the one ``python -m benchmarks.peers
build mace`` makes; mace-torch pins e3nn 0.4.4) through a subprocess re-running this file in worker mode with the
same structure, velocities seed, thread count and step count, and a MACE model file
(``--mace-model``, trained on the same data, or ``random`` for MACE "small" with random weights:
same speed, drift not comparable); either missing -> MACE is skipped with a message.

The model file comes from the trainer, e.g.

    irreps train --set data.train_file=../shared/data/botnet/acac/train_300K.xyz ...
    python benchmarks/train_acac.py --dataset acac --out acac.pt

    python benchmarks/md_acac.py --model acac.pt --ps 10 --json md.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from benchmarks.peers import peer_python_or_none  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data" / "botnet" / "acac" / "test_MD_300K.xyz"
BUNDLED = ROOT / "src" / "irreps" / "datasets" / "acac_test_300K_subset.xyz"


def nve(atoms, calculator, steps: int, timestep_fs: float, temperature_K: float, seed: int) -> dict:
    """Velocity Verlet from seeded Maxwell-Boltzmann velocities; E_tot every step and timing.

    Uses ASE only, so the MACE worker runs the identical loop in its own environment.
    """
    import warnings

    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MB function is deprecated in newer ASE, same numbers
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    Stationary(atoms)
    ZeroRotation(atoms)
    atoms.calc = calculator
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    energies = []
    dyn.attach(lambda: energies.append(atoms.get_potential_energy() + atoms.get_kinetic_energy()), interval=1)
    atoms.get_forces()  # first call (model warm-up, first neighbour list) outside the timing
    start = time.perf_counter()
    dyn.run(steps)
    wall = time.perf_counter() - start
    return {"etot": energies, "wall_s": wall, "steps": steps, "atoms": len(atoms)}


def block_slope_error(time_ps: np.ndarray, values: np.ndarray, blocks: int) -> float:
    """Standard error of the slope of a line through the means of ``blocks`` equal blocks (NaN if too short)."""
    if blocks < 3 or len(values) < blocks:
        return float("nan")
    t = np.array([part.mean() for part in np.array_split(time_ps, blocks)])
    y = np.array([part.mean() for part in np.array_split(values, blocks)])
    slope, intercept = np.polyfit(t, y, 1)
    residual = y - (slope * t + intercept)
    return float(np.sqrt(residual @ residual / (blocks - 2) / ((t - t.mean()) @ (t - t.mean()))))


def drift_record(impl: str, run: dict, timestep_fs: float, record_every: int = 1, blocks: int = 10) -> dict:
    """Drift (fit slope x duration, its block standard error, max and RMS deviation) in meV/atom, and steps/s.

    ``run["etot"]`` holds E_tot at step 0 and every ``record_every`` steps after it. A Verlet
    trajectory's E_tot fluctuates with a correlation time of picoseconds, so the slope of one
    10 ps run is itself noisy: ``drift_err_meV_per_atom`` is the standard error of the slope
    fitted through the means of ``blocks`` equal blocks, times the duration. A drift smaller
    than about twice it is not distinguishable from zero.
    """
    etot = 1000.0 * (np.asarray(run["etot"]) - run["etot"][0]) / run["atoms"]
    time_ps = np.arange(len(etot)) * record_every * timestep_fs / 1000.0
    slope = np.polyfit(time_ps, etot, 1)[0] if len(etot) > 1 else 0.0
    duration = float(time_ps[-1])
    return {
        "impl": impl,
        "drift_meV_per_atom": float(abs(slope) * duration),
        "drift_err_meV_per_atom": float(block_slope_error(time_ps, etot, blocks) * duration),
        "max_dev_meV_per_atom": float(np.abs(etot).max()),
        "rms_fluctuation_meV_per_atom": float(etot.std()),
        "steps_per_s": run["steps"] / run["wall_s"],
        "ps": duration,
        "atoms": run["atoms"],
        "finite": bool(np.isfinite(etot).all()),
    }


def start_structure(path: Path):
    import ase.io

    return ase.io.read(path, index=0)


def run_ours(args: argparse.Namespace, structure: Path, steps: int) -> dict:
    import torch

    from irreps.calculators import IrrepsCalculator
    from irreps.cli._sim import model_options

    torch.set_num_threads(args.threads)
    options = model_options(args.model_option)
    calculator = IrrepsCalculator(args.model, dtype="float64", skin=args.skin, model_options=options, forces=args.forces)
    run = nve(start_structure(structure), calculator, steps, args.timestep, args.temperature, args.seed)
    record = drift_record("irreps", run, args.timestep)
    record["neighbor_builds"] = calculator.num_neighbor_builds
    record["model_options"] = options
    record["forces"] = args.forces
    return record


def run_mace_worker(args: argparse.Namespace) -> None:
    """Worker mode inside the MACE virtualenv: print one JSON record."""
    import torch
    from mace.calculators import MACECalculator

    torch.set_num_threads(args.threads)
    model_path = args.mace_model
    if model_path == "random":
        model_path = _random_mace_small(Path(tempfile.mkdtemp()) / "mace_random_small.model")
    calculator = MACECalculator(model_paths=str(model_path), device="cpu", default_dtype="float64")
    steps = int(round(args.ps * 1000 / args.timestep))
    run = nve(start_structure(Path(args.structure)), calculator, steps, args.timestep, args.temperature, args.seed)
    impl = "mace*" if args.mace_model == "random" else "mace"
    print(json.dumps(drift_record(impl, run, args.timestep)))


def _random_mace_small(path: Path) -> Path:
    """MACE "small" (128x0e, l_max 3, correlation 3, 2 interactions, 5 Å) with random weights.

    Speed does not depend on the weights; energy drift does, so it is reported but marked.
    """
    import torch
    from e3nn import o3
    from mace import modules

    torch.manual_seed(0)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.ScaleShiftMACE(
        r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3, interaction_cls=block,
        interaction_cls_first=block, num_interactions=2, num_elements=3, hidden_irreps=o3.Irreps("128x0e"),
        MLP_irreps=o3.Irreps("16x0e"), atomic_energies=np.zeros(3), avg_num_neighbors=10.0,
        atomic_numbers=[1, 6, 8], correlation=3, gate=torch.nn.functional.silu,
        atomic_inter_scale=0.1, atomic_inter_shift=0.0,
    )
    torch.save(model, path)
    return path


def run_mace(args: argparse.Namespace, structure: Path) -> dict | None:
    mace_python = peer_python_or_none("mace", args.mace_python)
    if mace_python is None or not Path(mace_python).exists():
        print("MACE skipped: no MACE virtualenv (see --mace-python and `python -m benchmarks.peers build mace`)")
        return None
    if not args.mace_model:
        print("MACE skipped: no --mace-model given (a MACE model trained on the same acac data, or 'random')")
        return None
    command = [mace_python, __file__, "--worker", "--structure", str(structure), "--mace-model", args.mace_model,
               "--ps", str(args.mace_ps or args.ps), "--timestep", str(args.timestep), "--temperature", str(args.temperature),
               "--seed", str(args.seed), "--threads", str(args.threads)]
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(f"MACE failed (skipped): {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(records: list[dict], args: argparse.Namespace) -> None:
    print(f"\nNVE acetylacetone, {args.ps} ps at {args.timestep} fs, float64, {args.threads} thread(s), T0 = {args.temperature} K")
    print(f"{'impl':<8} {'atoms':>5} {'ps':>6} {'drift (meV/atom)':>17} {'max dev (meV/atom)':>19} {'steps/s':>9}")
    for r in records:
        print(f"{r['impl']:<8} {r['atoms']:>5} {r['ps']:>6.2f} {r['drift_meV_per_atom']:>17.4f} {r['max_dev_meV_per_atom']:>19.4f} {r['steps_per_s']:>9.2f}")
    if len(records) == 2:
        print(f"speed ratio irreps / mace: {records[0]['steps_per_s'] / records[1]['steps_per_s']:.2f}x")
        if records[1]["impl"] == "mace*":
            print("mace*: MACE small with random weights (--mace-model random): its speed is comparable, its drift is not")
    verdict = "below" if records[0]["drift_meV_per_atom"] < 1.0 and records[0]["finite"] else "NOT below"
    print(f"irreps drift {verdict} the 1 meV/atom target over the run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="irreps model file trained on acac (see the module docstring)")
    parser.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluation option of the model file, e.g. grid_resolution=18 (see `irreps md --help`)")
    parser.add_argument("--forces", choices=("conservative", "direct"), default="conservative",
                        help="our model's forces: -dE/dx (default) or its direct head (not a gradient: NVE drifts)")
    parser.add_argument("--ps", type=float, default=10.0, help="simulated time in ps (default 10)")
    parser.add_argument("--timestep", type=float, default=0.5, help="fs (default 0.5)")
    parser.add_argument("--temperature", type=float, default=300.0, help="initial temperature, K (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skin", type=float, default=0.5, help="neighbour-list skin, Å")
    parser.add_argument("--structure", help="start structure (default: first frame of acac test_MD_300K.xyz)")
    parser.add_argument("--mace-python", help="python of MACE's virtualenv (default: benchmarks.peers)")
    parser.add_argument("--mace-model", default=None, help="MACE model file, or 'random' (speed only)")
    parser.add_argument("--mace-ps", type=float, default=None, help="shorter MACE run for its speed (default: --ps)")
    parser.add_argument("--json", help="write the records here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_mace_worker(args)
        return 0
    if not args.model:
        print("md_acac.py needs --model PATH: an irreps model trained on acac, e.g. from\n"
              "  python benchmarks/train_acac.py --dataset acac --out acac.pt\n"
              "  irreps train --set data.train_file=../shared/data/botnet/acac/train_300K.xyz (writes runs/<name>/model.pt)",
              file=sys.stderr)
        return 2
    if args.json and Path(args.json).exists():
        print(f"{args.json} exists: not overwriting it", file=sys.stderr)
        return 2
    structure = Path(args.structure) if args.structure else SHARED
    if not structure.exists():
        print(f"shared data missing ({structure}); starting from the bundled subset {BUNDLED}")
        structure = BUNDLED
    steps = int(round(args.ps * 1000 / args.timestep))
    records = [run_ours(args, structure, steps)]
    mace = run_mace(args, structure)
    if mace is not None:
        records.append(mace)
    print_table(records, args)
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
