"""Data-parallel throughput and the memory of training on a sharded dataset.

Throughput: structures per second of training (``train_seconds`` of the run's history: the
epochs' training and validation, not data loading or start-up) of a TensorNet (hidden 32,
2 layers, float32, energy + forces, global batch 16 or ``--batch-size``) on the bundled acac subset, with 1 process and
with 2 processes (``run.processes``, the torchrun code path: DistributedDataParallel over
gloo), one thread each. The development machine has 2 cores shared with other work, so 2
ranks there measure the data-parallel overhead as much as the scaling.

Memory: a synthetic dataset of N structures (perturbed acac geometries from the bundled
subset, alternating with 3BPA geometries from ../shared/data/botnet/3bpa when that folder is
present; Gaussian displacements of 0.05 Å; labels E = E_ref + k/2 |d|^2, F = F_ref - k d with
k = 1 eV/Å^2, consistent derivatives, not DFT) is written as extended XYZ, converted with
``irreps data convert`` (structures/s), and one epoch of a tiny TensorNet (hidden 8, 1 layer,
cutoff 3 Å, batch 256, energy + forces: small enough for 200,000 structures on one loaded
core) is trained on the shards. Writing, converting and training each run in a fresh process
that reports its own peak RSS (VmHWM). The goal is a peak at N = 200,000 within 1.5x of
N = 2,000, for conversion and for training.

    python benchmarks/bench_distributed.py                         # both parts, N = 2,000 and 200,000
    python benchmarks/bench_distributed.py --skip-throughput --sizes 2000 20000 --json dist.json
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


def _throughput(processes: int, epochs: int, batch_size: int = 16) -> float:
    from irreps.train.config import load_config
    from irreps.train.run import train

    config = load_config(None, [
        "data.train_file=bundled:acac_train", "data.isolated_atoms_file=bundled:acac_isolated_atoms",
        "data.valid_fraction=0.1", f"data.batch_size={batch_size}", "model.options={hidden_dim: 32, num_layers: 2}",
        "run.progress=false", "run.device=cpu", "run.threads=1", f"run.epochs={epochs}", f"run.processes={processes}",
    ])
    with tempfile.TemporaryDirectory() as folder:
        result = train(config, Path(folder) / "run", log=lambda line: None)
    structures = 180 * epochs  # 200 minus the 10 % held out
    return structures / result.history[-1]["seconds"]


SHARED_3BPA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "botnet" / "3bpa"
MEMORY_OPTIONS = [  # sized for one epoch of 200,000 structures in under ~25 min on one loaded core
    "data.valid_fraction=0.005", "data.valid_batch_size=256", "data.batch_size=256", "data.cutoff=3.0",
    "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8}", "run.progress=false", "run.device=cpu",
    "run.threads=1", "run.epochs=1",
]


def _sources() -> tuple[list, list, str]:
    """Geometries to perturb (acac, bundled; 3BPA from ../shared when present), isolated atoms, a label."""
    import ase.io

    from irreps.data import bundled_path, read_atoms

    frames = read_atoms(bundled_path("acac_train"), required=("energy", "forces"))
    isolated = ase.io.read(bundled_path("acac_isolated_atoms"), ":")
    if not (SHARED_3BPA / "train_300K.xyz").is_file():
        return frames, isolated, "acac (bundled, 200 geometries); 3BPA absent: ../shared/data/botnet/3bpa not found"
    bpa = read_atoms(SHARED_3BPA / "train_300K.xyz", required=("energy", "forces"))
    nitrogen = [a for a in ase.io.read(SHARED_3BPA / "iso_atoms.xyz", ":") if a.get_chemical_symbols() == ["N"]]
    mixed = [f for pair in zip(frames, bpa) for f in pair]  # alternating: 15- and 27-atom structures
    return mixed, isolated + nitrogen, "acac (bundled) and 3BPA (../shared) alternating, 200 geometries each"


def _write_synthetic(path: Path, count: int, seed: int = 0) -> None:
    """``count`` perturbed frames and the isolated atoms as extended XYZ, written with numpy
    formatting (ASE's writer is slow). Labels are not DFT: E = E_ref + k/2 |d|^2 and
    F = F_ref - k d for a displacement d with k = 1 eV/Å^2 (consistent derivatives)."""
    import numpy as np

    frames, isolated, _ = _sources()
    rng = np.random.default_rng(seed)
    # one %-format per frame: a template per geometry with the symbols in place
    templates = ["".join(f"{symbol} %.8f %.8f %.8f %.8f %.8f %.8f\n" for symbol in a.get_chemical_symbols()) for a in frames]
    references = [(a.positions.copy(), float(a.get_potential_energy()), a.get_forces()) for a in frames]
    with open(path, "w") as out:
        for atom in isolated:
            out.write(f"1\nProperties=species:S:1:pos:R:3 config_type=isolated_atom energy={float(atom.get_potential_energy())!r} "
                      f"pbc=\"F F F\"\n{atom.get_chemical_symbols()[0]} 0.0 0.0 0.0\n")
        for n in range(count):
            k = n % len(frames)
            positions, energy, forces = references[k]
            shift = rng.normal(scale=0.05, size=positions.shape)
            energy = energy + 0.5 * float((shift**2).sum())
            out.write(f"{len(positions)}\nProperties=species:S:1:pos:R:3:forces:R:3 energy={energy!r} pbc=\"F F F\"\n")
            out.write(templates[k] % tuple(np.hstack([positions + shift, forces - shift]).ravel().tolist()))


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), MB. Read from /proc rather than ru_maxrss,
    which Linux carries over exec from the parent that spawned the process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (the memory benchmark needs Linux)")


def _child(stage: str, count: int, folder: str) -> None:
    """One stage in a fresh process (its peak RSS is its own); prints a JSON line."""
    import torch

    torch.set_num_threads(1)
    folder, started, result = Path(folder), time.perf_counter(), {}
    if stage == "write":
        _write_synthetic(folder / "data.xyz", count)
    elif stage == "convert":
        from irreps.data.shard_writer import convert_to_shards

        convert_to_shards(folder / "data.xyz", folder / "shards", log=lambda line: None)
    else:
        from irreps.train.config import load_config
        from irreps.train.run import train

        config = load_config(None, [f"data.train_file={folder / 'shards'}", *MEMORY_OPTIONS])
        row = train(config, folder / "run", log=lambda line: None).history[-1]
        result = {"train_loss": row["train_loss"], "valid_forces_rmse": row.get("valid_forces_rmse")}
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb(), **result}))


def _stage(stage: str, count: int, folder: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, "--child", stage, str(count), folder], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{stage} of {count} structures failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _memory(count: int, scratch: str | None) -> dict:
    """Write, convert and train one epoch on ``count`` structures, each stage in its own process."""
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        _stage("write", count, folder)
        size = (Path(folder) / "data.xyz").stat().st_size
        convert, fit = _stage("convert", count, folder), _stage("train", count, folder)
    return {"structures": count, "xyz_mb": size / 2**20, "convert_seconds": convert["seconds"],
            "convert_per_s": count / convert["seconds"], "peak_rss_convert_mb": convert["peak_rss_mb"],
            "epoch_seconds": fit["seconds"], "peak_rss_train_mb": fit["peak_rss_mb"],
            "train_loss": fit["train_loss"], "valid_forces_rmse": fit["valid_forces_rmse"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 200000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the throughput runs")
    parser.add_argument("--batch-size", type=int, default=16, help="global batch of the throughput runs (default 16)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--scratch", help="folder for the synthetic data (default: the system's temporary folder)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child[0], int(args.child[1]), args.child[2])
    results: dict = {"cpu_count": os.cpu_count()}
    if not args.skip_throughput:
        rates = {n: _throughput(n, args.epochs, args.batch_size) for n in (1, 2)}
        results["throughput"] = {f"{n} rank(s)": rate for n, rate in rates.items()}
        results["throughput_batch_size"] = args.batch_size
        print(f"{'ranks':>6} {'structures/s':>13}  (acac, TensorNet 32x2, float32, batch {args.batch_size}, 1 thread each; "
              f"{os.cpu_count()} cores, shared)")
        for n, rate in rates.items():
            print(f"{n:>6} {rate:>13.1f}")
        print(f"scaling 2 ranks / 1 rank: {rates[2] / rates[1]:.2f}x\n")
    if not args.skip_memory:
        results["memory_data"] = _sources()[2]
        results["memory_options"] = MEMORY_OPTIONS
        rows = []
        print(f"memory: {results['memory_data']}; TensorNet 8x1, cutoff 3 Å, batch 256, energy + forces, 1 thread")
        print(f"{'structures':>10} {'xyz MB':>7} {'convert/s':>10} {'RSS convert MB':>15} {'epoch s':>8} {'RSS train MB':>13}")
        for count in args.sizes:
            rows.append(row := _memory(count, args.scratch))
            print(f"{count:>10} {row['xyz_mb']:>7.0f} {row['convert_per_s']:>10.0f} {row['peak_rss_convert_mb']:>15.0f} "
                  f"{row['epoch_seconds']:>8.0f} {row['peak_rss_train_mb']:>13.0f}", flush=True)
        results["memory"] = rows
        for stage in ("convert", "train"):
            ratio = rows[1][f"peak_rss_{stage}_mb"] / rows[0][f"peak_rss_{stage}_mb"]
            results[f"peak_rss_ratio_{stage}"] = ratio
            print(f"peak RSS of {stage}, {args.sizes[1]} / {args.sizes[0]} structures: {ratio:.2f}x (goal <= 1.5x)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
