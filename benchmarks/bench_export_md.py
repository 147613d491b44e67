"""NVE of acetylacetone with an exported TensorNet in each engine, next to ``irreps md``.

One structure (the first of ``../shared/data/botnet/acac/test_MD_300K.xyz``, or of the bundled
subset when the shared data is missing, said so), one set of seeded Maxwell-Boltzmann momenta
(:func:`irreps.sim.md.draw_velocities`), one timestep, float64, one thread, every engine in
turn:

- ``irreps md``: :func:`irreps.sim.md.run_md` with our ASE calculator (what the CLI runs);
- ``metatomic (ASE)``: the same loop with metatomic-ase's calculator on the metatomic artefact;
- ``OpenMM``: a ``VerletIntegrator`` with the TorchScript artefact as a TorchForce
  (:mod:`irreps.export.openmm`), in the environment ``--openmm-python`` (openmm-torch for a CPU
  torch needs torch <= 2.12; docs/export.md);
- ``TorchSim``: ``torch_sim``'s NVE velocity Verlet with metatomic-torchsim, in
  ``--torchsim-python`` (torch-sim needs Python >= 3.12).

A missing environment skips its engine with one line. Each engine records the total energy
every ``--record-every`` steps; drift is the largest deviation of E_tot from its initial value
and the slope of a linear fit times the duration, in meV/atom; speed is ns/day of wall time
(neighbour lists and integrator included; OpenMM pays one extra energy evaluation per record).

    python benchmarks/bench_export_md.py --model acac.pt --ps 10 --json export_md.json
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

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data" / "botnet" / "acac" / "test_MD_300K.xyz"
BUNDLED = ROOT / "src" / "irreps" / "datasets" / "acac_test_300K_subset.xyz"
VENVS = Path.home() / ".cache" / "irreps" / "venvs"


def _start(seed: int, temperature: float):
    """The starting structure (no cell: a molecule) with seeded momenta, and where it came from."""
    import ase.io

    from irreps.sim.md import draw_velocities

    source = SHARED if SHARED.is_file() else BUNDLED
    atoms = ase.io.read(source, index=0)
    atoms.set_cell(np.zeros((3, 3)))
    atoms.pbc = False
    draw_velocities(atoms, temperature, seed)
    return atoms, source


def _ase_engine(atoms, calculator, args) -> dict:
    """``run_md`` (what ``irreps md`` runs); it draws the momenta :func:`_start` drew (same seed)."""
    from irreps.sim.md import MDConfig, run_md

    atoms = atoms.copy()
    atoms.calc = calculator
    atoms.get_forces()  # warm-up outside the timing
    config = MDConfig(ensemble="nve", timestep_fs=args.timestep, steps=args.steps, temperature_K=args.temperature,
                      seed=args.seed, traj_every=args.steps or 1, log_every=args.record_every)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_md(atoms, calculator, config, Path(tmp) / "traj.extxyz", Path(tmp) / "log.csv")
        wall = time.perf_counter() - start
    return {"etot": [row["etot_eV"] for row in result.log], "wall_s": wall}


def _worker_job(atoms, args, engine: str, folder: Path) -> dict:
    return {"engine": engine, "model": str(Path(args.model).resolve()), "numbers": atoms.numbers.tolist(),
            "positions": atoms.positions.tolist(), "momenta": atoms.get_momenta().tolist(),
            "masses": atoms.get_masses().tolist(), "steps": args.steps, "dt_fs": args.timestep,
            "record": args.record_every, "folder": str(folder)}


def _run_worker(python: str, job: dict) -> dict | None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    done = subprocess.run([python, __file__, "--worker"], input=json.dumps(job), capture_output=True, text=True,
                          env=env, timeout=6 * 3600)
    if done.returncode != 0:
        print(f"[fail] {job['engine']}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _openmm_worker(job: dict) -> dict:
    import ase
    import openmm
    import torch

    from irreps.export.openmm import EV_IN_KJ_PER_MOL, openmm_system
    from irreps.export.torchscript import export_torchscript
    from irreps.models import load_model

    torch.set_num_threads(1)
    artefact = export_torchscript(load_model(job["model"]), Path(job["folder"]) / "model_ts.pt", "float64")
    atoms = ase.Atoms(numbers=job["numbers"], positions=job["positions"])
    system, positions = openmm_system(atoms, artefact)
    integrator = openmm.VerletIntegrator(job["dt_fs"] / 1000.0)  # ps
    platform = openmm.Platform.getPlatformByName("CPU")
    context = openmm.Context(system, integrator, platform, {"Threads": "1"})
    context.setPositions(positions)
    ase_velocity = np.asarray(job["momenta"]) / np.asarray(job["masses"])[:, None]  # Å / ASE time
    context.setVelocities(ase_velocity * ase.units.fs * 1000.0 / 10.0)  # nm/ps
    kj = openmm.unit.kilojoule_per_mole

    def etot():
        state = context.getState(getEnergy=True)
        return (state.getPotentialEnergy().value_in_unit(kj) + state.getKineticEnergy().value_in_unit(kj)) / EV_IN_KJ_PER_MOL

    etot()  # warm-up
    energies = [etot()]
    start = time.perf_counter()
    for _ in range(job["steps"] // job["record"]):
        integrator.step(job["record"])
        energies.append(etot())
    return {"etot": energies, "wall_s": time.perf_counter() - start}


def _torchsim_worker(job: dict) -> dict:
    import ase
    import torch
    import torch_sim
    from metatomic_torchsim import MetatomicModel
    from torch_sim.integrators.nve import nve_init, nve_step
    from torch_sim.units import MetalUnits

    from irreps.export.metatomic import export_metatomic
    from irreps.models import load_model

    torch.set_num_threads(1)
    artefact = export_metatomic(load_model(job["model"]), Path(job["folder"]) / "model_mta.pt", "float64")
    model = MetatomicModel(str(artefact), device="cpu", compute_stress=False)
    atoms = ase.Atoms(numbers=job["numbers"], positions=job["positions"])
    state = nve_init(torch_sim.io.atoms_to_state(atoms, device=torch.device("cpu"), dtype=torch.float64), model, kT=0.0)
    # TorchSim's time unit is ASE's (Å sqrt(amu/eV)), so ASE momenta carry over unchanged.
    state.momenta = torch.tensor(job["momenta"], dtype=torch.float64)
    dt = torch.tensor(job["dt_fs"] / 1000.0 * MetalUnits.time, dtype=torch.float64)

    def etot():
        kinetic = 0.5 * (state.momenta.square().sum(1) / state.masses).sum()
        return float(state.energy.sum() + kinetic)

    energies = [etot()]
    start = time.perf_counter()
    for step in range(1, job["steps"] + 1):
        state = nve_step(state, model, dt=dt)
        if step % job["record"] == 0:
            energies.append(etot())
    return {"etot": energies, "wall_s": time.perf_counter() - start}


def _record(engine: str, run: dict, atoms_count: int, dt: float, record: int) -> dict:
    etot = 1000.0 * (np.asarray(run["etot"]) - run["etot"][0]) / atoms_count
    time_ps = np.arange(len(etot)) * record * dt / 1000.0
    duration = float(time_ps[-1]) if len(etot) > 1 else 0.0
    slope = float(np.polyfit(time_ps, etot, 1)[0]) if len(etot) > 2 else 0.0
    ns_per_day = duration / 1000.0 / (run["wall_s"] / 86400.0) if run["wall_s"] > 0 else float("nan")
    return {"engine": engine, "ps": duration, "max_dev_meV_atom": float(np.abs(etot).max()),
            "fit_drift_meV_atom": slope * duration, "ns_per_day": ns_per_day, "wall_s": run["wall_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="irreps model file (TensorNet trained on acac)")
    parser.add_argument("--ps", type=float, default=10.0, help="simulated time per engine (default 10 ps)")
    parser.add_argument("--timestep", type=float, default=0.5, help="fs (default 0.5)")
    parser.add_argument("--temperature", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record-every", type=int, default=10, help="steps between E_tot records")
    parser.add_argument("--openmm-python", default=str(VENVS / "openmm" / "bin" / "python"))
    parser.add_argument("--torchsim-python", default=str(VENVS / "torchsim" / "bin" / "python"))
    parser.add_argument("--json", help="write the table as JSON here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job = json.loads(sys.stdin.read())
        print(json.dumps({"openmm": _openmm_worker, "torchsim": _torchsim_worker}[job["engine"]](job)))
        return
    if not args.model:
        parser.error("--model is required")
    import torch

    torch.set_num_threads(1)
    args.steps = int(round(args.ps * 1000.0 / args.timestep)) // args.record_every * args.record_every
    atoms, source = _start(args.seed, args.temperature)
    print(f"structure: {source}{'' if source == SHARED else ' (../shared/data missing: bundled subset)'}; "
          f"{len(atoms)} atoms, {args.steps} steps of {args.timestep} fs, float64, 1 thread")
    rows = []
    from irreps.calculators import IrrepsCalculator

    run = _ase_engine(atoms, IrrepsCalculator(args.model, dtype="float64", skin=0.5), args)
    rows.append(_record("irreps md (ASE)", run, len(atoms), args.timestep, args.record_every))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            from metatomic_ase import MetatomicCalculator

            from irreps.export.metatomic import export_metatomic
            from irreps.models import load_model

            path = export_metatomic(load_model(args.model), Path(tmp) / "model_mta.pt", "float64")
            run = _ase_engine(atoms, MetatomicCalculator(str(path), device="cpu"), args)
            rows.append(_record("metatomic (ASE)", run, len(atoms), args.timestep, args.record_every))
        except ImportError:
            print("[skip] metatomic (ASE): pip install 'irreps[metatomic]'")
        for engine, python in (("openmm", args.openmm_python), ("torchsim", args.torchsim_python)):
            if not Path(python).exists():
                print(f"[skip] {engine}: no interpreter at {python} (see docs/export.md)")
                continue
            run = _run_worker(python, _worker_job(atoms, args, engine, Path(tmp)))
            if run is not None:
                rows.append(_record({"openmm": "OpenMM", "torchsim": "TorchSim"}[engine], run, len(atoms),
                                    args.timestep, args.record_every))
    base = rows[0]
    print(f"\n{'engine':<18} {'ps':>6} {'max|dE| meV/at':>15} {'fit drift meV/at':>17} {'ns/day':>9} {'x irreps md':>11}")
    for row in rows:
        row["speed_vs_irreps_md"] = row["ns_per_day"] / base["ns_per_day"]
        print(f"{row['engine']:<18} {row['ps']:>6.2f} {row['max_dev_meV_atom']:>15.4f} {row['fit_drift_meV_atom']:>17.4f} "
              f"{row['ns_per_day']:>9.3f} {row['speed_vs_irreps_md']:>11.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"structure": str(source), "timestep_fs": args.timestep,
                                               "steps": args.steps, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
