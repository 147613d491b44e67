"""EquiformerV2 inference, ours vs fairchem's, at the same hyperparameters: energy + forces per atom.

For each ``lmax`` (default 2, 4, 6) and system (3BPA x 32 molecules in one batch, a periodic box of
1536 water atoms), median seconds per call in float32 on the CPU, graph building included:

* ``ours``: this library's EquiformerV2 with conservative forces (``-dE/dx``, our default);
* ``ours direct``: the same model's attention force head (what fairchem computes), under ``no_grad``
  as fairchem's is (results before 2026-12-06 recorded an autograd tape through the weights);
* ``fairchem``: fairchem-core 1.10's EquiformerV2 (direct forces, its only kind; it detaches the
  edge rotations, so its autograd "forces" are not the gradient and are not timed here), run by
  ``benchmarks/peers/fairchem_worker.py`` in the environment ``python -m benchmarks.peers build
  fairchem`` makes; skipped with one line when that is missing.

Hyperparameters: the CPU recipe of ``examples/train_acac_equiformer_v2.yaml`` (32 channels, 4
layers, mmax 2, grid MLP, layer_norm_sh) with fairchem's fixed 600-Gaussian basis, 5 Å cutoff and
every neighbour inside it (fairchem's ``max_neighbors`` set high), random weights. Data:
``../shared/data/botnet/3bpa`` (skipped when missing); the water box is built here.

    python benchmarks/bench_sphere_models.py --lmax 2 4 6 --threads 1 --json eqv2_speed.json
    python benchmarks/bench_sphere_models.py --lmax 2 6 --systems "3bpa x32" --profile   # per-op tables

``--profile`` prints, instead of timing, torch.profiler's table of the operators with the most self
CPU time for ours (conservative and direct) and fairchem's at each ``lmax``, graph / batch building
included as in the timings; ``--ours-only`` leaves fairchem out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_inference import DATA, water_box  # noqa: E402
from benchmarks.peers import peer_python  # noqa: E402

WORKER = Path(__file__).resolve().parent / "peers" / "fairchem_worker.py"
SIZE = dict(sphere_channels=32, num_layers=4, attn_hidden_channels=32, num_heads=4, attn_alpha_channels=8,
            attn_value_channels=8, ffn_hidden_channels=64, edge_channels=32, norm_type="layer_norm_sh",
            use_grid_mlp=True)
CUTOFF = 5.0


def ours_config(lmax: int) -> dict:
    return dict(SIZE, elements=[1, 6, 7, 8], lmax=lmax, mmax=min(2, lmax), cutoff=CUTOFF, num_distance_basis=600,
                alpha_drop=0.0, drop_path_rate=0.0, direct_forces=True)


def fairchem_config(lmax: int) -> dict:
    return dict(SIZE, lmax_list=[lmax], mmax_list=[min(2, lmax)], max_radius=CUTOFF, max_neighbors=100000,
                alpha_drop=0.0, drop_path_rate=0.0, num_sphere_samples=128)


def systems() -> dict[str, list]:
    import ase.io

    out = {}
    path = DATA / "3bpa" / "train_300K.xyz"
    if path.is_file():
        out["3bpa x32"] = ase.io.read(path, index=":32")
    else:
        print(f"[skip] 3bpa x32: {path} is missing (expected ../shared/data/botnet)")
    out["water 1536"] = [water_box(512)]
    return out


def ours_call(lmax: int, frames: list, direct: bool):
    """``(call, model)``: one E+F call of ours on ``frames``, graph building included.

    Direct forces need no autograd, so that call runs under ``no_grad`` (as fairchem's is timed).
    """
    from irreps.data import atoms_to_graph, collate
    from irreps.models import build_model

    torch.manual_seed(0)
    model = build_model("equiformer_v2", ours_config(lmax)).eval()

    def call() -> Tensor:
        graph = collate([atoms_to_graph(a, CUTOFF, keys=None) for a in frames])
        with torch.no_grad() if direct else contextlib.nullcontext():
            out = model(graph, compute_forces=not direct, direct_forces=direct)
        forces = out["direct_forces" if direct else "forces"]
        if forces.shape != (graph.num_atoms, 3):
            raise RuntimeError(f"forces of shape {tuple(forces.shape)} for {graph.num_atoms} atoms")
        return forces

    return call, model


def time_ours(lmax: int, frames: list, direct: bool, repeat: int, warmup: int) -> float:
    call, _ = ours_call(lmax, frames, direct)
    times = []
    for k in range(warmup + repeat):
        start = time.perf_counter()
        call()
        if k >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def profile_ours(lmax: int, name: str, frames: list, direct: bool, threads: int, rows: int) -> None:
    from benchmarks.profile_table import op_table

    call, _ = ours_call(lmax, frames, direct)
    kind = "direct forces (no_grad)" if direct else "conservative forces (-dE/dx)"
    print(f"## irreps EquiformerV2 lmax {lmax}, {kind}, {name} ({sum(len(a) for a in frames)} atoms), float32, "
          f"{threads} thread(s), graph building included")
    print(op_table(call, rounds=3, row_limit=rows, warmup=1), flush=True)


def run_fairchem(python: str, lmax: int, frames: list, threads: int, repeat: int, warmup: int,
                 profile_rows: int = 0) -> dict | None:
    """The worker's JSON answer (``timing``, or ``profile`` with ``profile_rows``); None if it failed."""
    import ase.io

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.xyz"
        ase.io.write(path, frames)
        command = [python, str(WORKER), "--model", "equiformer_v2", "--config", json.dumps(fairchem_config(lmax)),
                   "--time", str(path), "--frames", str(len(frames)), "--batch", str(len(frames)),
                   "--repeat", str(repeat), "--warmup", str(warmup), "--threads", str(threads)]
        if profile_rows:
            command += ["--profile", str(profile_rows)]
        run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        print(f"[fail] fairchem lmax {lmax}: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else run.returncode}")
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def time_fairchem(python: str, lmax: int, frames: list, threads: int, repeat: int, warmup: int) -> float | None:
    answer = run_fairchem(python, lmax, frames, threads, repeat, warmup)
    return None if answer is None else answer["timing"]["seconds_per_call"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lmax", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--systems", nargs="+", default=None, help="subset of: 3bpa x32, water 1536")
    parser.add_argument("--json", type=Path, help="write the records here")
    parser.add_argument("--profile", action="store_true", help="print per-operator profiles instead of timing")
    parser.add_argument("--rows", type=int, default=25, help="operators per --profile table")
    parser.add_argument("--ours-only", action="store_true", help="leave fairchem out (timing or --profile)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    python = None if args.ours_only else peer_python("fairchem")
    if args.profile:
        for name, frames in systems().items():
            if args.systems and name not in args.systems:
                continue
            for lmax in args.lmax:
                profile_ours(lmax, name, frames, False, args.threads, args.rows)
                profile_ours(lmax, name, frames, True, args.threads, args.rows)
                answer = None if python is None else run_fairchem(str(python), lmax, frames, args.threads, 3, 1,
                                                                   args.rows)
                if answer is not None:
                    print(f"## fairchem EquiformerV2 lmax {lmax}, direct forces (no_grad), {name}, float32, "
                          f"{args.threads} thread(s), batch building included")
                    print(answer["profile"], flush=True)
        return 0
    records = []
    print(f"{'system':12s} {'lmax':>4s} {'atoms':>6s} {'ours µs/atom':>13s} {'ours direct':>12s} "
          f"{'fairchem':>12s} {'fairchem/ours direct':>21s}", flush=True)
    for name, frames in systems().items():
        if args.systems and name not in args.systems:
            continue
        atoms = sum(len(a) for a in frames)
        for lmax in args.lmax:
            row = {"system": name, "lmax": lmax, "atoms": atoms, "threads": args.threads, "dtype": "float32",
                   "ours_s": time_ours(lmax, frames, False, args.repeat, args.warmup),
                   "ours_direct_s": time_ours(lmax, frames, True, args.repeat, args.warmup),
                   "fairchem_s": None if python is None else
                   time_fairchem(str(python), lmax, frames, args.threads, args.repeat, args.warmup)}
            records.append(row)
            us = lambda s: "-" if s is None else f"{1e6 * s / atoms:.0f}"  # noqa: E731
            ratio = "-" if row["fairchem_s"] is None else f"{row['fairchem_s'] / row['ours_direct_s']:.2f}x"
            print(f"{name:12s} {lmax:4d} {atoms:6d} {us(row['ours_s']):>13s} {us(row['ours_direct_s']):>12s} "
                  f"{us(row['fairchem_s']):>12s} {ratio:>21s}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
