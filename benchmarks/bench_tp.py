"""Edge-convolution benchmark: e3nn's channel-wise tensor product vs our CG, Gaunt and SO(2) engines.

The job: ``num_edges`` edge features ``C x (0e + 1o + 2e + ... up to L)`` times the spherical
harmonics of the edge vector (``l <= L``), with per-edge radial weights, into every output irrep up
to ``L``. e3nn and the CG / SO(2) engines produce both parities per degree (``C x 0e + C x 0o + ...``,
all "uvu" paths); the Gaunt engine produces the even paths only (``l1 + l2 + l3`` even, parity
``(-1)^l``), which is all it can express. Timings include the spherical harmonics / edge frames.

Each (L, engine) runs in a fresh subprocess: float32, ``--threads`` threads (default 1), one
warm-up then the median of the repeats; ``fwd`` is a forward pass without autograd, ``fwd+bwd`` a
forward pass with autograd plus the backward pass to inputs and weights. ``peak_mb`` is the growth of
the process's peak resident memory (``resource.getrusage(...).ru_maxrss``) during the first
forward+backward pass, relative to the state after building inputs and module (torch allocations are
invisible to tracemalloc).

Distance to the physical limit: the shape formulas of ``torch.utils.flop_counter`` count the floating-point
operations of every matrix product of one call (``mm``, ``bmm``, ``addmm``, einsum contractions:
``2 m n k`` from the shapes; elementwise work is not counted), and ``GF/s`` is that count over the
median time, so it is the rate of the hot loops' matrix products with the rest of the call's time
counted against them (a lower bound). ``peak`` is the same process's rate on a 2048 x 2048 float32
matmul (``torch.mm``), measured just before, under the same load and thread count; ``%pk`` = GF/s / peak.

Usage::

    python benchmarks/bench_tp.py                      # L = 1..8, 16 channels
    python benchmarks/bench_tp.py --channels 64 --lmax 1 2 3 4 5 6
    python benchmarks/bench_tp.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ENGINES = ("e3nn", "cg", "gaunt", "so2")


def _build(engine: str, lmax: int, channels: int):
    """(module taking (x, edge_vec, weights), irreps_in dim, weight_numel)."""

    from irreps.o3 import Irrep, Irreps

    irreps_in = Irreps([(channels, (l, (-1) ** l)) for l in range(lmax + 1)])
    irreps_out = Irreps([(channels, ir) for ir in Irrep.iterator(lmax)])
    if engine == "e3nn":
        from e3nn import o3 as e3o3

        from irreps.ops.tensor_product import channelwise_instructions

        sh_irreps = Irreps.spherical_harmonics(lmax)
        ins = channelwise_instructions(irreps_in, sh_irreps, irreps_out)
        tp = e3o3.TensorProduct(str(irreps_in), str(sh_irreps), str(irreps_out), ins, shared_weights=False, internal_weights=False)

        def run(x, r, w):
            return tp(x, e3o3.spherical_harmonics(str(sh_irreps), r, normalize=True), w)

        return run, irreps_in.dim, tp.weight_numel
    from irreps.ops.tensor_product import make_convolution

    if engine == "gaunt":
        irreps_out = irreps_in
    conv = make_convolution(engine, irreps_in, irreps_out, lmax_filter=lmax)
    return conv, irreps_in.dim, conv.weight_numel


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a ``size`` x ``size`` float32 matmul in this process (median of ``repeats``)."""
    import torch

    a = torch.randn(size, size)
    a @ a
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t0)
    return 2 * size**3 / statistics.median(times) / 1e9


def matmul_flops(call) -> int:
    """Floating-point operations of the matrix products ``call()`` runs (``2 m n k`` per product).

    Uses the shape formulas of ``torch.utils.flop_counter`` (its ``flop_registry``: mm, bmm, addmm,
    baddbmm, convolutions, attention) in a bare dispatch mode: ``FlopCounterMode`` itself also
    tracks modules with autograd hooks, which fails inside the CG engine's forward under torch 2.13
    ("Expected gradient function to be set").
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **(kwargs or {}), out_val=out)
            return out

    with Count() as counter:
        call()
    return counter.total


def worker(engine: str, lmax: int, channels: int, edges: int, repeats: int, threads: int) -> dict:
    """Measure one (engine, L) in this process."""
    import torch

    torch.set_num_threads(threads)
    peak = peak_gflops()
    gen = torch.Generator().manual_seed(0)
    fn, dim, numel = _build(engine, lmax, channels)
    x = torch.randn(edges, dim, generator=gen, requires_grad=True)
    r = torch.randn(edges, 3, generator=gen)
    w = torch.randn(edges, numel, generator=gen, requires_grad=True)
    base = _rss_mb()
    fn(x, r, w).square().sum().backward()  # warm-up (and the memory peak)
    peak_mb = _rss_mb() - base
    with torch.no_grad():
        flops_fwd = matmul_flops(lambda: fn(x, r, w))
    flops_fwdbwd = matmul_flops(lambda: fn(x, r, w).square().sum().backward())
    fwd, fwdbwd = [], []
    for _ in range(repeats):
        with torch.no_grad():
            t0 = time.perf_counter()
            fn(x, r, w)
            fwd.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fn(x, r, w).square().sum().backward()
        fwdbwd.append(time.perf_counter() - t0)
    fwd_s, fwdbwd_s = statistics.median(fwd), statistics.median(fwdbwd)
    return {
        "L": lmax, "channels": channels, "engine": engine,
        "fwd_ms": 1e3 * fwd_s, "fwdbwd_ms": 1e3 * fwdbwd_s, "peak_mb": peak_mb,
        "matmul_gflop_fwd": flops_fwd / 1e9, "matmul_gflop_fwdbwd": flops_fwdbwd / 1e9,
        "gflops_fwd": flops_fwd / fwd_s / 1e9, "gflops_fwdbwd": flops_fwdbwd / fwdbwd_s / 1e9, "peak_gflops": peak,
    }


def _repeats(engine: str, lmax: int, requested: int | None) -> int:
    if requested is not None:
        return requested
    if lmax <= 3:  # milliseconds per call: many repeats against the noise of a shared machine
        return 15
    if engine == "e3nn":  # e3nn at high L takes seconds per call
        return 5 if lmax <= 4 else 3 if lmax <= 6 else 2
    return 7 if lmax <= 6 else 5


def _spawn(engine: str, lmax: int, args) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", engine, "--lmax", str(lmax), "--channels", str(args.channels),
           "--edges", str(args.edges), "--threads", str(args.threads)]
    if args.repeats is not None:
        cmd += ["--repeats", str(args.repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {engine} L={lmax} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(records: list[dict], engines: list[str]) -> str:
    by = {(r["L"], r["engine"]): r for r in records}
    head = f"{'L':>2} | " + " | ".join(f"{e:>24}" for e in engines)
    sub = "   | " + " | ".join(f"{'fwd ms':>7} {'fwd+bwd ms':>10} {'MB':>5}" for _ in engines)
    lines = [head, sub, "-" * len(sub)]
    for L in sorted({r["L"] for r in records}):
        cells = []
        for e in engines:
            r = by.get((L, e))
            cells.append(f"{r['fwd_ms']:7.1f} {r['fwdbwd_ms']:10.1f} {r['peak_mb']:5.0f}" if r else f"{'-':>24}")
        lines.append(f"{L:>2} | " + " | ".join(cells))
    if "e3nn" in engines:
        lines += ["", "speed-up vs e3nn (e3nn time / ours; > 1 means ours is faster)",
                  f"{'L':>2} | " + " | ".join(f"{e + ' fwd':>9} {e + ' f+b':>9}" for e in engines if e != "e3nn")]
        for L in sorted({r["L"] for r in records}):
            ref = by.get((L, "e3nn"))
            cells = []
            for e in engines:
                if e == "e3nn":
                    continue
                r = by.get((L, e))
                if ref and r:
                    cells.append(f"{ref['fwd_ms'] / r['fwd_ms']:9.2f} {ref['fwdbwd_ms'] / r['fwdbwd_ms']:9.2f}")
                else:
                    cells.append(f"{'-':>9} {'-':>9}")
            lines.append(f"{L:>2} | " + " | ".join(cells))
    lines += ["", "matrix-product rate of the call (GFLOP counted / median time) against this CPU's float32 matmul peak",
              f"{'L':>2} | " + " | ".join(f"{e + ' GFLOP':>10} {'GF/s':>6} {'peak':>5} {'%pk':>4}" for e in engines),
              "   | (fwd+bwd)"]
    for L in sorted({r["L"] for r in records}):
        cells = []
        for e in engines:
            r = by.get((L, e))
            cells.append(f"{r['matmul_gflop_fwdbwd']:10.3f} {r['gflops_fwdbwd']:6.1f} {r['peak_gflops']:5.0f} "
                         f"{100 * r['gflops_fwdbwd'] / r['peak_gflops']:3.0f}%" if r else f"{'-':>28}")
        lines.append(f"{L:>2} | " + " | ".join(cells))
    return "\n".join(lines)


def _write_json(path: str, records: list[dict]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(records, fh, indent=1)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lmax", type=int, nargs="+", default=list(range(1, 9)))
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--edges", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None, help="default: fewer for e3nn at high L")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--json", default=None, help="write one record per (L, channels, engine)")
    parser.add_argument("--worker", choices=ENGINES, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.lmax[0], args.channels, args.edges,
                                _repeats(args.worker, args.lmax[0], args.repeats), args.threads)))
        return
    engines = list(args.engines)
    if "e3nn" in engines:
        try:
            import e3nn  # noqa: F401
        except ImportError:
            print("e3nn is not installed: comparing our engines only", file=sys.stderr)
            engines.remove("e3nn")
    print(f"edge convolution, {args.edges} edges, {args.channels} channels per l, float32, "
          f"{args.threads} thread(s), median of repeats after warm-up; MB = peak RSS growth (getrusage)")
    records = []
    for L in args.lmax:
        for e in engines:
            rec = _spawn(e, L, args)
            if rec is not None:
                records.append(rec)
                print(f"  L={L} {e:>5}: fwd {rec['fwd_ms']:.1f} ms, fwd+bwd {rec['fwdbwd_ms']:.1f} ms, {rec['peak_mb']:.0f} MB, "
                      f"{rec['gflops_fwdbwd']:.1f} GFLOP/s of matmuls (peak {rec['peak_gflops']:.0f})", flush=True)
    print(_table(records, engines))
    if args.json:
        _write_json(args.json, records)
        print(f"wrote {len(records)} records to {args.json}")


if __name__ == "__main__":
    main()
