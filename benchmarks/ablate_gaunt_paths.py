"""What Gaunt products' missing odd paths cost: gaunt_ace with engine=gaunt against engine=cg odd_paths=true.

Both train examples/train_acac_ace.yaml (the same model, seed and split) for the same CPU-time budget
(``run.clock=cpu``, one thread each), then the table gives each run's validation and test energy
and force errors. The CG engine with odd paths is the richer model but slower per step, so at equal
budget it sees fewer epochs: the table answers "which is better per CPU-minute", not "which is
better at convergence".

    python -m benchmarks.ablate_gaunt_paths --minutes 12 --seeds 0 1 --json out.json

Data: the full BOTNet acac files (500 training, 650 test structures) from ../shared/data/botnet/acac
when present, else (said in the output) the subsets bundled with the package. Finished runs (a
``valid_metrics.json`` in their folder) are skipped, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.json_out import write_json

ROOT = Path(__file__).resolve().parents[1]
FULL_DATA = ROOT.parent / "shared" / "data" / "botnet" / "acac"
VARIANTS = {"gaunt": ["model.options.engine=gaunt"], "cg+odd": ["model.options.engine=cg", "model.options.odd_paths=true"]}


def data_overrides(data_dir: Path) -> tuple[list[str], str]:
    """``--set`` values pointing at the full acac files, or none (bundled subsets) when they are missing."""
    files = [data_dir / name for name in ("train_300K.xyz", "test_MD_300K.xyz", "isolated_atoms.xyz")]
    if not all(f.exists() for f in files):
        return [], f"bundled acac subsets (200 train / 100 test): {data_dir} not found"
    train, test, isolated = files
    return ([f"data.train_file={train}", f"data.test_file={test}", f"data.isolated_atoms_file={isolated}"],
            f"full acac data from {data_dir} (500 train, 650 test)")


def command(variant: str, seed: int, minutes: float, out: Path, data: list[str]) -> list[str]:
    sets = [*VARIANTS[variant], *data, f"run.max_minutes={minutes}", "run.clock=cpu", "run.threads=1",
            f"run.seed={seed}", "run.progress=false", "run.device=cpu"]
    cmd = [sys.executable, "-m", "irreps.cli.main", "train", str(ROOT / "examples" / "train_acac_ace.yaml"),
           "--output", str(out)]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def read_result(run: Path) -> dict:
    """Energy (meV/atom) and force (meV/Å) RMSEs of a finished run; epochs trained."""
    row = {}
    for split in ("valid", "test"):
        path = run / f"{split}_metrics.json"
        if path.exists():
            m = json.loads(path.read_text())
            row[f"{split}_E_rmse_meV_atom"] = 1000 * m["energy_per_atom"]["rmse"]
            row[f"{split}_F_rmse_meV_A"] = 1000 * m["forces"]["rmse"]
    history = json.loads((run / "metrics.json").read_text())
    row["epochs"], row["best_epoch"] = len(history["history"]), history["best_epoch"]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=12.0, help="CPU minutes of training per run (default 12)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time (default 1; each uses one thread)")
    parser.add_argument("--runs", type=Path, default=Path.home() / ".cache" / "irreps" / "ablate_gaunt_paths",
                        help="where the run folders go (default ~/.cache/irreps/ablate_gaunt_paths)")
    parser.add_argument("--data-dir", type=Path, default=FULL_DATA, help="folder with the full acac files")
    parser.add_argument("--json", type=Path, help="write the table's rows here")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.parallel < 1:
        raise SystemExit("--minutes must be > 0 and --parallel >= 1")

    data, data_note = data_overrides(args.data_dir)
    print(f"data: {data_note}")
    jobs = [(v, s, args.runs / f"{v}-seed{s}-{args.minutes:g}min") for s in args.seeds for v in args.variants]
    pending = [j for j in jobs if not (j[2] / "valid_metrics.json").exists()]
    running: list[tuple[subprocess.Popen, Path]] = []
    while pending or running:
        while pending and len(running) < args.parallel:
            variant, seed, out = pending.pop(0)
            out.parent.mkdir(parents=True, exist_ok=True)
            cmd = command(variant, seed, args.minutes, out, data)
            print("running:", " ".join(cmd[1:]), flush=True)
            log = open(out.parent / f"{out.name}.log", "w")
            # a run stopped part-way left a non-empty folder: start it afresh
            running.append((subprocess.Popen([*cmd, "--overwrite"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT), out))
        time.sleep(5)
        for proc, out in list(running):
            if proc.poll() is not None:
                running.remove((proc, out))
                if proc.returncode:
                    print(f"failed ({proc.returncode}): {out}; see {out.parent / (out.name + '.log')}", flush=True)

    rows = []
    for variant, seed, out in jobs:
        if (out / "valid_metrics.json").exists():
            rows.append({"variant": variant, "seed": seed, "cpu_minutes": args.minutes, "run": str(out), **read_result(out)})
    keys = ["valid_E_rmse_meV_atom", "valid_F_rmse_meV_A", "test_E_rmse_meV_atom", "test_F_rmse_meV_A", "epochs"]
    print(f"\n{'variant':8s} {'seed':>4s} " + " ".join(f"{k:>22s}" for k in keys))
    for r in rows:
        print(f"{r['variant']:8s} {r['seed']:4d} " + " ".join(f"{r.get(k, float('nan')):22.2f}" for k in keys))
    if args.json:
        write_json(str(args.json), {"data": data_note, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
