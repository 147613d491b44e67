"""Benchmark irreps.groups: fast diagram layers vs dense matvec, basis construction vs emlp, and
DWSNet on the sine-INR frequency task against flat-MLP and DeepSets baselines.

One thread, float32, batch 16, channels 1, median of repeats after a warm-up.

    python benchmarks/bench_groups.py [--json out.json] [--emlp-python PYTHON]

emlp (a jax library) runs in its own virtualenv through a subprocess with a per-case timeout;
when that interpreter is missing, or a case times out, ``emlp_s`` is recorded as null and the
table says why. emlp's progress bar crashes under current tqdm (a numpy float passed to
timedelta), so it runs with TQDM_DISABLE=1. Records:
``{"kind": "layer", "group", "k", "l", "n", "fast_ms", "dense_ms"}`` (dense_ms null where the
dense weight would not fit), ``{"kind": "basis", "group", "k", "l", "n", "ours_s", "emlp_s"}``,
``{"kind": "dws", "dws_mse", "deepsets_mse", "mlp_mse", "perm_max_diff"}``.
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from benchmarks.peers import peer_python_or_none  # noqa: E402
from irreps.groups import (DeepSetsRegressor, DWSNet, EquivariantLinear, FlatMLPRegressor, fit_omega_regressor,
                           hom_basis, make_sine_inrs, permute_hidden)
from irreps.groups.fast import DiagramOperator

BATCH = 16
DENSE_LIMIT_BYTES = 2**31
LAYER_CASES = [(g, 2, n) for g in ("S", "O") for n in (16, 32, 64)] + \
    [(g, 3, n) for g in ("S", "O") for n in (8, 16, 24)] + [("S", 3, 64), ("O", 3, 64)]
BASIS_CASES = [("S", 2, 4), ("S", 2, 6), ("S", 2, 8), ("S", 2, 12), ("S", 3, 5)]
EMLP_SCRIPT = """
import sys, time
from emlp.reps import V
from emlp.groups import S
n, k = int(sys.argv[1]), int(sys.argv[2])
t = time.perf_counter()
Q = (V(S(n)) ** k >> V(S(n)) ** k).equivariant_basis()
print(time.perf_counter() - t, Q.shape[-1])
"""


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def bench_layer(group: str, k: int, n: int) -> dict:
    torch.manual_seed(0)
    layer = EquivariantLinear(group, n, k, k, 1, 1)
    x = torch.randn((BATCH, 1) + (n,) * k)
    fast_s = median_time(lambda: layer(x), 7)
    dense_ms = None
    if n ** (2 * k) * 4 <= DENSE_LIMIT_BYTES:
        # the true dense weight, one column per unit input (applied in chunks by the fast layer)
        eye = torch.eye(n**k).reshape((n**k, 1) + (n,) * k)
        bias = layer(torch.zeros((1, 1) + (n,) * k)).reshape(-1)
        cols = torch.cat([layer(chunk).reshape(chunk.shape[0], -1) - bias for chunk in eye.split(1024)])
        weight = cols.T.contiguous()
        dense = layer.forward_dense(x, weight, bias)
        if not torch.allclose(dense, layer(x), atol=1e-4, rtol=1e-4):
            raise RuntimeError(f"dense and fast disagree for {group} k={k} n={n}")
        dense_ms = 1e3 * median_time(lambda: layer.forward_dense(x, weight, bias), 5)
        del weight, cols
    return {"kind": "layer", "group": group, "k": k, "l": k, "n": n, "fast_ms": 1e3 * fast_s, "dense_ms": dense_ms}


def run_emlp(python: str | None, n: int, k: int, timeout: float) -> tuple[float | None, str]:
    if not python or not os.path.exists(python):
        return None, "emlp not installed"
    try:
        out = subprocess.run([python, "-c", EMLP_SCRIPT, str(n), str(k)], capture_output=True, text=True,
                             timeout=timeout, env={**os.environ, "JAX_PLATFORMS": "cpu", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
                                                   "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"})
    except subprocess.TimeoutExpired:
        return None, f"timeout > {timeout:.0f} s"
    if out.returncode != 0:
        return None, "emlp failed: " + out.stderr.strip().splitlines()[-1][:60]
    seconds, size = out.stdout.split()[-2:]
    return float(seconds), f"emlp basis size {size}"


def bench_basis(group: str, k: int, n: int, emlp_python: str | None, timeout: float) -> tuple[dict, str]:
    def build():
        basis = hom_basis(group, n, k, k)
        DiagramOperator(basis.terms, n, k, k)
        return basis

    ours = median_time(build, 5)
    size = len(build())
    emlp_s, note = run_emlp(emlp_python, n, k, timeout)
    record = {"kind": "basis", "group": group, "k": k, "l": k, "n": n, "ours_s": ours, "emlp_s": emlp_s}
    return record, f"ours basis size {size}; {note}"


def bench_dws(num: int, epochs: int) -> dict:
    torch.manual_seed(0)
    data = make_sine_inrs(num, hidden=(16, 16), steps=400)
    split = int(0.8 * num)
    train, test = data.subset(torch.arange(split)), data.subset(torch.arange(split, num))
    results = {}
    models = {"dws": DWSNet(data.dims, 8, 3), "deepsets": DeepSetsRegressor(data.dims), "mlp": FlatMLPRegressor(data.dims)}
    for name, model in models.items():
        results[name] = fit_omega_regressor(model, train, test, epochs=epochs, lr=3e-3)["test_mse"]
    model = models["dws"].eval()
    perms = [torch.randperm(d) for d in data.dims[1:-1]]
    with torch.no_grad():
        diff = (model(*permute_hidden(test.weights, test.biases, perms)) - model(test.weights, test.biases)).abs().max()
    record = {"kind": "dws", "dws_mse": results["dws"], "deepsets_mse": results["deepsets"], "mlp_mse": results["mlp"],
              "perm_max_diff": float(diff)}
    return record, float(test.omega.var())


def _fmt(value, scale=1.0, spec="8.3f"):
    return "    null" if value is None else format(value * scale, spec)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the records to this path")
    parser.add_argument("--emlp-python", help="python of emlp's virtualenv (default: `python -m benchmarks.peers build emlp`)")
    parser.add_argument("--emlp-timeout", type=float, default=120.0)
    parser.add_argument("--dws-num", type=int, default=1000)
    parser.add_argument("--dws-epochs", type=int, default=15)
    parser.add_argument("--sections", default="layer,basis,dws")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sections = set(args.sections.split(","))
    emlp_python = peer_python_or_none("emlp", args.emlp_python) if "basis" in sections else None
    records = []
    if "layer" in sections:
        print(f"\nLayer forward, batch {BATCH}, channels 1, float32, 1 thread (median ms)")
        print(f"{'group':>5} {'k=l':>3} {'n':>3} {'fast_ms':>9} {'dense_ms':>9} {'dense/fast':>10}")
        for case in LAYER_CASES:
            rec = bench_layer(*case)
            ratio = f"{rec['dense_ms'] / rec['fast_ms']:10.1f}" if rec["dense_ms"] else "    (no fit)"
            print(f"{rec['group']:>5} {rec['k']:>3} {rec['n']:>3} {rec['fast_ms']:9.2f} {_fmt(rec['dense_ms'], 1, '9.2f')} {ratio}",
                  flush=True)
            records.append(rec)
    if "basis" in sections:
        print("\nBasis construction (s): ours = hom_basis + fast operator plan; emlp = numerical nullspace")
        print(f"{'group':>5} {'k=l':>3} {'n':>3} {'ours_s':>9} {'emlp_s':>9}  note")
        for case in BASIS_CASES:
            rec, note = bench_basis(*case, emlp_python, args.emlp_timeout)
            print(f"{rec['group']:>5} {rec['k']:>3} {rec['n']:>3} {rec['ours_s']:9.4f} {_fmt(rec['emlp_s'], 1, '9.2f')}  {note}",
                  flush=True)
            records.append(rec)
    if "dws" in sections:
        start = time.perf_counter()
        rec, variance = bench_dws(args.dws_num, args.dws_epochs)
        print(f"\nDWSNet sine-INR omega regression ({args.dws_num} INRs, 80/20 split, {time.perf_counter() - start:.0f} s)")
        print(f"test MSE: DWSNet {rec['dws_mse']:.4f}  DeepSets {rec['deepsets_mse']:.4f}  flat MLP {rec['mlp_mse']:.4f}"
              f"  (variance of test omega {variance:.4f})")
        print(f"DWSNet max |change| under hidden-neuron permutations (float32): {rec['perm_max_diff']:.2e}")
        records.append(rec)
    if args.json:
        directory = os.path.dirname(os.path.abspath(args.json))
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as handle:
            json.dump(records, handle, indent=1)
        os.replace(handle.name, args.json)


if __name__ == "__main__":
    main(sys.argv[1:])
