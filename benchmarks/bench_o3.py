"""Spherical-harmonics throughput: irreps vs e3nn vs sphericart-torch.

All degrees 0..L of 100k random float32 vectors (normalised inside each implementation,
'component' normalisation for irreps and e3nn; sphericart computes its own orthonormal
convention), forward and forward+backward. Implementations are timed round-robin inside each
repeat so that load on a shared machine hits them alike; the median after warm-up is reported.
Ratios are peer_time / irreps_time: >= 1 means irreps is faster.

    python benchmarks/bench_o3.py [--lmax 8] [--points 100000] [--threads 1] [--repeats 21] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Callable

import torch

from irreps.o3 import spherical_harmonics


def _implementations(L: int) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    ls = list(range(L + 1))
    impls: dict[str, Callable] = {"irreps": lambda x: spherical_harmonics(ls, x, normalize=True, normalization="component")}
    try:
        from e3nn import o3 as e3nn_o3

        impls["e3nn"] = e3nn_o3.SphericalHarmonics(ls, normalize=True, normalization="component")
    except ImportError:
        pass
    try:
        import sphericart.torch as sphericart_torch

        impls["sphericart"] = sphericart_torch.SphericalHarmonics(L)
    except ImportError:
        pass
    return impls


def _time_once(fn: Callable, x: torch.Tensor, grad: torch.Tensor | None) -> float:
    x = x.detach().requires_grad_(grad is not None)
    start = time.perf_counter()
    y = fn(x)
    if grad is not None:
        y.backward(grad)
    return (time.perf_counter() - start) * 1e3


def bench(lmax: int, points: int, repeats: int, warmup: int, seed: int = 0) -> list[dict]:
    x = torch.randn(points, 3, generator=torch.Generator().manual_seed(seed))
    records = []
    for L in range(1, lmax + 1):
        impls = _implementations(L)
        grad = torch.randn(points, (L + 1) ** 2, generator=torch.Generator().manual_seed(seed + L))
        times = {name: {"fwd": [], "fwdbwd": []} for name in impls}
        for rep in range(warmup + repeats):
            for name, fn in impls.items():
                with torch.no_grad():
                    fwd = _time_once(fn, x, None)
                fwdbwd = _time_once(fn, x, grad)
                if rep >= warmup:
                    times[name]["fwd"].append(fwd)
                    times[name]["fwdbwd"].append(fwdbwd)
        for name, t in times.items():
            records.append({"L": L, "impl": name, "fwd_ms": statistics.median(t["fwd"]), "fwdbwd_ms": statistics.median(t["fwdbwd"])})
    return records


def table(records: list[dict]) -> str:
    by = {(r["L"], r["impl"]): r for r in records}
    peers = [p for p in ("e3nn", "sphericart") if any(k[1] == p for k in by)]
    head = ["L", "irreps fwd", "irreps f+b"]
    for p in peers:
        head += [f"{p} fwd", f"{p} f+b", f"{p}/irreps fwd", f"{p}/irreps f+b"]
    lines = [" | ".join(f"{h:>14}" for h in head)]
    for L in sorted({k[0] for k in by}):
        ours = by[(L, "irreps")]
        row = [f"{L:>14d}", f"{ours['fwd_ms']:>11.2f} ms", f"{ours['fwdbwd_ms']:>11.2f} ms"]
        for p in peers:
            r = by[(L, p)]
            row += [
                f"{r['fwd_ms']:>11.2f} ms",
                f"{r['fwdbwd_ms']:>11.2f} ms",
                f"{r['fwd_ms'] / ours['fwd_ms']:>14.2f}",
                f"{r['fwdbwd_ms'] / ours['fwdbwd_ms']:>14.2f}",
            ]
        lines.append(" | ".join(row))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lmax", type=int, default=8)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=str, default=None, help="write the records to this path")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = bench(args.lmax, args.points, args.repeats, args.warmup)
    missing = [p for p in ("e3nn", "sphericart") if not any(r["impl"] == p for r in records)]
    print(f"spherical harmonics 0..L, {args.points} float32 vectors, {args.threads} thread(s), median of {args.repeats} after {args.warmup} warm-up")
    if missing:
        print(f"not installed (skipped): {', '.join(missing)}")
    print(table(records))
    if args.json:
        directory = os.path.dirname(os.path.abspath(args.json))
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as f:
            json.dump(records, f, indent=1)
        os.replace(f.name, args.json)


if __name__ == "__main__":
    main()
