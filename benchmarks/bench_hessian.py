"""Direct (HIP head) vs autograd Hessians: accuracy on GFN2-xTB Hessians and time per Hessian.

Accuracy: for acac and ethanol (``../shared/data/hessians``), two backbones (``--model``:
TensorNet or EquiformerV2) of the same size are trained for ``--max-minutes`` each on a subsample of the training set: one with the
Hessian head on energy + forces + Hessian, one on energy + forces only. On the test set
(subsampled) the table gives the Hessian MAE (eV/Å^2), eigenvalue MAE and harmonic-frequency
MAE (cm^-1, mass-weighted, rigid-body modes projected out) of
  * the head model's direct Hessian,
  * the head model's own autograd Hessian (second derivatives of its energy),
  * the E/F-only model's autograd Hessian (the usual way to get Hessians from an MLIP).
Several ``--eigen-weight`` values train one head model per value; the one with the lowest
frequency MAE of its direct Hessians on the held-out 10% of the training file is reported (the
choice never sees the test set), and the table lists every candidate's validation figures.

Timing: one backbone with the head (H, C, N, O; same hyperparameters, untrained weights:
the cost does not depend on their values) on acac (15 atoms), 3BPA (27 atoms,
``../shared/data/botnet/3bpa``) and a 102-atom water cluster built with ASE; median over
repeats after warm-up of: the direct Hessian (one forward pass, no gradients), the autograd
Hessian with one backward pass per row (3N passes) and, for reference, the autograd Hessian
with the rows vectorised (``is_grads_batched``, vmap; reported unavailable when an operation
of the model cannot be vmapped). Warm-up: 2 runs for direct, 1 for autograd.

Usage::

    python benchmarks/bench_hessian.py --device cpu --max-minutes 3 --json hessian.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from irreps.data import AtomicGraph, atoms_to_graph, collate, read_graphs, split_indices
from irreps.models import build_model
from irreps.train.config import LossConfig, OptimConfig, RunConfig
from irreps.train.hessian_metrics import autograd_hessian, evaluate_hessians
from irreps.train.metrics import ErrorAccumulator
from irreps.train.trainer import Trainer

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CUTOFF = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--max-minutes", type=float, default=3.0, help="training time of each model (default 3)")
    p.add_argument("--epochs", type=int, default=None,
                   help="train both models for this many epochs with a cosine decay (equal-epoch comparison; "
                        "--max-minutes stays a safety cap); default: plateau schedule until --max-minutes")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch order (the data split is fixed)")
    p.add_argument("--jobs", type=int, default=1,
                   help="train the models (2 per dataset) in this many processes at once, --threads each")
    p.add_argument("--datasets", nargs="+", choices=("acac", "ethanol"), default=["acac", "ethanol"])
    p.add_argument("--max-train", type=int, default=300, help="training structures used (of 300; 10%% held out)")
    p.add_argument("--max-test", type=int, default=50, help="test structures evaluated (of 150)")
    p.add_argument("--model", choices=("tensornet", "equiformer_v2"), default="tensornet", help="the backbone")
    p.add_argument("--lmax", type=int, default=2, help="EquiformerV2's lmax (default 2)")
    p.add_argument("--hidden-dim", type=int, default=32, help="channels (TensorNet hidden_dim, EquiformerV2 sphere_channels)")
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--hessian-weight", type=float, default=1.0)
    p.add_argument("--eigen-weight", type=float, nargs="+", default=[0.0],
                   help="weight(s) of the eigenvalue-aware term (loss.hessian_eigen) for the head model; with "
                        "several, one head model per value and the lowest validation frequency MAE is reported")
    p.add_argument("--hessian-cutoff", type=float, default=None, help="Hessian head pair cutoff (Å); default all pairs")
    p.add_argument("--sum-rule", action="store_true", help="diagonal blocks from the symmetrised acoustic sum rule")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--repeats", type=int, default=5, help="timed repeats (median; at most 3 for autograd)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--skip-timing", action="store_true")
    p.add_argument("--json", type=Path, help="write the records to this file")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help=f"holds hessians/ and botnet/3bpa/ (default {DEFAULT_DATA})")
    return p.parse_args(argv)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def backbone(
    args: argparse.Namespace, elements: list[int], hessian_head: bool, hessian_scale: float = 1.0, **extra
) -> torch.nn.Module:
    """The ``--model`` network at ``--hidden-dim`` channels and ``--num-layers`` layers (+ the head)."""
    c = args.hidden_dim
    if args.model == "tensornet":
        options = dict(hidden_dim=c, num_layers=args.num_layers)
    else:  # EquiformerV2 shaped like examples/train_acac_equiformer_v2.yaml, C channels
        options = dict(lmax=args.lmax, mmax=min(2, args.lmax), sphere_channels=c, num_layers=args.num_layers,
                       attn_hidden_channels=c, num_heads=4, attn_alpha_channels=8, attn_value_channels=max(c // 4, 1),
                       ffn_hidden_channels=2 * c, edge_channels=c, num_distance_basis=64, norm_type="layer_norm_sh",
                       use_grid_mlp=True, alpha_drop=0.0, drop_path_rate=0.0)
    options.update(elements=elements, cutoff=CUTOFF, **extra)
    if hessian_head:
        options.update(hessian_head=True, hessian=dict(scale=hessian_scale, cutoff=args.hessian_cutoff, sum_rule=args.sum_rule))
    return build_model(args.model, options)


# -- accuracy --------------------------------------------------------------------------------------

def load_dataset(name: str, args: argparse.Namespace) -> tuple[list[AtomicGraph], list[AtomicGraph], list[AtomicGraph]]:
    required = ("energy", "forces", "hessian")
    train = read_graphs(args.data_dir / "hessians" / f"{name}_train.xyz", CUTOFF, required=required, dtype=torch.float64)
    test = read_graphs(args.data_dir / "hessians" / f"{name}_test.xyz", CUTOFF, required=required, dtype=torch.float64)
    rng = np.random.default_rng(0)
    train = [train[i] for i in sorted(rng.choice(len(train), min(args.max_train, len(train)), replace=False))]
    test = [test[i] for i in sorted(rng.choice(len(test), min(args.max_test, len(test)), replace=False))]
    fit_idx, valid_idx = split_indices(len(train), (0.9, 0.1), seed=0)
    return [train[i] for i in fit_idx], [train[i] for i in valid_idx], test


def normalisation(train: list[AtomicGraph]) -> dict[str, float]:
    """Per-atom energy shift, force RMS (energy scale) and Hessian-entry RMS of the training set."""
    energy = torch.stack([g.targets["energy"].sum() / g.num_atoms for g in train])
    forces = torch.cat([g.targets["forces"].reshape(-1) for g in train])
    hessian = torch.cat([g.targets["hessian"] for g in train])
    return {
        "shift": float(energy.mean()),
        "scale": float(forces.square().mean().sqrt()),
        "hessian_scale": float(hessian.square().mean().sqrt()),
    }


def train_model(model, train, valid, loss: LossConfig, args, device, label: str) -> tuple[torch.nn.Module, dict]:
    cast = lambda graphs: [g.to(device=device, dtype=torch.float32) for g in graphs]  # noqa: E731
    if args.epochs is None:
        optim, epochs = OptimConfig(lr=args.lr, plateau_patience=10), 100_000
    else:
        optim, epochs = OptimConfig(lr=args.lr, schedule="cosine", warmup_epochs=2, min_lr=args.lr / 100), args.epochs
    trainer = Trainer(
        model.to(device=device, dtype=torch.float32), cast(train), cast(valid), optim, loss,
        RunConfig(epochs=epochs, max_minutes=args.max_minutes, progress=False, seed=args.seed),
        batch_size=args.batch_size, valid_batch_size=32, log=lambda line: print(f"  [{label}] {line}", flush=True),
    )
    trainer.fit()
    model.load_state_dict(trainer.best_weights)
    return model.eval(), {"epochs": trainer.epoch, "best_epoch": trainer.best_epoch, "seconds": trainer.train_seconds}


def energy_force_errors(model, test, device) -> dict[str, float]:
    errors = ErrorAccumulator()
    for start in range(0, len(test), 16):
        batch = collate(test[start : start + 16]).to(device=device, dtype=torch.float32)
        errors.update({k: v.detach() for k, v in model(batch, compute_forces=True).items()}, batch)
    result = errors.result()
    return {"energy_mae_mev_atom": 1000 * result["energy_per_atom"]["mae"], "forces_mae_mev_a": 1000 * result["forces"]["mae"]}


def accuracy_job(name: str, with_head: bool, eigen_weight: float, args: argparse.Namespace) -> dict:
    """Train one model (with the Hessian head on E+F+H, or E+F only) and evaluate its Hessians on the
    test set (and a head model's direct Hessians on the validation set, which chooses ``eigen_weight``)."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    train, valid, test = load_dataset(name, args)
    norm = normalisation(train)
    elements = sorted({int(z) for g in train for z in g.atomic_numbers})
    torch.manual_seed(args.seed)
    if with_head:
        model = backbone(args, elements, True, shift=norm["shift"], scale=norm["scale"], hessian_scale=norm["hessian_scale"])
        loss = LossConfig(energy=1.0, forces=10.0, hessian=args.hessian_weight, hessian_eigen=eigen_weight)
        label = f"{name} E+F+H eigen {eigen_weight:g}"
    else:
        model = backbone(args, elements, False, shift=norm["shift"], scale=norm["scale"])
        loss, label = LossConfig(energy=1.0, forces=10.0), f"{name} E+F"
    model, run = train_model(model, train, valid, loss, args, device, label)
    batched = lambda graphs: [collate(graphs[s : s + 10]).to(device=device, dtype=torch.float32)  # noqa: E731
                              for s in range(0, len(graphs), 10)]
    return {
        "sizes": (len(train), len(valid), len(test), norm["hessian_scale"]),
        "valid": evaluate_hessians(model, batched(valid), autograd=False).get("direct"),
        "metrics": evaluate_hessians(model, batched(test), autograd=True),
        "run": {**run, **energy_force_errors(model, test, device)},
    }


def run_accuracy(args: argparse.Namespace) -> list[dict]:
    """The head model(s) and the E+F model for every dataset, ``--jobs`` of them at a time (separate
    processes when > 1); of several head models, the one with the lowest validation frequency MAE."""
    jobs = [(name, True, w) for name in args.datasets for w in args.eigen_weight] + [(name, False, 0.0) for name in args.datasets]
    if args.jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(accuracy_job, *zip(*jobs), [args] * len(jobs)))
    else:
        results = [accuracy_job(*job, args) for job in jobs]
    done = dict(zip(jobs, results))
    records = []
    for name in args.datasets:
        candidates = {w: done[(name, True, w)] for w in args.eigen_weight}
        chosen = min(candidates, key=lambda w: candidates[w]["valid"]["freq_mae_cm1"])
        head, ef = candidates[chosen], done[(name, False, 0.0)]
        n_train, n_valid, n_test, scale = head["sizes"]
        print(f"\n{name}: {n_train} train / {n_valid} valid / {n_test} test structures, Hessian RMS {scale:.2f} eV/Å^2")
        hm, em = head["metrics"], ef["metrics"]
        records.append({
            "kind": "accuracy",
            "backbone": args.model,
            "dataset": name,
            "num_train": n_train,
            "num_test": n_test,
            "hessian_mae": hm["direct"]["hessian_mae"],
            "autograd_hessian_mae": em["autograd"]["hessian_mae"],
            "head_model_autograd_hessian_mae": hm["autograd"]["hessian_mae"],
            "freq_mae_cm1": hm["direct"]["freq_mae_cm1"],
            "autograd_freq_mae_cm1": em["autograd"]["freq_mae_cm1"],
            "head_model_autograd_freq_mae_cm1": hm["autograd"]["freq_mae_cm1"],
            "head_model_autograd_eigenvalue_mae": hm["autograd"]["eigenvalue_mae"],
            "eigenvalue_mae": hm["direct"]["eigenvalue_mae"],
            "autograd_eigenvalue_mae": em["autograd"]["eigenvalue_mae"],
            "head_model": head["run"],
            "ef_model": ef["run"],
            "eigen_weight": chosen,
            "eigen_candidates": [{"eigen_weight": w, "valid_freq_mae_cm1": c["valid"]["freq_mae_cm1"],
                                  "valid_hessian_mae": c["valid"]["hessian_mae"]} for w, c in candidates.items()],
        })
    return records


# -- timing ----------------------------------------------------------------------------------------

def water_cluster(num_molecules: int = 34, spacing: float = 3.0, seed: int = 0):
    """Water molecules on a jittered cubic grid, randomly oriented (O-H 0.96 Å, HOH 104.5°)."""
    import ase
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    half = math.radians(104.5) / 2
    local = np.array([[0, 0, 0], [0.96 * math.sin(half), 0, 0.96 * math.cos(half)], [-0.96 * math.sin(half), 0, 0.96 * math.cos(half)]])
    side = math.ceil(num_molecules ** (1 / 3))
    sites = np.array([(i, j, k) for i in range(side) for j in range(side) for k in range(side)])[:num_molecules] * spacing
    positions = []
    for site, rot in zip(sites, Rotation.random(num_molecules, random_state=seed).as_matrix()):
        positions.append(site + 0.1 * rng.normal(size=3) + local @ rot.T)
    return ase.Atoms("OH2" * num_molecules, positions=np.concatenate(positions))


def timing_systems(data_dir: Path):
    import ase.io

    systems = {
        "acac": ase.io.read(data_dir / "hessians" / "acac_test.xyz", 0),
        "3BPA": ase.io.read(data_dir / "botnet" / "3bpa" / "train_300K.xyz", 0),
    }
    systems["water cluster"] = water_cluster()
    return systems


def vmap_hessian(model: torch.nn.Module, graph: AtomicGraph) -> torch.Tensor:
    """Autograd Hessian with all rows in one vectorised backward pass (single structure)."""
    positions = graph.positions.detach().clone().requires_grad_(True)
    energy = model(replace(graph, positions=positions), compute_forces=False)["energy"].sum()
    (gradient,) = torch.autograd.grad(energy, positions, create_graph=True)
    n = gradient.numel()
    eye = torch.eye(n, dtype=gradient.dtype, device=gradient.device).view(n, *gradient.shape)
    (rows,) = torch.autograd.grad(gradient, positions, grad_outputs=eye, is_grads_batched=True)
    return rows.reshape(n, n)


def median_ms(fn, device: torch.device, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        tick = time.perf_counter()
        fn()
        sync(device)
        times.append(1000 * (time.perf_counter() - tick))
    return statistics.median(times)


def run_timing(args: argparse.Namespace, device: torch.device) -> list[dict]:
    torch.manual_seed(0)
    model = backbone(args, [1, 6, 7, 8], True).to(device=device, dtype=torch.float32).eval()
    records = []
    for name, atoms in timing_systems(args.data_dir).items():
        graph = atoms_to_graph(atoms, CUTOFF, keys=None, dtype=torch.float32).to(device=device)

        def direct():
            with torch.no_grad():
                return model(graph, compute_forces=False)["hessian"]

        methods = {
            "direct": direct,
            "autograd": lambda: autograd_hessian(model, graph),
            "autograd_vmap": lambda: vmap_hessian(model, graph),
        }
        repeats = {"direct": args.repeats, "autograd": max(1, min(args.repeats, 3)), "autograd_vmap": max(1, min(args.repeats, 3))}
        for method, fn in methods.items():
            try:
                ms = median_ms(fn, device, repeats[method], warmup=2 if method == "direct" else 1)
            except RuntimeError as err:  # vmap needs every op of the model to be batchable
                print(f"  {name}: {method} unavailable ({str(err).splitlines()[0][:120]})", flush=True)
                continue
            records.append({"kind": "timing", "backbone": args.model, "system": name, "atoms": len(atoms), "method": method,
                            "ms_per_hessian": ms, "device": device.type, "threads": torch.get_num_threads()})
            print(f"  {name:14s} {len(atoms):4d} atoms  {method:14s} {ms:10.2f} ms", flush=True)
    return records


# -- output ----------------------------------------------------------------------------------------

def accuracy_table(records: list[dict]) -> str:
    lines = [
        f"Test-set Hessian errors ({records[0].get('backbone', 'tensornet') if records else ''} backbone, same size; "
        "H+: trained on E+F+Hessian with the head; EF: E+F only)",
        f"{'dataset':8s} {'Hessian':>26s} {'MAE eV/Å²':>10s} {'eig MAE':>9s} {'freq MAE cm⁻¹':>14s} {'E meV/atom':>11s} {'F meV/Å':>8s}",
    ]
    for r in records:
        rows = [
            ("H+ direct (head)", r["hessian_mae"], r["eigenvalue_mae"], r["freq_mae_cm1"], r["head_model"]),
            ("H+ autograd (same model)", r["head_model_autograd_hessian_mae"], r["head_model_autograd_eigenvalue_mae"],
             r["head_model_autograd_freq_mae_cm1"], r["head_model"]),
            ("EF autograd", r["autograd_hessian_mae"], r["autograd_eigenvalue_mae"], r["autograd_freq_mae_cm1"], r["ef_model"]),
        ]
        for label, mae, eig, freq, m in rows:
            lines.append(f"{r['dataset']:8s} {label:>26s} {mae:10.3f} {eig:9.3f} {freq:14.1f} "
                         f"{m['energy_mae_mev_atom']:11.2f} {m['forces_mae_mev_a']:8.1f}")
        lines.append(f"{'':8s} ratio EF-autograd / H+-direct Hessian MAE: {r['autograd_hessian_mae'] / r['hessian_mae']:.2f}; "
                     f"epochs H+ {r['head_model']['epochs']}, EF {r['ef_model']['epochs']}")
        if len(r.get("eigen_candidates", ())) > 1:
            lines.append(f"{'':8s} eigen weight {r['eigen_weight']:g} chosen on validation (freq MAE cm⁻¹ / Hessian MAE): "
                         + ", ".join(f"{c['eigen_weight']:g}: {c['valid_freq_mae_cm1']:.1f} / {c['valid_hessian_mae']:.3f}"
                                     for c in r["eigen_candidates"]))
    return "\n".join(lines)


def timing_table(records: list[dict]) -> str:
    by = {(r["system"], r["method"]): r for r in records}
    systems = list(dict.fromkeys(r["system"] for r in records))
    lines = [
        f"Time per Hessian ({records[0]['device']}, {records[0]['threads']} thread(s), float32, median; ms)",
        f"{'system':14s} {'atoms':>5s} {'direct':>10s} {'autograd':>10s} {'vmap':>10s} {'autograd/direct':>16s} {'vmap/direct':>12s}",
    ]
    for s in systems:
        d, a, v = (by[(s, m)]["ms_per_hessian"] if (s, m) in by else float("nan") for m in ("direct", "autograd", "autograd_vmap"))
        lines.append(f"{s:14s} {by[(s, 'direct')]['atoms']:5d} {d:10.2f} {a:10.2f} {v:10.2f} {a / d:16.1f} {v / d:12.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: CUDA is not available here", file=sys.stderr)
        return 2
    missing = [p for p in (args.data_dir / "hessians", args.data_dir / "botnet" / "3bpa" / "train_300K.xyz") if not p.exists()]
    if missing:
        print(f"missing data: {', '.join(map(str, missing))} (pass --data-dir, or put shared/data next to the repository)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    records = []
    if not args.skip_timing:
        print("timing direct vs autograd Hessians", flush=True)
        timing = run_timing(args, device)
        records += timing
    if not args.skip_training:
        accuracy = run_accuracy(args)
        records += accuracy
        print("\n" + accuracy_table(accuracy))
    if not args.skip_timing:
        print("\n" + timing_table(timing))
    if args.json is not None:
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "records": records}, indent=1))
        os.replace(tmp, args.json)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
