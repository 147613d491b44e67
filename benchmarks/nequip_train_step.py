"""NequIP's training step on given batches, timed inside NequIP's own virtualenv.

Run by ``bench_train_step.py`` with the interpreter that ``python -m benchmarks.peers build nequip``
made; it imports nothing of irreps. A step is what nequip-train's ``EMALightningModule`` does per
batch with the recipe of the side-by-side benchmark (``benchmarks/compare/systems/nequip.py``):
energy and forces (forces by autograd, with the graph kept for the weight gradients), the loss
``MSE(E / N) + MSE(F)``, its backward pass, one Adam step and the EMA update (decay 0.999).
Graphs (neighbour lists, atom types) are built once before timing, as ours are.

    python nequip_train_step.py BATCHES.npz --size S --batches 40 --repeats 3 --threads 1

prints one JSON line: ``{"size", "params", "step_ms": [mean ms per step, one per repeat]}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.compare.systems.nequip import CUTOFF, NEQUIP_RECOMMENDED  # noqa: E402 (standard library only)


def _model(size: str, types: list[str], e0s: dict[str, float], avg_num_neighbors: float):
    from nequip.model import NequIPGNNModel, PresetNequIPGNNModel

    common = {"seed": 0, "model_dtype": "float32", "type_names": types, "r_max": CUTOFF,
              "avg_num_neighbors": avg_num_neighbors, "per_type_energy_shifts": e0s}
    if size == "S":
        return PresetNequIPGNNModel(preset="S", **common)
    return NequIPGNNModel(**common, **NEQUIP_RECOMMENDED)  # the side-by-side benchmark's recipe


def _batches(path: str, types: list[str]):
    """``(inputs, energy, forces, atoms per structure)`` per batch of the npz file."""
    import ase
    import numpy as np
    import torch
    from nequip.data import AtomicDataDict, from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform

    data = np.load(path)
    transforms = [ChemicalSpeciesToAtomTypeMapper(model_type_names=types), NeighborListTransform(r_max=CUTOFF)]
    out = []
    for b in range(int(data["num_batches"])):
        frames = []
        for z, pos in zip(data[f"z{b}"], data[f"pos{b}"]):
            frame = from_ase(ase.Atoms(numbers=z, positions=pos))
            for transform in transforms:
                frame = transform(frame)
            frames.append(frame)
        inputs = AtomicDataDict.batched_from_list(frames)
        energy = torch.tensor(data[f"energy{b}"], dtype=torch.float64).reshape(-1, 1)
        forces = torch.tensor(data[f"forces{b}"].reshape(-1, 3), dtype=torch.float32)
        atoms = torch.tensor([len(z) for z in data[f"z{b}"]], dtype=torch.float64).reshape(-1, 1)
        out.append((inputs, energy, forces, atoms))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("batches")
    parser.add_argument("--size", choices=["S", "recommended"], required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import warnings

    import numpy as np
    import torch
    from nequip.utils.global_state import set_global_state

    warnings.filterwarnings("ignore")  # deprecation notices would drown the JSON line
    torch.set_num_threads(args.threads)
    set_global_state()
    meta = np.load(args.batches)
    types = [str(t) for t in meta["types"]]
    e0s = {t: float(e) for t, e in zip(types, meta["e0s"])}
    batches = _batches(args.batches, types)
    edges = [int(b[0]["edge_index"].shape[1]) / int(b[0]["pos"].shape[0]) for b in batches]
    model = _model(args.size, types, e0s, float(np.mean(edges)))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    params = [p for p in model.parameters() if p.requires_grad]
    ema = [p.detach().clone() for p in params]

    def step(batch) -> None:
        inputs, energy, forces, atoms = batch
        optimizer.zero_grad(set_to_none=True)
        out = model(dict(inputs))  # a copy: the model writes its predictions into the dict it gets
        loss = (((out["total_energy"] - energy) / atoms) ** 2).mean() + ((out["forces"] - forces) ** 2).mean()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, params, 1 - 0.999)

    for batch in batches[:4]:
        step(batch)
    means = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for batch in batches:
            step(batch)
        means.append(1e3 * (time.perf_counter() - start) / len(batches))
    print(json.dumps({"size": args.size, "params": sum(p.numel() for p in params), "step_ms": means}), flush=True)


if __name__ == "__main__":
    main()
