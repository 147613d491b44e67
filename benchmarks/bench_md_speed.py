"""MD and energy+force speed of TensorNet, eager against the compiled inference path.

For each dtype: `irreps md`'s loop (:func:`irreps.sim.md.run_md`, NVE at 0.5 fs, guards and
trajectory writing included) on acetylacetone (the first structure of ``bundled:acac_test``,
15 atoms, no cell) with ``IrrepsCalculator(compile=False)`` and ``compile=True``, and energy +
forces alone (the calculator on rattled copies, neighbour list rebuilt each call: skin 0) in
µs per atom. Eager and compiled runs alternate, their order swapped every round, so load on a
shared machine hits both alike; the table gives medians and the ratio eager / compiled.

Compile time: the first evaluation records and compiles the program. ``--cold`` times it in a
fresh process with a new, empty inductor cache folder and program store
(:mod:`irreps.nn.program_store`, kept inside that folder), then again in a second fresh process
that finds them warm (it loads the stored program and checks it against one eager
evaluation); the main process then uses that folder.
Without ``--cold`` only the main process's first call is reported (warm when ``--cache-dir``
holds an earlier run's cache, cold in the default new folder).

``--batch-3bpa`` adds energy + forces of 32 3BPA structures in one batch (``CompiledPotential``
on the batched graph; needs ``../shared/data/botnet/3bpa/train_300K.xyz``, skipped with a
message when missing). The model has random weights in the recommended recipe's shape
(``examples/train_acac.yaml``: 128 channels, 2 layers, 32 radial functions, 5 Å) unless
``--model`` gives a file. Give a trained model for the MD: with random weights the molecule
falls apart within tens of steps and a guard stops the run.

    python benchmarks/bench_md_speed.py --dtypes float32 float64 --cold --json md_speed.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable

ROOT = Path(__file__).resolve().parents[1]
THREEBPA = ROOT / ".." / "shared" / "data" / "botnet" / "3bpa" / "train_300K.xyz"
RECOMMENDED = {"hidden_dim": 128, "num_layers": 2, "num_rbf": 32, "cutoff": 5.0}


def _model(path: str | None):
    from irreps.models import build_model, load_model

    if path:
        return load_model(path)
    return build_model("tensornet", {"elements": [1, 6, 7, 8], **RECOMMENDED})


def _acac():
    import ase.io
    import numpy as np

    from irreps.data import resolve_data_path

    atoms = ase.io.read(resolve_data_path("bundled:acac_test"), index=0)
    atoms.set_cell(np.zeros((3, 3)))
    atoms.pbc = False
    return atoms


def _md_steps_per_s(atoms, calculator, steps: int, seed: int) -> float:
    """Steps per second of ``irreps md``'s loop (NVE, 0.5 fs, 300 K)."""
    from irreps.sim.md import MDConfig, run_md

    with tempfile.TemporaryDirectory() as tmp:
        config = MDConfig(steps=steps, seed=seed, traj_every=10, log_every=1)
        result = run_md(atoms.copy(), calculator, config, Path(tmp) / "t.extxyz", Path(tmp) / "log.csv")
    return result.steps_per_s


def _energy_forces_us_per_atom(atoms, calculator, repeats: int, seed: int) -> float:
    """Median µs per atom of one energy + forces evaluation of a rattled copy (new neighbour list)."""
    times = []
    for k in range(repeats):
        copy = atoms.copy()
        copy.rattle(0.01, seed=seed + k)
        start = time.perf_counter()
        calculator.calculate(copy, ["energy", "forces"])
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times) / len(atoms)


def _first_call_seconds(model_path: str | None, dtype: str) -> float:
    """Seconds of the first compiled energy + forces (recording and compiling included)."""
    from irreps.calculators import IrrepsCalculator

    calculator = IrrepsCalculator(_model(model_path), dtype=dtype, compile=True)
    start = time.perf_counter()
    calculator.calculate(_acac(), ["energy", "forces"])
    return time.perf_counter() - start


def _store(cache: str) -> str:
    """The program store (irreps.nn.program_store) kept inside the inductor cache folder: both cold or both warm."""
    return str(Path(cache) / "irreps-programs")


def _compile_in_fresh_process(model_path: str | None, dtype: str, cache: str) -> float:
    command = [sys.executable, __file__, "--first-call", dtype] + (["--model", model_path] if model_path else [])
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "IRREPS_COMPILE_CACHE": _store(cache), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _batch_3bpa(model, dtype, rounds: int) -> dict | None:
    """E+F µs/atom of 32 3BPA structures in one batch, eager model against CompiledPotential."""
    import ase.io

    from irreps.data import atoms_to_graph
    from irreps.data.batch import collate
    from irreps.nn.compiled_potential import CompiledPotential

    if not THREEBPA.is_file():
        print(f"3BPA x32 skipped: {THREEBPA} is missing (the shared data, see docs/data.md)")
        return None
    frames = ase.io.read(THREEBPA, index=":32")
    graph = collate([atoms_to_graph(a, float(model.cutoff), keys=None, dtype=dtype) for a in frames])
    compiled = CompiledPotential(model)
    start = time.perf_counter()
    compiled(graph)
    first = time.perf_counter() - start
    times = {"eager": [], "compiled": []}
    for r in range(rounds):
        for name in (("eager", "compiled") if r % 2 == 0 else ("compiled", "eager")):
            start = time.perf_counter()
            (compiled(graph) if name == "compiled" else model(graph, compute_forces=True))
            times[name].append(time.perf_counter() - start)
    n = graph.num_atoms
    return {"atoms": n, "first_call_s": first, **{f"{k}_us_per_atom": 1e6 * statistics.median(v) / n
                                                   for k, v in times.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model file (default: random weights, the recommended TensorNet shape)")
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"), default=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=200, help="MD steps per round (default 200)")
    parser.add_argument("--repeats", type=int, default=30, help="E+F evaluations per round (default 30)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved eager/compiled rounds (default 4)")
    parser.add_argument("--cold", action="store_true", help="time cold and warm compiles in fresh processes")
    parser.add_argument("--cache-dir", help="inductor cache folder (default: a new temporary folder, i.e. cold)")
    parser.add_argument("--batch-3bpa", action="store_true", help="also E+F of 3BPA x32 (needs ../shared/data)")
    parser.add_argument("--json", help="write the records to this JSON file")
    parser.add_argument("--first-call", choices=("float32", "float64"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    if args.first_call:  # the fresh process of --cold
        print(_first_call_seconds(args.model, args.first_call))
        return 0
    if args.cold and args.cache_dir:
        parser.error("--cold compiles into a new, empty cache folder; leave out --cache-dir")
    cache = args.cache_dir or tempfile.mkdtemp(prefix="irreps_inductor_")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # read when inductor first compiles, below
    os.environ["IRREPS_COMPILE_CACHE"] = _store(cache)

    from irreps.calculators import IrrepsCalculator

    atoms = _acac()
    records = []
    for dtype in args.dtypes:
        record = {"dtype": dtype, "atoms": len(atoms), "cache_dir": cache}
        if args.cold:  # this dtype's program is not in the new folder yet
            record["compile_cold_s"] = _compile_in_fresh_process(args.model, dtype, cache)
            record["compile_warm_s"] = _compile_in_fresh_process(args.model, dtype, cache)
        model = _model(args.model)
        calculators = {"eager": IrrepsCalculator(model, dtype=dtype),
                       "compiled": IrrepsCalculator(model, dtype=dtype, compile=True)}
        single = {"eager": IrrepsCalculator(model, dtype=dtype, skin=0.0),
                  "compiled": IrrepsCalculator(model, dtype=dtype, skin=0.0, compile=True)}
        start = time.perf_counter()
        calculators["compiled"].calculate(atoms.copy(), ["energy", "forces"])
        record["first_call_s"] = time.perf_counter() - start
        print(f"{dtype}: first compiled call (recording and compiling, or loading the stored program) {record['first_call_s']:.1f} s", flush=True)
        calculators["eager"].calculate(atoms.copy(), ["energy", "forces"])
        if calculators["compiled"].compiled is None:
            raise SystemExit("the model could not be compiled (see the warning above)")
        md = {"eager": [], "compiled": []}
        ef = {"eager": [], "compiled": []}
        for r in range(args.rounds):
            for name in (("eager", "compiled") if r % 2 == 0 else ("compiled", "eager")):
                md[name].append(_md_steps_per_s(atoms, calculators[name], args.steps, seed=r))
                ef[name].append(_energy_forces_us_per_atom(atoms, single[name], args.repeats, seed=100 * r))
        for name in ("eager", "compiled"):
            record[f"md_steps_per_s_{name}"] = statistics.median(md[name])
            record[f"ef_us_per_atom_{name}"] = statistics.median(ef[name])
        record["md_ratio"] = record["md_steps_per_s_compiled"] / record["md_steps_per_s_eager"]
        record["ef_ratio"] = record["ef_us_per_atom_eager"] / record["ef_us_per_atom_compiled"]
        record["num_recordings"] = calculators["compiled"].compiled[0].num_recordings
        if args.batch_3bpa:
            record["3bpa_x32"] = _batch_3bpa(model.to(getattr(torch, dtype)), getattr(torch, dtype), args.rounds)
        records.append(record)
        _print_row(record, header=len(records) == 1)

    if args.json:
        from benchmarks.json_out import write_json

        write_json(args.json, {"threads": 1, "steps": args.steps, "rounds": args.rounds, "records": records})
    return 0


def _print_row(r: dict, header: bool) -> None:
    if header:
        print(f"{'dtype':8} {'MD steps/s eager':>16} {'compiled':>9} {'ratio':>6} {'E+F us/atom eager':>18} "
              f"{'compiled':>9} {'ratio':>6} {'compile s: cold':>15} {'warm':>6} {'first call':>10}")
    cold = f"{r['compile_cold_s']:15.1f} {r['compile_warm_s']:6.1f}" if "compile_cold_s" in r else f"{'-':>15} {'-':>6}"
    print(f"{r['dtype']:8} {r['md_steps_per_s_eager']:16.1f} {r['md_steps_per_s_compiled']:9.1f} {r['md_ratio']:6.2f} "
          f"{r['ef_us_per_atom_eager']:18.0f} {r['ef_us_per_atom_compiled']:9.0f} {r['ef_ratio']:6.2f} {cold} "
          f"{r['first_call_s']:10.1f}")
    batch = r.get("3bpa_x32")
    if batch:
        print(f"         3BPA x32 ({batch['atoms']} atoms) E+F us/atom: eager {batch['eager_us_per_atom']:.0f}, "
              f"compiled {batch['compiled_us_per_atom']:.0f}, "
              f"ratio {batch['eager_us_per_atom'] / batch['compiled_us_per_atom']:.2f} "
              f"(first call {batch['first_call_s']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
