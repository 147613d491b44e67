"""Cold and warm compile time of the training step (``run.compile``), and what the cache reused.

Runs the first compiled step of the recipe of ``benchmarks/train_acac.py`` (TensorNet 128 x 2,
float32) in fresh processes that share one inductor cache folder (``TORCHINDUCTOR_CACHE_DIR``,
a new temporary one unless ``--cache-dir`` names one) and one program store inside it
(``IRREPS_COMPILE_CACHE``, :mod:`irreps.nn.program_store`): first acac with split seed 0 (a
cold cache), then acac with split seed 1 (other structures, other E0s, scale and shift), then
ethanol (another dataset with the same elements). A step compiled once per model, not per
split, makes the later runs load the program from the store instead of recording and
compiling it.

Each row: the seconds of the first compiled call (recording with ``make_fx`` and compilation,
or loading the stored program and checking it against the eager step; one step), the second
call's milliseconds, the data-dependent numbers of the split (scale, shift), whether the step
was recorded in that process, and inductor's FX-graph cache hits and misses.

    python benchmarks/bench_compile_cache.py --threads 1 --json compile.json
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # train_acac, bench_train_step
from bench_train_step import _setup  # noqa: E402
from train_acac import DATASETS, DEFAULT_DATA  # noqa: E402

RUNS = (("acac", 0), ("acac", 1), ("ethanol", 0))


def child(name: str, seed: int, data: Path, threads: int) -> dict:
    """One process: the first and second compiled steps of ``name`` split with ``seed``."""
    import dataclasses

    import torch
    from torch._dynamo.utils import counters

    import irreps.train.compiled_step as compiled_step

    recordings = []
    record = compiled_step.record
    compiled_step.record = lambda *a, **k: recordings.append(1) or record(*a, **k)  # counts, this process only
    torch.set_num_threads(threads)
    config, model, make_trainer, _ = _setup(name, data, seed)
    trainer = make_trainer(model, dataclasses.replace(config.run, compile=True))
    batches = iter(trainer.train_loader)
    first, second = next(batches), next(batches)
    start = time.perf_counter()
    trainer.compiled_step(first)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    trainer.compiled_step(second)
    second_ms = 1e3 * (time.perf_counter() - start)
    readout = model.readout
    return {
        "dataset": name, "seed": seed, "first_call_s": first_s, "second_call_ms": second_ms,
        "scale": float(readout.scale), "shift": float(readout.shift),
        "recorded": bool(recordings), "fxgraph_hits": counters["inductor"]["fxgraph_cache_hit"],
        "fxgraph_misses": counters["inductor"]["fxgraph_cache_miss"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder holding acac/ and ethanol/")
    parser.add_argument("--cache-dir", help="inductor cache folder to use (default: a new temporary one: a cold start)")
    parser.add_argument("--json", help="write one record per run here")
    parser.add_argument("--child", nargs=2, metavar=("DATASET", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.data_dir, args.threads)))
        return 0
    missing = [args.data_dir / DATASETS[d][k] for d, _ in RUNS for k in ("train", "isolated")
               if not (args.data_dir / DATASETS[d][k]).is_file()]
    if missing:
        print("benchmark data missing (by default ../shared/data/botnet next to the repository; see --data-dir):",
              *[f"  {p.resolve()}" for p in sorted(set(missing))], sep="\n", file=sys.stderr)
        return 1
    cache = args.cache_dir or tempfile.mkdtemp(prefix="irreps-inductor-")
    store = str(Path(cache) / "irreps-programs")
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, IRREPS_COMPILE_CACHE=store, OMP_NUM_THREADS=str(args.threads))
    print(f"inductor cache: {cache}; program store: {store}")
    print(f"{'dataset':8} {'seed':>4} {'first call s':>12} {'2nd call ms':>11} {'scale':>8} {'shift':>9} {'recorded':>8} "
          f"{'fx hits':>7} {'misses':>6}")
    records = []
    for name, seed in RUNS:
        cmd = [sys.executable, __file__, "--child", name, str(seed), "--threads", str(args.threads),
               "--data-dir", str(args.data_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(f"{name} seed {seed} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
            return 1
        r = json.loads(done.stdout.strip().splitlines()[-1])
        records.append(r)
        print(f"{r['dataset']:8} {r['seed']:4d} {r['first_call_s']:12.1f} {r['second_call_ms']:11.1f} {r['scale']:8.4f} "
              f"{r['shift']:9.4f} {'yes' if r['recorded'] else 'no':>8} {r['fxgraph_hits']:7d} {r['fxgraph_misses']:6d}",
              flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
