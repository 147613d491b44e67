"""Training-step benchmark: the eager step against the compiled one (``run.compile``).

A step here is what the trainer does per batch: energy and forces, the loss, gradients (the
second derivative included), clipping, AMSGrad and the EMA update. The model, batch size and
data are those of ``benchmarks/train_acac.py`` (TensorNet 128 x 2, 32 radial functions, 5 Å;
acac batch 4, ethanol batch 8; float32). Each variant starts from the same weights and runs
the same batches; the table gives the median over repeats of the mean step time, the first
compiled call's time (recording and compilation; torch's on-disk cache shortens it on later
runs), and how far the compiled step's first loss and gradient vector are from the eager ones
(relative differences; float32 rounding puts them near 1e-7..1e-6).

    python benchmarks/bench_train_step.py                  # both datasets, one thread
    python benchmarks/bench_train_step.py --threads 2 --json steps.json
    python benchmarks/bench_train_step.py --dataset acac --batch-size 5 --profile

``--profile`` prints torch.profiler's table of the operators with the most self CPU time in
the eager step (forward, forces, loss, both backward passes; no optimiser) instead of timing.

NequIP on the same batches, in the same run: where ``python -m benchmarks.peers build nequip``
has made its virtualenv, ``nequip_train_step.py`` times NequIP's step there (preset "S" and the
side-by-side benchmark's recommended l_max 2 model; forces by autograd, per-atom energy and force
MSE, Adam, EMA), after ours, with the same thread count; without it one "[skip]" line is printed.
The issue's workload is ``--dataset acac --batch-size 5``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from train_acac import DATASETS, DEFAULT_DATA, RECIPE

NEQUIP_SIZES = ("S", "recommended")


def _setup(name: str, data: Path, seed: int = 0, batch_size: int | None = None):
    """Config, model, a trainer factory and the prepared data for ``name``; ``seed`` picks the split,
    ``batch_size`` overrides the recipe's."""
    import torch

    from irreps.train.config import load_config
    from irreps.train.run import model_options, prepare_data, build_model, seed_everything
    from irreps.train.trainer import Trainer

    spec = DATASETS[name]
    config = load_config(RECIPE, [
        f"data.train_file={data / spec['train']}", "data.test_file=null",
        f"data.isolated_atoms_file={data / spec['isolated']}", f"data.valid_fraction={spec['valid_fraction']}",
        f"data.batch_size={batch_size or spec['recipe']['data.batch_size']}", "run.progress=false", "run.compile=false",
    ])
    seed_everything(seed)
    prepared = prepare_data(config.data, config.loss.weights(), seed, log=lambda line: None)
    prepared = prepared.cast(torch.float32, torch.device("cpu"))
    model = build_model(config.model.name, model_options(config, prepared))
    trainer = lambda m, run: Trainer(  # noqa: E731
        m, prepared.train, prepared.valid, config.optim, config.loss, run, config.data.batch_size,
        config.data.valid_batch_size, run_dir=Path(tempfile.mkdtemp()), log=lambda line: None,
    )
    return config, model, trainer, prepared


def _time_steps(trainer, batches, compiled: bool, repeats: int) -> list[float]:
    """Mean seconds per step for each repeat over ``batches`` (after 4 warm-up steps)."""
    import torch

    model, loss, optimizer = trainer.model, trainer.loss, trainer.optimizer
    model.train()

    def step(batch):
        optimizer.zero_grad(set_to_none=True)
        if compiled:
            trainer.compiled_step(batch)
        else:
            total, _ = loss(model(batch, **loss.prediction_flags()), batch)
            total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), trainer.optim_config.grad_clip)
        optimizer.step()
        trainer.ema.update(model)

    for batch in batches[:4]:
        step(batch)
    means = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            step(batch)
        means.append((time.perf_counter() - start) / len(batches))
    return means


def _agreement(model, trainer, batch) -> tuple[float, float, float]:
    """How far the compiled step is from the eager one on one batch: the relative difference of
    the loss and of the whole gradient vector (one norm over every parameter: a parameter whose
    gradient is ~0, such as the last bias under a per-atom energy shift, has no meaningful
    relative error of its own in float32), and the seconds the first compiled call took
    (recording and compilation included)."""
    import torch

    loss = trainer.loss
    params = list(model.parameters())
    total, _ = loss(model(batch, **loss.prediction_flags()), batch)
    eager_grads = torch.cat([g.flatten() for g in torch.autograd.grad(total, params)])
    eager_total = total.detach()
    for p in params:
        p.grad = None
    start = time.perf_counter()
    total, _ = trainer.compiled_step(batch)
    seconds = time.perf_counter() - start
    grads = torch.cat([p.grad.flatten() for p in params])
    for p in params:
        p.grad = None
    loss_diff = float((total.detach() - eager_total).abs() / eager_total.abs())
    return loss_diff, float((grads - eager_grads).norm() / eager_grads.norm()), seconds


def profile_eager(name: str, args: argparse.Namespace) -> None:
    """Print the per-operator profile of the eager step (loss with forces, then backward)."""
    from profile_table import op_table

    config, model, make_trainer, _ = _setup(name, args.data_dir, batch_size=args.batch_size)
    trainer = make_trainer(model, config.run)
    batch = next(iter(trainer.train_loader))
    model.train()
    loss = trainer.loss

    def step():
        model.zero_grad(set_to_none=True)
        loss(model(batch, **loss.prediction_flags()), batch)[0].backward()

    print(f"## eager training step, {name}, {batch.num_graphs} structures ({int(batch.num_atoms)} atoms, "
          f"{batch.edge_index.shape[1]} edges), float32, {args.threads} thread(s)")
    print(op_table(step, rounds=10), flush=True)


def _export_batches(batches, e0s: dict[int, float], path: Path) -> None:
    """The structures of ``batches`` (numbers, positions, energy, forces) and the E0s, for a peer."""
    import numpy as np
    from ase.data import chemical_symbols

    arrays = {"num_batches": len(batches), "types": [chemical_symbols[z] for z in sorted(e0s)],
              "e0s": [e0s[z] for z in sorted(e0s)]}
    for b, batch in enumerate(batches):
        counts = batch.batch.bincount(minlength=batch.num_graphs).tolist()
        arrays[f"z{b}"] = np.stack([z.numpy() for z in batch.atomic_numbers.split(counts)])
        arrays[f"pos{b}"] = np.stack([p.double().numpy() for p in batch.positions.split(counts)])
        arrays[f"energy{b}"] = batch.targets["energy"].double().numpy()
        arrays[f"forces{b}"] = np.stack([f.numpy() for f in batch.targets["forces"].split(counts)])
    np.savez(path, **arrays)


def nequip_steps(batches, e0s: dict[int, float], args: argparse.Namespace) -> dict[str, dict]:
    """NequIP's step times on the same batches, per size, from its own virtualenv ({} if absent)."""
    import os
    import subprocess

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.peers import peer_python

    python = peer_python("nequip")
    if python is None:
        return {}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batches.npz"
        _export_batches(batches, e0s, path)
        for size in NEQUIP_SIZES:
            command = [str(python), str(Path(__file__).with_name("nequip_train_step.py")), str(path), "--size", size,
                       "--repeats", str(args.repeats), "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
            if done.returncode != 0:
                print(f"[skip] NequIP {size}: its step failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            out[size] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def run(name: str, args: argparse.Namespace) -> dict:
    import torch

    config, model, make_trainer, prepared = _setup(name, args.data_dir, batch_size=args.batch_size)
    eager_trainer = make_trainer(copy.deepcopy(model), config.run)
    batches = [b for b in eager_trainer.train_loader][: args.batches]
    eager = _time_steps(eager_trainer, batches, compiled=False, repeats=args.repeats)
    compiled_trainer = make_trainer(copy.deepcopy(model), dataclasses.replace(config.run, compile=True))
    loss_diff, grad_diff, capture = _agreement(compiled_trainer.model, compiled_trainer, batches[0])
    compiled = _time_steps(compiled_trainer, batches, compiled=True, repeats=args.repeats)
    peers = {} if args.no_peers else nequip_steps(batches, prepared.e0s, args)
    return {
        "dataset": name, "batch": config.data.batch_size, "atoms": int(batches[0].num_atoms),
        "threads": torch.get_num_threads(),
        "eager_ms": 1000 * statistics.median(eager), "compiled_ms": 1000 * statistics.median(compiled),
        "speedup": statistics.median(eager) / statistics.median(compiled),
        "capture_s": capture, "loss_rel_diff": loss_diff, "grad_rel_diff": grad_diff,
        "params": sum(p.numel() for p in model.parameters()),
        **{f"nequip_{size}_ms": statistics.median(r["step_ms"]) for size, r in peers.items()},
        **{f"nequip_{size}_params": r["params"] for size, r in peers.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", nargs="+", choices=sorted(DATASETS), default=["acac", "ethanol"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, default=40, help="batches per repeat (default 40)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder holding acac/ and ethanol/")
    parser.add_argument("--batch-size", type=int, help="structures per step (default: the recipe's)")
    parser.add_argument("--profile", action="store_true", help="print the eager step's per-operator profile instead")
    parser.add_argument("--no-peers", action="store_true", help="time ours only (no NequIP)")
    parser.add_argument("--json", help="write one record per dataset to this file")
    args = parser.parse_args()
    missing = [args.data_dir / DATASETS[d][k] for d in args.dataset for k in ("train", "isolated")
               if not (args.data_dir / DATASETS[d][k]).is_file()]
    if missing:
        print("benchmark data missing (by default ../shared/data/botnet next to the repository; see --data-dir):",
              *[f"  {p.resolve()}" for p in missing], sep="\n", file=sys.stderr)
        return 1
    if args.json and Path(args.json).exists():
        print(f"{args.json} exists: not overwriting it", file=sys.stderr)
        return 1
    import torch

    torch.set_num_threads(args.threads)
    if args.profile:
        for name in args.dataset:
            profile_eager(name, args)
        return 0
    records = [run(name, args) for name in args.dataset]
    print(f"{'dataset':8} {'batch':>5} {'atoms':>5} {'threads':>7} {'eager ms':>9} {'compiled ms':>11} "
          f"{'speedup':>7} {'capture s':>9} {'loss diff':>9} {'grad diff':>9}")
    for r in records:
        print(f"{r['dataset']:8} {r['batch']:5d} {r['atoms']:5d} {r['threads']:7d} {r['eager_ms']:9.1f} "
              f"{r['compiled_ms']:11.1f} {r['speedup']:7.2f} {r['capture_s']:9.1f} {r['loss_rel_diff']:9.1e} {r['grad_rel_diff']:9.1e}")
    for r in records:
        for size in NEQUIP_SIZES:
            if f"nequip_{size}_ms" in r:
                ms = r[f"nequip_{size}_ms"]
                print(f"{r['dataset']}: NequIP {size} ({r[f'nequip_{size}_params']:,} params) {ms:.1f} ms per step, same batches; "
                      f"NequIP / ours ({r['params']:,} params): eager {ms / r['eager_ms']:.2f}, compiled {ms / r['compiled_ms']:.2f} (> 1: ours faster)")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
