"""Learned canonicalisation vs PCA frame averaging vs augmentation on an E(3) x S_N-invariant point-cloud task.

Each cloud has N = 10 points drawn from N(0, diag(3, 2, 1)) (then randomly rotated, reflected and
translated); the target is the Gaussian pair sum ``y = (1/N) sum_{i<j} exp(-|x_i - x_j|^2 / 2)``.
Every method wraps the same backbone, an MLP on the points sorted by their first coordinate
(so permutation invariance comes from the backbone and only the rotation handling differs):

- augment: the backbone on centred clouds, trained with random O(3) elements (not invariant);
- frame averaging: `FrameAveraging(backbone, "O")`, 8 PCA frames per cloud;
- canonicalised: `Canonicalized(backbone, PointCloudCanonicalizer(3))`, one learned frame per
  cloud, trained end to end, with the orbit-distance loss (weight ``--orbit-weight``) or without.

Adam, ``--steps`` steps of batch 64; the state with the lowest validation MSE (checked every 100
steps) is tested. Reported: test MSE (mean ± sd over seeds), the largest change of the prediction
under a random O(3) element + translation + permutation of the test clouds, forward time per batch
of 256 (median of 20), parameters.

    python benchmarks/bench_symmetrize.py [--steps 1500] [--seeds 3] [--json out.json]

One thread, float32.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from benchmarks.json_out import write_json  # noqa: E402
from irreps.groups.frame_averaging import FrameAveraging  # noqa: E402
from irreps.groups.symmetrize import Canonicalized, PointCloudCanonicalizer, orbit_distance  # noqa: E402

N, D = 10, 3
METHODS = ["augment", "frame averaging", "canonicalised", "canonicalised, no orbit loss"]


def random_orthogonal(batch: int, generator: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(batch, D, D, generator=generator))
    return q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]


def clouds(num: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(num, N, D, generator=generator) * torch.tensor([3.0, 2.0, 1.0]).sqrt()
    x = x @ random_orthogonal(num, generator).transpose(1, 2) + torch.randn(num, 1, D, generator=generator)
    diff = x[:, :, None] - x[:, None]
    pair = torch.exp(-(diff**2).sum(-1) / 2).triu(1).sum((1, 2)) / N
    return x, pair[:, None]


class SortedMLP(torch.nn.Module):
    """Permutation-invariant backbone: sort points by their first coordinate, then an MLP."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(N * D, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, hidden),
                                       torch.nn.SiLU(), torch.nn.Linear(hidden, 1))

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        order = pos[..., 0].argsort(dim=1)
        return self.net(pos.gather(1, order[..., None].expand_as(pos)).reshape(pos.shape[0], -1))


class Centred(torch.nn.Module):
    def __init__(self, backbone: torch.nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        return self.backbone(pos - pos.mean(1, keepdim=True))


def build(method: str) -> torch.nn.Module:
    if method == "augment":
        return Centred(SortedMLP())
    if method == "frame averaging":
        return FrameAveraging(SortedMLP(), group="O")
    return Canonicalized(SortedMLP(), PointCloudCanonicalizer(D, hidden_dim=32))


def run(method: str, seed: int, data: dict, args) -> dict:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(100 + seed)
    model = build(method)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    x, y = data["train"]
    y_mean, y_std = y.mean(), y.std()
    orbit_weight = args.orbit_weight if method == "canonicalised" else 0.0
    best, best_state = float("inf"), None
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(x), (64,), generator=gen)
        xb = x[idx]
        if method == "augment":
            xb = xb @ random_orthogonal(64, gen).transpose(1, 2)
        loss = ((model(xb) - (y[idx] - y_mean) / y_std) ** 2).mean()
        if orbit_weight:
            z, h = model.frame(xb)
            loss = loss + orbit_weight * orbit_distance(z, h).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == args.steps:
            with torch.no_grad():
                val = float(((model(data["val"][0]) * y_std + y_mean - data["val"][1]) ** 2).mean())
            if val < best:
                best, best_state = val, copy.deepcopy(model.state_dict())
    train_s = time.perf_counter() - start
    model.load_state_dict(best_state)
    tx, ty = data["test"]
    with torch.no_grad():
        pred = model(tx) * y_std + y_mean
        g = random_orthogonal(len(tx), torch.Generator().manual_seed(7))
        moved = (tx @ g.transpose(1, 2) + torch.randn(len(tx), 1, D, generator=gen))[:, torch.randperm(N, generator=gen)]
        inv = float((model(moved) * y_std + y_mean - pred).abs().max())
        batch = tx[:256]
        model(batch)
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            model(batch)
            times.append(time.perf_counter() - t0)
    return {"method": method, "seed": seed, "test_mse": float(((pred - ty) ** 2).mean()), "val_mse": best,
            "invariance_error": inv, "forward_ms": 1e3 * statistics.median(times), "train_s": train_s,
            "params": sum(p.numel() for p in model.parameters())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--orbit-weight", type=float, default=0.1, help="weight of the orbit-distance loss")
    parser.add_argument("--json", help="write the records to this path")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = {"train": clouds(args.train_size, torch.Generator().manual_seed(1)),
            "val": clouds(500, torch.Generator().manual_seed(2)), "test": clouds(2000, torch.Generator().manual_seed(3))}
    start = time.perf_counter()
    records = []
    for method in METHODS:
        for seed in range(args.seeds):
            records.append(run(method, seed, data, args))
            print(f"  {method} seed={seed}: test MSE {records[-1]['test_mse']:.5f}", flush=True)
    wall = time.perf_counter() - start
    print(f"\nE(3) x S_{N} pair-sum regression, {args.train_size} training clouds, {args.steps} steps, {args.seeds} seeds, "
          f"1 thread, float32 (wall time {wall:.0f} s; target variance {float(data['test'][1].var()):.5f})")
    print(f"{'method':>28} {'params':>7} {'test MSE (mean ± sd)':>22} {'max |f(gx)-f(x)|':>16} {'fwd ms/256':>10} {'train s':>8}")
    for method in METHODS:
        rs = [r for r in records if r["method"] == method]
        errs = [r["test_mse"] for r in rs]
        sd = statistics.stdev(errs) if len(errs) > 1 else 0.0
        print(f"{method:>28} {rs[0]['params']:>7} {statistics.mean(errs):>12.5f} ± {sd:<7.5f} "
              f"{max(r['invariance_error'] for r in rs):>16.2e} {statistics.median(r['forward_ms'] for r in rs):>10.2f} "
              f"{statistics.mean(r['train_s'] for r in rs):>8.1f}")
    if args.json:
        write_json(args.json, {"args": vars(args), "wall_s": wall, "records": records})


if __name__ == "__main__":
    main()
