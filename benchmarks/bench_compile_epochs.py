"""CPU seconds per training epoch, eager against the compiled training step (``run.compile``), per model.

Each run is ``irreps train examples/train_acac_<model>.yaml`` for ``--epochs`` epochs on one thread
(float32, CPU), its CPU time counted over the whole process tree by the side-by-side benchmark's
supervisor (:mod:`benchmarks.compare.budget`: torch.compile's worker processes count, as they do
against that benchmark's budget), each line stamped with the CPU seconds used so far. The data
are the side-by-side benchmark's acac split (``../shared/data/botnet/acac/train_300K.xyz``, 450
training + 50 validation structures, isolated-atom E0s); without that file the bundled acac subset
(180 + 20) is used and the output says so. The compiled step is captured and compiled at the
first step of epoch 1, so that epoch carries the one-off cost.

The table gives, per model and mode: the CPU seconds at the end of epoch 1 (start-up, data,
validation, capture and compilation included), the median CPU seconds of the later epochs, and
the epochs a ``--budget-minutes`` CPU budget buys at those rates (``1 + (budget - first) / epoch``),
and the ratio eager / compiled of the later epochs' seconds.

    python benchmarks/bench_compile_epochs.py --models gaunt_ace tfn se3_transformer --epochs 4 --json epochs.json
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from benchmarks.compare.budget import read_log, run_capped  # noqa: E402
from benchmarks.json_out import write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ACAC = ROOT.parent / "shared" / "data" / "botnet" / "acac"
RECIPES = {"tensornet": "train_acac.yaml", "gaunt_ace": "train_acac_ace.yaml", "tfn": "train_acac_tfn.yaml",
           "se3_transformer": "train_acac_se3_transformer.yaml",
           "equiformer_v2": "train_acac_equiformer_v2.yaml", "escn": "train_acac_escn.yaml"}
_EPOCH = re.compile(r"^epoch\s+(\d+)\s")


def data_overrides() -> tuple[list[str], str]:
    """``--set`` overrides for the data, and a description (the bundled subset when the shared file is missing)."""
    train = ACAC / "train_300K.xyz"
    if not train.is_file():
        print(f"[note] {train} is missing: using the bundled acac subset (180 training structures) instead")
        return ["data.train_file=bundled:acac_train", "data.isolated_atoms_file=bundled:acac_isolated_atoms",
                "data.valid_fraction=0.1"], "bundled acac subset"
    return [f"data.train_file={train}", f"data.isolated_atoms_file={ACAC / 'isolated_atoms.xyz'}",
            "data.valid_fraction=0.1"], "acac train_300K (450 + 50)"


def run_one(model: str, compiled: bool, epochs: int, cap_minutes: float, data: list[str], folder: Path) -> dict:
    """Train ``model``'s recipe for ``epochs`` epochs; the CPU stamps of its epoch lines."""
    tag = f"{model}_{'compiled' if compiled else 'eager'}"
    overrides = [*data, "data.test_file=null", f"run.compile={str(compiled).lower()}", f"run.epochs={epochs}",
                 f"run.max_minutes={cap_minutes:g}", "run.threads=1", "run.device=cpu", "run.progress=false", "run.clock=cpu",
                 "run.checkpoint_every=1000"]
    command = [sys.executable, "-m", "irreps.cli.main", "train", str(ROOT / "examples" / RECIPES[model]),
               "--output", str(folder / tag)]
    for item in overrides:
        command += ["--set", item]
    log = folder / f"{tag}.log"
    result = run_capped(command, 60.0 * cap_minutes, log, env={**os.environ, "OMP_NUM_THREADS": "1"})
    stamps = [cpu for cpu, _, line in read_log(log) if _EPOCH.match(line)]
    if result.returncode != 0 or len(stamps) < 2:
        tail = "".join(line + "\n" for _, _, line in read_log(log)[-15:])
        raise RuntimeError(f"{tag}: exit {result.returncode}, {len(stamps)} epoch lines; log {log}:\n{tail}")
    later = [b - a for a, b in zip(stamps, stamps[1:])]
    return dict(model=model, mode="compiled" if compiled else "eager", first_s=stamps[0],
                epoch_s=statistics.median(later), epoch_samples_s=later, total_s=result.cpu_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["gaunt_ace", "tfn", "se3_transformer"], choices=list(RECIPES))
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (>= 2; default 4)")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="CPU budget the epochs are projected on")
    parser.add_argument("--cap-minutes", type=float, default=60.0, help="CPU cap of each run (default 60)")
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"])
    parser.add_argument("--keep", type=Path, help="keep the runs and logs in this folder")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        raise SystemExit("--epochs must be >= 2 (epoch 1 carries the start-up)")
    data, described = data_overrides()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        for model in args.models:
            for mode in args.modes:
                rows.append(run_one(model, mode == "compiled", args.epochs, args.cap_minutes, data, folder))
                print(f"  done {model} {mode}: epoch 1 ends at {rows[-1]['first_s']:.0f} CPU s, "
                      f"later epochs {rows[-1]['epoch_s']:.1f} CPU s", flush=True)
    budget = 60.0 * args.budget_minutes
    print(f"{described}, float32, 1 thread, CPU seconds of the process tree, {args.epochs} epochs per run")
    print(f"{'model':<17}{'mode':<10}{'epoch 1 end':>12}{'epoch':>9}{'eager/this':>11}{f'epochs in {args.budget_minutes:g} min':>18}")
    for row in rows:
        eager = next((r["epoch_s"] for r in rows if r["model"] == row["model"] and r["mode"] == "eager"), None)
        row["epochs_in_budget"] = 1 + max(budget - row["first_s"], 0.0) / row["epoch_s"]
        ratio = f"{eager / row['epoch_s']:.2f}" if eager else "-"
        print(f"{row['model']:<17}{row['mode']:<10}{row['first_s']:>12.0f}{row['epoch_s']:>9.1f}{ratio:>11}"
              f"{row['epochs_in_budget']:>18.0f}")
    if args.json:
        write_json(str(args.json), dict(data=described, epochs=args.epochs, budget_minutes=args.budget_minutes,
                                        results=rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
