"""Interleaved A/B timing of a model: this working tree against a git revision, and/or two dtypes.

Every variant (source tree x dtype) runs in its own worker process, kept alive; the parent asks
each for one timed call in turn, round after round, so the load of a shared machine hits all
variants alike. It prints the median per variant, µs per atom and the ratio to the first
variant, with the load average before and after.

Workloads:
- ``ef`` (default): energy + forces of TensorNet 128 x 2 (random weights) on a system of
  ``benchmarks/bench_inference.py`` (``--system``, default ``3bpa x32``), graph prebuilt;
  with ``--compiled`` through the compiled inference path (``CompiledPotential``, what
  ``IrrepsCalculator(compile=True)`` and ``irreps md --compile`` run; each worker compiles
  once before the rounds, minutes on a cold inductor cache).
- ``eqv2`` / ``eqv2-direct``: energy + forces of the EquiformerV2 of
  ``benchmarks/bench_sphere_models.py`` at ``--lmax`` (random weights) on ``--system``, graph
  prebuilt; conservative (``-dE/dx``) or the direct force head under ``no_grad``.
- ``step``: the eager training step of ``benchmarks/bench_train_step.py`` without the optimiser
  (energy, forces, loss, both backward passes) on one batch of ``--batch-size`` acac structures.

    python benchmarks/bench_ab.py --old HEAD                          # before/after a change
    python benchmarks/bench_ab.py --dtype float32 float64             # float64 cost, this tree
    python benchmarks/bench_ab.py --old main --workload step --batch-size 5
    python benchmarks/bench_ab.py --old HEAD main --workload eqv2 --lmax 6    # three trees interleaved
    python benchmarks/bench_ab.py --old main --compiled --system "acac x1"   # compiled E+F
    python benchmarks/bench_ab.py --old HEAD main --cpu 1 --compiled   # A/A control, all on one core

On a shared 2-core machine the scheduler tends to keep each worker on one core, and the two
cores carry different loads from other jobs: workers running identical code then differed by
7-25% in unpinned runs. Give ``--cpu`` so every variant shares one core's load, and include an
A/A control (``--old HEAD`` with a clean tree) to see the noise floor.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _workload(args) -> tuple:
    """(call, atoms) in this process for the worker's arguments."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype[0])
    if args.workload == "ef":
        sys.path.insert(0, str(ROOT))
        from benchmarks.bench_inference import ELEMENTS, HYPER, systems
        from irreps.data import atoms_list_to_graphs, collate
        from irreps.models import build_model

        batch = dict(systems())[args.system]
        model = build_model("tensornet", dict(elements=list(ELEMENTS), **HYPER)).eval().to(dtype)
        graph = collate(atoms_list_to_graphs(batch, HYPER["cutoff"], keys=None, dtype=dtype))
        if args.compiled:
            from irreps.nn.compiled_potential import CompiledPotential

            potential = CompiledPotential(model)
            return (lambda: potential(graph)["forces"]), graph.positions.shape[0]
        return (lambda: model(graph)["forces"].detach()), graph.positions.shape[0]
    if args.workload.startswith("eqv2"):
        sys.path.insert(0, str(ROOT))
        from benchmarks.bench_inference import systems
        from benchmarks.bench_sphere_models import CUTOFF, ours_config
        from irreps.data import atoms_list_to_graphs, collate
        from irreps.models import build_model

        model = build_model("equiformer_v2", ours_config(args.lmax)).eval().to(dtype)
        graph = collate(atoms_list_to_graphs(dict(systems())[args.system], CUTOFF, keys=None, dtype=dtype))
        if args.workload == "eqv2":
            return (lambda: model(graph)["forces"].detach()), graph.positions.shape[0]

        def direct():
            with torch.no_grad():
                return model(graph, compute_forces=False, direct_forces=True)["direct_forces"]

        return direct, graph.positions.shape[0]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_train_step import _setup
    from train_acac import DEFAULT_DATA

    config, model, make_trainer, _ = _setup("acac", DEFAULT_DATA, batch_size=args.batch_size)
    trainer = make_trainer(model.to(dtype), config.run)
    batch = next(iter(trainer.train_loader)).to(dtype=dtype)
    model.train()

    def step():
        model.zero_grad(set_to_none=True)
        trainer.loss(model(batch, **trainer.loss.prediction_flags()), batch)[0].backward()

    return step, batch.positions.shape[0]


def worker(args) -> None:
    """Answer "run" on stdin with one call's milliseconds."""
    call, atoms = _workload(args)
    call()
    print("ready", atoms, flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            start = time.perf_counter()
            call()
            print("ms", 1e3 * (time.perf_counter() - start), flush=True)


def _export(rev: str, into: str) -> str:
    """``src/`` of git revision ``rev`` under ``into``; returns the folder to put on PYTHONPATH."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return str(Path(into) / "src")


class Worker:
    def __init__(self, label: str, src: str, dtype: str, args):
        self.label = label
        cmd = [sys.executable, __file__, "--worker", "--workload", args.workload, "--system", args.system,
               "--batch-size", str(args.batch_size), "--lmax", str(args.lmax), "--threads", str(args.threads), "--dtype", dtype] + ["--compiled"] * args.compiled
        env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS=str(args.threads))
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.atoms = int(self._read("ready").split()[1])

    def _read(self, prefix: str) -> str:
        for line in self.process.stdout:
            if line.startswith(prefix):
                return line
        raise RuntimeError(f"worker {self.label} stopped (its stderr is above)")

    def call_ms(self) -> float:
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return float(self._read("ms ").split()[1])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", nargs="+", default=[],
                        help="git revisions to compare against (each one's src/ is exported to a temporary folder)")
    parser.add_argument("--dtype", nargs="+", choices=("float32", "float64"), default=["float32"])
    parser.add_argument("--workload", choices=("ef", "step", "eqv2", "eqv2-direct"), default="ef")
    parser.add_argument("--lmax", type=int, default=2, help="for eqv2: the EquiformerV2's lmax")
    parser.add_argument("--system", default="3bpa x32", help="for ef: a system name of bench_inference.py")
    parser.add_argument("--batch-size", type=int, default=5, help="for step: acac structures per batch")
    parser.add_argument("--compiled", action="store_true", help="for ef: time the compiled E+F (CompiledPotential)")
    parser.add_argument("--cpu", type=int, help="pin this process and every worker to this CPU core (see the docstring)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="write the medians here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compiled and args.workload != "ef":
        parser.error("--compiled applies to the ef workload only")
    if args.worker:
        worker(args)
        return 0
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # the workers inherit it
    with tempfile.TemporaryDirectory() as tmp:
        trees = [("new", str(ROOT / "src"))]
        for k, rev in enumerate(args.old):
            folder = Path(tmp) / str(k)
            folder.mkdir()
            trees.append((f"old {rev}", _export(rev, str(folder))))
        workers = [Worker(f"{label} {dtype}", src, dtype, args) for label, src in trees for dtype in args.dtype]
        load_before = os.getloadavg()
        times = {w.label: [] for w in workers}
        for round_ in range(args.rounds + 1):
            for w in workers:
                ms = w.call_ms()
                if round_:  # the first round warms up
                    times[w.label].append(ms)
        load_after = os.getloadavg()
        for w in workers:
            w.close()
    what = {"ef": f"TensorNet E+F {args.system}{' compiled' if args.compiled else ''}", "eqv2": f"EquiformerV2 lmax {args.lmax} E+F {args.system}",
            "eqv2-direct": f"EquiformerV2 lmax {args.lmax} E + direct F (no_grad) {args.system}",
            "step": f"eager step, acac x{args.batch_size}"}[args.workload]
    print(f"{what}, {args.threads} thread(s), median of {args.rounds} interleaved rounds; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    base = statistics.median(times[workers[0].label])
    print(f"{'variant':28} {'ms':>9} {'us/atom':>9} {'ratio':>7}")
    records = []
    for w in workers:
        ms = statistics.median(times[w.label])
        records.append(dict(variant=w.label, ms=ms, us_per_atom=1e3 * ms / w.atoms, ratio=ms / base, rounds=times[w.label]))
        print(f"{w.label:28} {ms:9.1f} {1e3 * ms / w.atoms:9.0f} {ms / base:7.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(workload=what, load=[load_before, load_after], records=records), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
