"""Data-parallel throughput and the memory of training on a sharded dataset.

Throughput: structures per second of training (``train_seconds`` of the run's history: the
epochs' training and validation, not data loading or start-up) of a TensorNet (hidden 32,
2 layers, float32, energy + forces, batch 16) on the bundled acac subset, with 1 process and
with 2 processes (``run.processes``, the torchrun code path: DistributedDataParallel over
gloo), one thread each. The development machine has 2 cores shared with other work, so 2
ranks there measure the data-parallel overhead as much as the scaling.

Memory: a synthetic dataset of N structures (the bundled acac geometries with Gaussian
displacements of 0.05 Å; labels E = E_ref + k/2 |d|^2, F = F_ref - k d with k = 1 eV/Å^2,
consistent derivatives, not DFT) is written as extended XYZ, converted with
``irreps data convert`` (structures/s), and one epoch of a tiny TensorNet is trained on the
shards; each size runs in a fresh process and reports its peak RSS. The goal is a peak at
N = 200,000 within 1.5x of N = 2,000.

    python benchmarks/bench_distributed.py                         # both parts, N = 2,000 and 200,000
    python benchmarks/bench_distributed.py --sizes 2000 20000 --json dist.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _throughput(processes: int, epochs: int) -> float:
    from irreps.train.config import load_config
    from irreps.train.run import train

    config = load_config(None, [
        "data.train_file=bundled:acac_train", "data.isolated_atoms_file=bundled:acac_isolated_atoms",
        "data.valid_fraction=0.1", "data.batch_size=16", "model.options={hidden_dim: 32, num_layers: 2}",
        "run.progress=false", "run.device=cpu", "run.threads=1", f"run.epochs={epochs}", f"run.processes={processes}",
    ])
    with tempfile.TemporaryDirectory() as folder:
        result = train(config, Path(folder) / "run", log=lambda line: None)
    structures = 180 * epochs  # 200 minus the 10 % held out
    return structures / result.history[-1]["seconds"]


def _write_synthetic(path: Path, count: int, seed: int = 0) -> None:
    """``count`` perturbed acac frames as extended XYZ, written with numpy (ASE's writer is slow)."""
    import numpy as np

    from irreps.data import bundled_path, read_atoms

    frames = read_atoms(bundled_path("acac_train"), required=("energy", "forces"))
    rng = np.random.default_rng(seed)
    symbols = [a.get_chemical_symbols() for a in frames]
    with open(path, "w") as out:
        for n in range(count):
            k = n % len(frames)
            atoms = frames[k]
            shift = rng.normal(scale=0.05, size=atoms.positions.shape)
            energy = float(atoms.get_potential_energy()) + 0.5 * float((shift**2).sum())
            forces = atoms.get_forces() - shift
            out.write(f"{len(atoms)}\nProperties=species:S:1:pos:R:3:forces:R:3 energy={energy!r} pbc=\"F F F\"\n")
            for symbol, p, f in zip(symbols[k], atoms.positions + shift, forces):
                out.write(f"{symbol} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f} {f[0]:.8f} {f[1]:.8f} {f[2]:.8f}\n")


def _memory_child(count: int, folder: str) -> None:
    """In a fresh process: write, convert, train one epoch; print a JSON line."""
    import torch

    from irreps.data.shard_writer import convert_to_shards
    from irreps.train.config import load_config
    from irreps.train.run import train

    torch.set_num_threads(1)
    folder = Path(folder)
    _write_synthetic(folder / "data.xyz", count)
    started = time.perf_counter()
    convert_to_shards(folder / "data.xyz", folder / "shards", log=lambda line: None)
    convert_seconds = time.perf_counter() - started
    (folder / "data.xyz").unlink()
    after_convert = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    config = load_config(None, [
        f"data.train_file={folder / 'shards'}", "data.isolated_atoms_file=bundled:acac_isolated_atoms",
        "data.valid_fraction=0.005", "data.valid_batch_size=64", "data.batch_size=64",
        "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8}", "run.progress=false", "run.device=cpu",
        "run.threads=1", "run.epochs=1",
    ])
    started = time.perf_counter()
    train(config, folder / "run", log=lambda line: None)
    print(json.dumps({
        "structures": count, "convert_seconds": convert_seconds, "convert_per_s": count / convert_seconds,
        "epoch_seconds": time.perf_counter() - started, "peak_rss_convert_mb": after_convert,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def _memory(count: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        output = subprocess.run([sys.executable, __file__, "--child", str(count), folder], env=env,
                                capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 200000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the throughput runs")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _memory_child(int(args.child[0]), args.child[1])
    results: dict = {"cpu_count": os.cpu_count()}
    if not args.skip_throughput:
        rates = {n: _throughput(n, args.epochs) for n in (1, 2)}
        results["throughput"] = {f"{n} rank(s)": rate for n, rate in rates.items()}
        print(f"{'ranks':>6} {'structures/s':>13}  (acac, TensorNet 32x2, float32, batch 16, 1 thread each; "
              f"{os.cpu_count()} cores, shared)")
        for n, rate in rates.items():
            print(f"{n:>6} {rate:>13.1f}")
        print(f"scaling 2 ranks / 1 rank: {rates[2] / rates[1]:.2f}x\n")
    if not args.skip_memory:
        rows = [_memory(n) for n in args.sizes]
        results["memory"] = rows
        print(f"{'structures':>10} {'convert/s':>10} {'epoch s':>8} {'peak RSS MB':>12}")
        for row in rows:
            print(f"{row['structures']:>10} {row['convert_per_s']:>10.0f} {row['epoch_seconds']:>8.1f} {row['peak_rss_mb']:>12.0f}")
        ratio = rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
        results["peak_rss_ratio"] = ratio
        print(f"peak RSS {args.sizes[1]} / {args.sizes[0]}: {ratio:.2f}x (goal <= 1.5x)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
