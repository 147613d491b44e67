"""O(5)-invariant regression (the task of the EMLP, CGENN and GLGENN papers): CGENN vs GLGENN vs an MLP.

    f(x1, x2) = sin(|x1|) - |x2|^3 / 2 + x1.x2 / (|x1| |x2|),    x1, x2 ~ N(0, I_5)

(the formula of the CGENN code's ``O5Synthetic``). Inputs are scaled by one RMS per vector slot
and targets standardised, both from the training set; errors are MSE in the original units on a
fresh test set. Each model trains with Adam for ``--steps`` steps of ``--batch-size``; the state
with the lowest loss on a separate validation set (checked every 200 steps) is the one tested, so
nothing is chosen on the test set.

Models (both Clifford models feed the grade-0 part of 8 channels to the same 380-380 MLP head,
as in the GLGENN paper's O(5) runs):
- CGENN: linear mix -> GeometricProductLayer(sharing="grade", with its linear term);
- GLGENN: linear mix -> GeometricProductLayer(sharing="quaternion", without the linear term);
- MLP: the 10 raw coordinates -> 380 -> 380 -> 1 (not invariant).

    python benchmarks/bench_clifford.py [--sizes 30 300 3000] [--steps 1000] [--seeds 3] [--json out.json]

One thread, float32. Records: ``{"model", "train_size", "seed", "params", "clifford_params",
"test_mse", "val_mse", "invariance_error", "train_s"}``; ``invariance_error`` is the largest
change of the prediction under a random O(5) element (reflection included) on the test set.
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
from irreps.groups.clifford import CliffordAlgebra, CliffordRegressor, random_pseudo_orthogonal  # noqa: E402

MLP_DIM = 380
HIDDEN = 8


def o5_data(num: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``x [num, 2, 5]`` and ``y [num, 1]`` of the O(5) function."""
    x = torch.randn(num, 2, 5, generator=generator, dtype=torch.float64)
    n1, n2 = x[:, 0].norm(dim=-1), x[:, 1].norm(dim=-1)
    y = torch.sin(n1) - 0.5 * n2**3 + (x[:, 0] * x[:, 1]).sum(-1) / (n1 * n2)
    return x.float(), y[:, None].float()


class FlatMLP(torch.nn.Module):
    """The non-invariant baseline on the flattened coordinates."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(10, MLP_DIM), torch.nn.ReLU(), torch.nn.Linear(MLP_DIM, MLP_DIM),
                                       torch.nn.ReLU(), torch.nn.Linear(MLP_DIM, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], -1))


def build(name: str, algebra: CliffordAlgebra) -> torch.nn.Module:
    if name == "CGENN":
        return CliffordRegressor(algebra, 2, HIDDEN, MLP_DIM, sharing="grade", include_linear=True)
    if name == "GLGENN":
        return CliffordRegressor(algebra, 2, HIDDEN, MLP_DIM, sharing="quaternion", include_linear=False)
    return FlatMLP()


@torch.no_grad()
def mse(model, x, y, y_mean, y_std) -> float:
    return float(((model(x) * y_std + y_mean - y) ** 2).mean())


def run(name: str, train_size: int, seed: int, data: dict, args, algebra: CliffordAlgebra) -> dict:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(1000 + seed * 7919 + train_size)
    x, y = o5_data(train_size, gen)
    scale = x.pow(2).mean(dim=(0, 2)).sqrt()[None, :, None]  # one scalar per vector slot: invariant
    y_mean, y_std = y.mean(), y.std()
    xs, ys = x / scale, (y - y_mean) / y_std
    val_x, test_x = data["val"][0] / scale, data["test"][0] / scale
    model = build(name, algebra)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    best, best_state = float("inf"), None
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, train_size, (min(args.batch_size, train_size),))
        loss = ((model(xs[idx]) - ys[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0 or step == args.steps:
            val = mse(model, val_x, data["val"][1], y_mean, y_std)
            if val < best:
                best, best_state = val, copy.deepcopy(model.state_dict())
    train_s = time.perf_counter() - start
    model.load_state_dict(best_state)
    g = random_pseudo_orthogonal(algebra, torch.Generator().manual_seed(seed)).float()
    with torch.no_grad():
        inv = float((model(test_x @ g.T) - model(test_x)).abs().max() * y_std)
    return {"model": name, "train_size": train_size, "seed": seed,
            "params": sum(p.numel() for p in model.parameters()),
            "clifford_params": model.clifford_parameters() if hasattr(model, "clifford_parameters") else 0,
            "test_mse": mse(model, test_x, data["test"][1], y_mean, y_std), "val_mse": best,
            "invariance_error": inv, "train_s": train_s}


def table(records: list[dict], models: list[str], sizes: list[int]) -> str:
    lines = [f"{'model':>7} {'N_train':>7} {'params':>8} {'GA params':>9} {'test MSE (mean ± sd)':>22} "
             f"{'min':>8} {'max |f(gx)-f(x)|':>16} {'train s':>8}"]
    for size in sizes:
        for name in models:
            rs = [r for r in records if r["model"] == name and r["train_size"] == size]
            errs = [r["test_mse"] for r in rs]
            sd = statistics.stdev(errs) if len(errs) > 1 else 0.0
            lines.append(f"{name:>7} {size:>7} {rs[0]['params']:>8} {rs[0]['clifford_params']:>9} "
                         f"{statistics.mean(errs):>12.4f} ± {sd:<7.4f} {min(errs):>8.4f} "
                         f"{max(r['invariance_error'] for r in rs):>16.2e} {statistics.mean(r['train_s'] for r in rs):>8.1f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 300, 3000], help="training-set sizes")
    parser.add_argument("--steps", type=int, default=1000, help="Adam steps per run")
    parser.add_argument("--batch-size", type=int, default=15)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, default=3, help="independent runs (data and init) per case")
    parser.add_argument("--test-size", type=int, default=8192)
    parser.add_argument("--models", nargs="+", default=["CGENN", "GLGENN", "MLP"], choices=["CGENN", "GLGENN", "MLP"])
    parser.add_argument("--json", help="write the records to this path")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    algebra = CliffordAlgebra(5)
    data = {"val": o5_data(1024, torch.Generator().manual_seed(1)),
            "test": o5_data(args.test_size, torch.Generator().manual_seed(2))}
    start = time.perf_counter()
    records = []
    for size in args.sizes:
        for name in args.models:
            for seed in range(args.seeds):
                records.append(run(name, size, seed, data, args, algebra))
                r = records[-1]
                print(f"  {name} N={size} seed={seed}: test MSE {r['test_mse']:.4f} ({r['train_s']:.1f} s)", flush=True)
    wall = time.perf_counter() - start
    print(f"\nO(5) regression, {args.steps} Adam steps of batch {args.batch_size}, {args.seeds} seeds, "
          f"test set {args.test_size}, 1 thread, float32 (wall time {wall:.0f} s)")
    print(table(records, args.models, args.sizes))
    if args.json:
        write_json(args.json, {"args": vars(args), "wall_s": wall, "records": records})


if __name__ == "__main__":
    main()
