"""Evaluation worker, run inside a system's own environment by the benchmark.

    python -m benchmarks.compare.worker predict --system mace --model M --test T.xyz --out P.npz
    python -m benchmarks.compare.worker time    --system mace --model M --test T.xyz --out P.json

``predict`` writes every test frame's energy (eV) and forces (eV/Å) computed by the system's
ASE calculator in float64 (where the system allows; the dtype used is recorded). ``time`` runs
the system's timing calculator (float32, its fastest documented CPU path: ours compiled) on single
structures of the test file, after warm-up, and writes the median seconds per call, µs per atom
and this process's peak resident memory. Only numpy, ASE
and the system's own package are imported, so this runs in any peer's virtualenv.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _load(system: str, model: str, dtype: str):
    from .systems import get_system

    return get_system(system).calculator(model, dtype)


def predict(args: argparse.Namespace) -> None:
    import ase.io

    calc, used = None, None
    for dtype in ("float64", "float32"):
        try:
            calc, used = _load(args.system, args.model, dtype), dtype
            break
        except NotImplementedError:
            continue
    if calc is None:
        raise SystemExit(f"{args.system}: no calculator for {args.model}")
    energies, forces = [], []
    for atoms in ase.io.read(args.test, index=":"):
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        forces.append(np.asarray(atoms.get_forces(), dtype=float))
    np.savez(args.out, energy=np.asarray(energies), forces=np.concatenate(forces), dtype=used)


def time_calls(args: argparse.Namespace) -> None:
    import ase.io

    from .systems import get_system

    frames = ase.io.read(args.test, index=f":{args.frames}")
    calc = get_system(args.system).timing_calculator(args.model)
    times = []
    for k in range(args.warmup + args.repeats):
        atoms = frames[k % len(frames)].copy()
        atoms.calc = calc
        start = time.perf_counter()
        atoms.get_potential_energy()
        atoms.get_forces()
        if k >= args.warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    natoms = statistics.median(len(a) for a in frames)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # ours: whether the compiled program served the timed calls (None: it fell back to eager)
    compiled = getattr(calc, "compiled", None) is not None
    Path(args.out).write_text(json.dumps({"seconds_per_call": seconds, "us_per_atom": 1e6 * seconds / natoms,
                                          "atoms": natoms, "peak_mb": peak_mb, "dtype": "float32",
                                          "compiled_by_us": compiled}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("predict", "time"))
    parser.add_argument("--system", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore")  # peers' deprecation notices are not results
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    (predict if args.mode == "predict" else time_calls)(args)


if __name__ == "__main__":
    sys.exit(main())
