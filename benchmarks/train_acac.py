"""Training benchmark: TensorNet on acetylacetone (BOTNet acac) and ethanol (rMD17 split).

- acac: ``train_300K.xyz`` (450 train / 50 validation) -> ``test_MD_300K.xyz`` (650 structures);
  reported as total-energy RMSE (meV) and force-component RMSE (meV/Å), as in the BOTNet/MACE
  papers. Acceptance: <= 1.2 meV and <= 7.0 meV/Å within 2 hours on 2 CPU cores.
- ethanol: ``train.xyz`` (950 / 50) -> ``test_MD.xyz`` (1000); MAE as in rMD17 papers.
  Acceptance: <= 0.6 meV and <= 3.5 meV/Å.

The library's own trainer and config are used (``irreps.train``), so this is exactly what
``irreps train examples/train_acac.yaml`` does (the config is printed at the start); the errors come from the saved
model (EMA weights of the best validation epoch) evaluated in float64. Published numbers are
printed beside ours; training peer codes here would take hours each, so they are not rerun.

    # one dataset on both cores of the 2-core machine: two data-parallel processes
    python benchmarks/train_acac.py --dataset acac --processes 2 --json acac.json --out acac.pt
    # or both datasets at once, one core each
    python benchmarks/train_acac.py --dataset acac --threads 1 --json acac.json --out acac.pt &
    python benchmarks/train_acac.py --dataset ethanol --threads 1 --json ethanol.json --out ethanol.pt
    python benchmarks/train_acac.py --dataset acac --max-minutes 5     # a short smoke run
    python benchmarks/train_acac.py --set model.options.hidden_dim=64   # any config override
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "botnet"

# dataset -> files, split, metric used by the literature, published (energy, forces) in meV, meV/Å
DATASETS = {
    "acac": {
        "train": "acac/train_300K.xyz", "test": "acac/test_MD_300K.xyz", "isolated": "acac/isolated_atoms.xyz",
        "valid_fraction": 0.1, "metric": "rmse", "bar": (1.2, 7.0),
        "recipe": {"data.batch_size": 4, "optim.lr": 2e-3},
        "published": {"NequIP": (0.81, 5.90), "MACE": (0.9, 5.1)},
    },
    "ethanol": {
        "train": "ethanol/train.xyz", "test": "ethanol/test_MD.xyz", "isolated": "ethanol/isolated_atoms.xyz",
        "valid_fraction": 0.05, "metric": "mae", "bar": (0.6, 3.5),
        "recipe": {"data.batch_size": 8, "optim.lr": 3e-3},
        "published": {"NequIP": (0.4, 2.8), "MACE": (0.4, 2.1)},
    },
}

# The recipe: examples/train_acac.yaml (TensorNet as in the paper: 128 channels, 2 layers,
# 32 radial functions, 5 Å; AMSGrad, EMA, per-atom energy : forces = 10 : 1, a cosine schedule
# over the time budget, --max-minutes, so that a slower or faster machine still decays fully
# inside it). Each dataset's "recipe" above sets its batch size and learning rate, chosen on the
# validation set (docs/training.md). The data paths, time budget, dtype, device and seed are set here.
RECIPE = Path(__file__).resolve().parents[1] / "examples" / "train_acac.yaml"


def run_dataset(name: str, args: argparse.Namespace, work: Path, data: Path) -> dict:
    from irreps.train.config import dump_config, load_config
    from irreps.train.run import train

    spec = DATASETS[name]
    overrides = [
        f"data.train_file={data / spec['train']}",
        f"data.test_file={data / spec['test']}",
        f"data.isolated_atoms_file={data / spec['isolated']}",
        f"data.valid_fraction={spec['valid_fraction']}",
        f"run.max_minutes={args.max_minutes}",
        f"run.dtype={args.dtype}",
        f"run.seed={args.seed}",
        f"run.device={args.device}",
        f"run.threads={'null' if args.threads is None else args.threads}",
        f"run.processes={args.processes}",
        "run.progress=false",
    ] + [f"{key}={value}" for key, value in spec["recipe"].items()] + args.overrides
    config = load_config(RECIPE, overrides)
    print(f"\n== {name}: config ==\n{dump_config(config)}", flush=True)
    start = time.perf_counter()
    result = train(config, run_dir=work / name, log=lambda line: print(line, flush=True))
    wall = time.perf_counter() - start
    test = result.test_metrics
    record = {
        "dataset": name,
        "e_rmse_mev": 1000 * test["energy"]["rmse"],
        "f_rmse_mev_per_A": 1000 * test["forces"]["rmse"],
        "e_mae_mev": 1000 * test["energy"]["mae"],
        "f_mae_mev_per_A": 1000 * test["forces"]["mae"],
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "train_wall_s": result.history[-1]["seconds"],
        "total_wall_s": wall,
        "threads": args.threads,
        "processes": args.processes,
        "dtype": args.dtype,
        "device": args.device,
        "model_path": str(result.model_path) if args.run_dir else None,
    }
    if args.out:
        out = Path(args.out)
        if len(args.dataset) > 1:
            out = out.with_name(f"{out.stem}_{name}{out.suffix}")
        if out.exists():
            raise SystemExit(f"{out} exists: not overwriting it (remove it or choose another --out)")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.model_path, out)
        record["model_path"] = str(out)
    return record


def print_table(records: list[dict]) -> None:
    header = f"{'dataset':<8} {'metric':<6} {'E (meV)':>9} {'F (meV/Å)':>10} {'bar E/F':>11} {'pass':>5} " \
             f"{'epochs':>6} {'train s':>8}  published (E / F)"
    print("\n" + header + "\n" + "-" * len(header))
    for r in records:
        spec = DATASETS[r["dataset"]]
        metric = spec["metric"]
        e, f = (r["e_rmse_mev"], r["f_rmse_mev_per_A"]) if metric == "rmse" else (r["e_mae_mev"], r["f_mae_mev_per_A"])
        bar_e, bar_f = spec["bar"]
        ok = "yes" if e <= bar_e and f <= bar_f else "no"
        published = ", ".join(f"{k} {v[0]} / {v[1]}" for k, v in spec["published"].items())
        print(f"{r['dataset']:<8} {metric:<6} {e:9.3f} {f:10.3f} {f'{bar_e}/{bar_f}':>11} {ok:>5} "
              f"{r['epochs']:6d} {r['train_wall_s']:8.0f}  {published}")
        other = "MAE" if metric == "rmse" else "RMSE"
        e2, f2 = (r["e_mae_mev"], r["f_mae_mev_per_A"]) if metric == "rmse" else (r["e_rmse_mev"], r["f_rmse_mev_per_A"])
        print(f"{'':<8} {other.lower():<6} {e2:9.3f} {f2:10.3f}")
    print("ratios (ours / best published): " + ", ".join(
        f"{r['dataset']} E {ratio(r, 0):.2f} F {ratio(r, 1):.2f}" for r in records))


def ratio(record: dict, which: int) -> float:
    spec = DATASETS[record["dataset"]]
    keys = ("e_rmse_mev", "f_rmse_mev_per_A") if spec["metric"] == "rmse" else ("e_mae_mev", "f_mae_mev_per_A")
    best = min(v[which] for v in spec["published"].values())
    return record[keys[which]] / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", nargs="+", choices=sorted(DATASETS), default=["acac", "ethanol"])
    parser.add_argument("--max-minutes", type=float, default=118.0,
                        help="training time per dataset (default 118): the recipe's cosine spans it")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: the cores shared out over the processes)")
    parser.add_argument("--processes", type=int, default=1,
                        help="data-parallel training processes, each with a share of every batch (default 1)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (the acceptance setting), cuda or auto")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder holding acac/ and ethanol/")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override, as for `irreps train --set`")
    parser.add_argument("--run-dir", help="keep the run directories here (default: a temporary folder)")
    parser.add_argument("--json", help="write one record per dataset to this file")
    parser.add_argument("--out", help="save the trained model file here (suffixed _DATASET for several)")
    args = parser.parse_args()

    data = args.data_dir
    missing = [data / DATASETS[d][k] for d in args.dataset for k in ("train", "test", "isolated")
               if not (data / DATASETS[d][k]).is_file()]
    if missing:
        print("benchmark data missing (by default ../shared/data/botnet next to the repository; see --data-dir):",
              file=sys.stderr)
        for path in missing:
            print(f"  {path.resolve()}", file=sys.stderr)
        return 1
    if args.json and Path(args.json).exists():
        print(f"{args.json} exists: not overwriting it", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="irreps-train-bench-") as tmp:
        work = Path(args.run_dir) if args.run_dir else Path(tmp)
        records = [run_dataset(name, args, work, data) for name in args.dataset]
    print_table(records)
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
