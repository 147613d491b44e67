"""Energy regression from fixed descriptors: polyatomic complexes vs the sorted Coulomb matrix.

Kernel ridge regression (Laplacian kernel) on total energies of acac, ethanol and 3BPA from
``../shared/data/botnet`` (the benchmark stops with a clear message when it is missing):

| molecule | train | test |
|---|---|---|
| acac | train_300K.xyz (500) | test_MD_300K.xyz (650) |
| ethanol | train.xyz (1000) | test_MD.xyz (1000) |
| 3BPA | train_300K.xyz (500) | train_mixedT.xyz without the frames also in train_300K (469; no test files here) |

The kernel width (multiples of the median training distance) and ridge are chosen on the last 20 %
of the training set, then the model is refit on all of it; the test set is never used to choose.
Printed per molecule: energy MAE (meV) of each descriptor, of predicting the training mean, and
the wall time to featurise 1,000 structures (one thread).

    python benchmarks/bench_descriptors.py [--data-dir DIR] [--json out.json]

Records: ``{"molecule", "descriptor", "mae_mev", "featurise_1000_s", "width", "ridge", "num_train", "num_test"}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from ase.io import read

from irreps.descriptors import coulomb_features, polyatomic_complex_features
from irreps.io import write_atomic

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "botnet"
TASKS = {
    "acac": ("acac/train_300K.xyz", "acac/test_MD_300K.xyz"),
    "ethanol": ("ethanol/train.xyz", "ethanol/test_MD.xyz"),
    "3BPA": ("3bpa/train_300K.xyz", "3bpa/train_mixedT.xyz"),
}
DESCRIPTORS = {
    "polyatomic complex": lambda structures: polyatomic_complex_features(structures),
    "Coulomb matrix (sorted)": lambda structures: coulomb_features(structures, "sorted"),
}
WIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
RIDGES = (1e-10, 1e-8, 1e-6, 1e-4, 1e-2)


def _energy(atoms) -> float:
    return float(atoms.calc.get_potential_energy() if atoms.calc is not None else atoms.info["energy"])


def _laplacian(a: torch.Tensor, b: torch.Tensor, width: float) -> torch.Tensor:
    return torch.exp(-torch.cdist(a, b, p=1) / width)


def _fit(x: torch.Tensor, y: torch.Tensor, width: float, ridge: float):
    mean = y.mean()
    k = _laplacian(x, x, width)
    alpha = torch.linalg.solve(k + ridge * torch.eye(len(x), dtype=x.dtype), y - mean)
    return lambda z: _laplacian(z, x, width) @ alpha + mean


def krr(x_train: torch.Tensor, y_train: torch.Tensor) -> tuple:
    """Choose (width, ridge) on the last 20 % of the training set, refit on all; returns (predict, width, ridge)."""
    split = int(0.8 * len(x_train))
    dist = torch.cdist(x_train[:split], x_train[:split], p=1)
    median = float(dist[dist > 0].median()) if (dist > 0).any() else 1.0  # constant features: any width
    best = None
    for factor in WIDTHS:
        for ridge in RIDGES:
            predict = _fit(x_train[:split], y_train[:split], factor * median, ridge)
            mae = float((predict(x_train[split:]) - y_train[split:]).abs().mean())
            if best is None or mae < best[0]:
                best = (mae, factor * median, ridge)
    _, width, ridge = best
    return _fit(x_train, y_train, width, ridge), width, ridge


def _load(data_dir: Path, molecule: str):
    train_path, test_path = (data_dir / p for p in TASKS[molecule])
    train, test = read(train_path, ":"), read(test_path, ":")
    if molecule == "3BPA":  # train_mixedT shares some 300 K frames with train_300K: keep only new ones
        seen = {round(_energy(a), 6) for a in train}
        test = [a for a in test if round(_energy(a), 6) not in seen]
    return train, test


def featurise_time(featurise, structures: list, num: int = 1000) -> float:
    """Seconds to featurise ``num`` structures (cycling through ``structures``)."""
    batch = [structures[i % len(structures)] for i in range(num)]
    start = time.perf_counter()
    featurise(batch)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the botnet data folder (acac, ethanol, 3bpa)")
    parser.add_argument("--molecules", default="acac,ethanol,3BPA")
    parser.add_argument("--json", help="write the records to this path")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    molecules = args.molecules.split(",")
    if unknown := set(molecules) - set(TASKS):
        parser.error(f"unknown molecules {sorted(unknown)}; choose from {list(TASKS)}")
    missing = [args.data_dir / p for m in molecules for p in TASKS[m] if not (args.data_dir / p).exists()]
    if missing:
        raise SystemExit(f"missing data: {', '.join(map(str, missing))} (pass --data-dir, or put shared/data next to "
                         "the repository; see ../shared/data/README.md)")
    records = []
    print("Kernel ridge regression of total energies (Laplacian kernel; width and ridge chosen on 20 % of train)")
    print(f"{'molecule':>8} {'descriptor':>24} {'E MAE meV':>10} {'featurise 1000 (s)':>19} {'train':>6} {'test':>5}")
    for molecule in molecules:
        train, test = _load(args.data_dir, molecule)
        y_train = torch.tensor([_energy(a) for a in train], dtype=torch.float64)
        y_test = torch.tensor([_energy(a) for a in test], dtype=torch.float64)
        mean_mae = 1000 * float((y_test - y_train.mean()).abs().mean())
        rows = [("training mean", mean_mae, None, None, None)]
        for name, featurise in DESCRIPTORS.items():
            seconds = featurise_time(featurise, train + test)
            predict, width, ridge = krr(featurise(train), y_train)
            mae = 1000 * float((predict(featurise(test)) - y_test).abs().mean())
            rows.append((name, mae, seconds, width, ridge))
        for name, mae, seconds, width, ridge in rows:
            print(f"{molecule:>8} {name:>24} {mae:10.1f} {'' if seconds is None else f'{seconds:19.2f}':>19} "
                  f"{len(train):6d} {len(test):5d}", flush=True)
            records.append({"molecule": molecule, "descriptor": name, "mae_mev": mae, "featurise_1000_s": seconds,
                            "width": width, "ridge": ridge, "num_train": len(train), "num_test": len(test)})
    if args.json:
        write_atomic(args.json, json.dumps(records, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
