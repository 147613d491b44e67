"""Symmetric many-body product speed: ours (Gaunt, CG engines) vs mace-torch's ``SymmetricContraction``.

For each case ``L:nu[:L_out]`` (default 2:2, 3:3, 4:3; ``L_out`` defaults to ``L``: the same
irreps in and out) the atomic basis ``C x (0e + 1o + ... + L)`` of ``--atoms`` atoms with
``--elements`` element-dependent weight sets goes through a correlation-``nu`` product to
``C x (0e + ... + L_out)``; median milliseconds of forward and of forward + backward (a sum of
squares, gradients to the input and the weights) in float32 after warm-up, on ``--threads``
threads. mace-torch runs in its own environment (``python -m benchmarks.peers build mace``) in a
subprocess of this script, in the same run; a missing environment prints one skip line.

What is compared: mace-torch's contraction has one weight per generalised-CG path; ours
factorises the weights per degree (:mod:`irreps.ops.many_body`), so it spans fewer couplings for
the same irreps. mace-torch 0.3's own Wigner-3j table stops at l = 11, so it cannot build
``L = 4, nu = 3`` (intermediate degree 12) without cuequivariance: that case prints its error.

    python benchmarks/bench_many_body.py --threads 1 --json many_body.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.peers import peer_python_or_none  # noqa: E402

# run by the mace interpreter with: L nu L_out atoms channels elements threads repeat warmup
MACE_WORKER = r"""
import json, statistics, sys, time
import torch
from e3nn import o3
from mace.modules.symmetric_contraction import SymmetricContraction
L, nu, L_out, n, c, el, threads, repeat, warmup = map(int, sys.argv[1:])
torch.set_num_threads(threads)
natural = lambda lmax: o3.Irreps([(c, (l, (-1) ** l)) for l in range(lmax + 1)])
start = time.perf_counter()
m = SymmetricContraction(natural(L), natural(L_out), correlation=nu, num_elements=el)
build = time.perf_counter() - start
g = torch.Generator().manual_seed(0)
x = torch.randn(n, c, (L + 1) ** 2, generator=g)
y = torch.nn.functional.one_hot(torch.randint(0, el, (n,), generator=g), el).float()
def once(backward):
    xi = x.detach().requires_grad_(backward)
    t = time.perf_counter()
    out = m(xi, y)
    if backward:
        out.square().sum().backward()
    return time.perf_counter() - t
times = {}
for key, backward in (("fwd", False), ("fwdbwd", True)):
    ts = [once(backward) for _ in range(warmup + repeat)][warmup:]
    times[key] = 1e3 * statistics.median(ts)
print(json.dumps({"build_s": build, "fwd_ms": times["fwd"], "fwdbwd_ms": times["fwdbwd"]}))
"""


def parse_case(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(":")]
    if len(parts) not in (2, 3) or min(parts) < 0 or parts[1] < 1:
        raise argparse.ArgumentTypeError(f"a case is L:nu or L:nu:L_out, got {text!r}")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else parts[0]


def time_ours(engine: str, L: int, nu: int, L_out: int, args) -> dict:
    import torch

    from irreps.o3 import Irreps
    from irreps.ops.many_body import SymmetricProduct

    torch.manual_seed(0)
    irreps = Irreps([(args.channels, (l, (-1) ** l)) for l in range(L + 1)])
    start = time.perf_counter()
    m = SymmetricProduct(irreps, L_out, nu, args.elements, engine)
    build = time.perf_counter() - start
    g = torch.Generator().manual_seed(0)
    x = irreps.randn(args.atoms, generator=g)
    species = torch.randint(0, args.elements, (args.atoms,), generator=g)

    def once(backward: bool) -> float:
        xi = x.detach().requires_grad_(backward)
        t = time.perf_counter()
        with torch.set_grad_enabled(backward):
            out = m(xi, species)
            if backward:
                out.square().sum().backward()
        return time.perf_counter() - t

    times = {}
    for key, backward in (("fwd", False), ("fwdbwd", True)):
        times[key] = 1e3 * statistics.median([once(backward) for _ in range(args.warmup + args.repeat)][args.warmup:])
    return {"build_s": build, "fwd_ms": times["fwd"], "fwdbwd_ms": times["fwdbwd"]}


def time_mace(python: str, L: int, nu: int, L_out: int, args) -> dict:
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", OMP_NUM_THREADS=str(args.threads))
    command = [python, "-c", MACE_WORKER, *map(str, (L, nu, L_out, args.atoms, args.channels, args.elements,
                                                     args.threads, args.repeat, args.warmup))]
    try:
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.peer_timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {args.peer_timeout} s"}
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {run.returncode}"}
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=parse_case, nargs="+", default=[(2, 2, 2), (3, 3, 3), (4, 3, 4)],
                        metavar="L:nu[:L_out]")
    parser.add_argument("--engines", nargs="+", default=["gaunt", "cg"], choices=["gaunt", "cg"])
    parser.add_argument("--atoms", type=int, default=500)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--elements", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--peer-timeout", type=float, default=600.0, help="seconds per mace-torch case")
    parser.add_argument("--mace-python", help="interpreter with mace-torch (default: the peer environment)")
    parser.add_argument("--json", type=Path, help="write the records here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    mace = peer_python_or_none("mace", args.mace_python)
    print(f"symmetric product, {args.atoms} atoms x {args.channels} channels, {args.elements} elements, float32, "
          f"{args.threads} thread(s), median of {args.repeat} after {args.warmup} warm-up (ms)", flush=True)
    print(f"{'L':>2} {'nu':>3} {'L_out':>5} {'impl':>6} {'fwd':>9} {'fwd+bwd':>9} {'mace/ours f+b':>14}", flush=True)
    records = []
    for L, nu, L_out in args.cases:
        rows = {engine: time_ours(engine, L, nu, L_out, args) for engine in args.engines}
        if mace is not None:
            rows["mace"] = time_mace(mace, L, nu, L_out, args)
        for impl, row in rows.items():
            records.append({"L": L, "nu": nu, "L_out": L_out, "impl": impl, "atoms": args.atoms,
                            "channels": args.channels, "threads": args.threads, **row})
            if "error" in row:
                print(f"{L:2d} {nu:3d} {L_out:5d} {impl:>6} failed: {row['error']}", flush=True)
                continue
            ratio = "" if impl == "mace" or "fwdbwd_ms" not in rows.get("mace", {}) else \
                f"{rows['mace']['fwdbwd_ms'] / row['fwdbwd_ms']:.1f}x"
            print(f"{L:2d} {nu:3d} {L_out:5d} {impl:>6} {row['fwd_ms']:9.1f} {row['fwdbwd_ms']:9.1f} {ratio:>14}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
