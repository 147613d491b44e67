"""How a trained sphere-grid model (eSCN, EquiformerV2) depends on its grids' resolution.

Every nonlinearity these models evaluate on a sphere grid is equivariant only up to aliasing.
The grids are not weights, so one trained file can be evaluated on finer grids
(``load_model(path, options={"grid_resolution": n})``, ``irreps md --model-option``). For each ``grid_resolution`` this prints, in float64: the test-set
energy and force RMSE, the largest change of the energy and of the rotated forces under random
rotations of a few test molecules (the equivariance error), and the CPU time of one E + F
evaluation. If the finer grid keeps the test error while the rotation error falls, a model trained
on the papers' cheap grids can run MD on fine ones.

    python benchmarks/bench_grid_aliasing.py --model runs/acac_escn/model.pt \
        --test ../shared/data/botnet/acac/test_MD_300K.xyz --grids 0 12 18 24 --json out.json

``0`` is the grid the model was trained with. Reference keys of the test file: ``--energy-key``,
``--forces-key`` (the BOTNet files use REF_energy, REF_forces).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable

from benchmarks.json_out import write_json  # noqa: E402
from irreps.calculators.ase_calculator import IrrepsCalculator  # noqa: E402
from irreps.models.file import load_model, read_torch_file  # noqa: E402
from irreps.models.registry import model_entry  # noqa: E402
from irreps.o3 import random_rotation  # noqa: E402


def model_on_grid(path: Path, resolution: int) -> torch.nn.Module:
    """The model in ``path`` with every evaluation option its architecture lists (the sphere
    grids' points per angle) raised to ``resolution`` (0: as saved)."""
    if not resolution:
        return load_model(path, dtype=torch.float64)
    payload = read_torch_file(path, "irreps model file")
    saved = payload["config"]
    options = {key: max(saved.get(key) or 0, resolution)
               for key in model_entry(payload["model_name"]).evaluation_options}
    return load_model(path, dtype=torch.float64, options=options)


def reference(atoms, energy_key: str, forces_key: str) -> tuple[float, np.ndarray]:
    """The labels of a frame: custom keys from ``info``/``arrays``, ASE's own ``energy``/``forces``
    from the calculator ASE attaches when reading them."""
    stored = atoms.calc.results if atoms.calc is not None else {}
    energy = atoms.info.get(energy_key, stored.get(energy_key))
    forces = atoms.arrays.get(forces_key, stored.get(forces_key))
    if energy is None or forces is None:
        raise KeyError(f"a test frame lacks '{energy_key}' or '{forces_key}' (see --energy-key, --forces-key)")
    return float(energy), np.asarray(forces)


def evaluate(model: torch.nn.Module, frames: list, rotated: list, rotations: int, energy_key: str,
             forces_key: str, seed: int) -> dict:
    """Test RMSEs, rotation errors and CPU ms per E + F evaluation of ``model``."""
    calc = IrrepsCalculator(model, dtype="float64")
    de, df, cpu = [], [], []
    for atoms in frames:
        ref_energy, ref_forces = reference(atoms, energy_key, forces_key)
        atoms = atoms.copy()
        atoms.calc = calc
        start = time.process_time()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        cpu.append(time.process_time() - start)
        de.append(energy - ref_energy)
        df.append(forces - ref_forces)
    generator = torch.Generator().manual_seed(seed)
    rot_e, rot_f = [], []
    for atoms in rotated:
        atoms = atoms.copy()
        atoms.calc = calc
        e0, f0 = atoms.get_potential_energy(), atoms.get_forces()
        for _ in range(rotations):
            R = random_rotation(generator=generator, dtype=torch.float64).numpy()
            turned = atoms.copy()
            turned.positions = atoms.positions @ R.T
            turned.calc = calc
            rot_e.append(abs(turned.get_potential_energy() - e0))
            rot_f.append(np.abs(turned.get_forces() - f0 @ R.T).max())
    n_atoms = np.mean([len(a) for a in frames])
    return {
        "energy_rmse_meV": 1e3 * float(np.sqrt(np.mean(np.square(de)))),
        "forces_rmse_meV_A": 1e3 * float(np.sqrt(np.mean(np.concatenate([d.ravel() for d in df]) ** 2))),
        "rotation_energy_max_meV": 1e3 * float(max(rot_e)),
        "rotation_forces_max_meV_A": 1e3 * float(max(rot_f)),
        "ms_per_structure": 1e3 * float(np.median(cpu[1:] if len(cpu) > 1 else cpu)),
        "atoms": float(n_atoms),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a trained eSCN or EquiformerV2 model file")
    parser.add_argument("--test", type=Path, required=True, help="extended-XYZ test file with reference labels")
    parser.add_argument("--grids", type=int, nargs="+", default=[0, 12, 18, 24],
                        help="grid_resolution values (0: the model's own)")
    parser.add_argument("--structures", type=int, default=100, help="test structures for the RMSEs (evenly spaced)")
    parser.add_argument("--rotated", type=int, default=3, help="test structures that are rotated")
    parser.add_argument("--rotations", type=int, default=4, help="random rotations of each")
    parser.add_argument("--energy-key", default="REF_energy")
    parser.add_argument("--forces-key", default="REF_forces")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        print(f"skip: no model file at {args.model}")
        return 0
    if not args.test.is_file():
        print(f"skip: no test file at {args.test} (the data lives in ../shared/data; see its README)")
        return 0
    torch.set_num_threads(args.threads)
    frames = read(args.test, ":")
    step = max(1, len(frames) // args.structures)
    frames = frames[::step][: args.structures]
    rotated = frames[: args.rotated]
    rows = []
    print(f"model {args.model}, test {args.test} ({len(frames)} structures, {args.rotated} x {args.rotations} rotations)")
    print("| grid | E RMSE (meV) | F RMSE (meV/Å) | rotation ΔE max (meV) | rotation ΔF max (meV/Å) | CPU ms / E+F |")
    print("|---|---|---|---|---|---|")
    for resolution in args.grids:
        row = {"grid_resolution": resolution or "trained"}
        row.update(evaluate(model_on_grid(args.model, resolution), frames, rotated, args.rotations,
                            args.energy_key, args.forces_key, args.seed))
        rows.append(row)
        print(f"| {row['grid_resolution']} | {row['energy_rmse_meV']:.2f} | {row['forces_rmse_meV_A']:.2f} | "
              f"{row['rotation_energy_max_meV']:.3g} | {row['rotation_forces_max_meV_A']:.3g} | "
              f"{row['ms_per_structure']:.1f} |", flush=True)
    if args.json:
        home = lambda p: str(p).replace(str(Path.home()), "~")  # noqa: E731  (no user's path in a record)
        write_json(args.json, {"model": home(args.model), "test": home(args.test), "rows": rows,
                               "rotations": args.rotations, "rotated": args.rotated})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
