"""Command line of the side-by-side benchmark (see ``benchmarks/compare/__init__.py``).

    python -m benchmarks.peers build                                     # once: the peers' venvs
    python -m benchmarks.compare run --datasets acac --minutes 3         # a smoke run
    python -m benchmarks.compare run --minutes 30 --json out.json        # every dataset and system
    python -m benchmarks.compare time --datasets acac                     # re-time on a quiet machine
    python -m benchmarks.compare report --figures docs/figures           # tables and figures
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .datasets import DATASETS, DEFAULT_DATA
from .report import report
from .results import RESULTS
from .run import default_cache, run_all
from .systems import SYSTEMS
from .timing import retime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train, evaluate and time every job not yet recorded")
    run.add_argument("--datasets", nargs="+", default=list(DATASETS), help=f"of {', '.join(DATASETS)} (default: all)")
    run.add_argument("--systems", nargs="+", default=list(SYSTEMS), help=f"of {', '.join(SYSTEMS)} (default: all)")
    run.add_argument("--sizes", nargs="+", default=["recommended", "small"],
                     help="recipe sizes: recommended (the authors' small-molecule recipe), small (smallest preset), "
                          "lmax2 and lmax6 (EquiformerV2 and eSCN), wide (gaunt_ace at 64 channels); "
                          "systems without a size skip it")
    run.add_argument("--minutes", type=float, default=30.0, help="CPU minutes of training per job (default 30)")
    run.add_argument("--threads", type=int, default=1, help="threads per job (default 1)")
    run.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default 0)")
    run.add_argument("--parallel", type=int, default=None, help="jobs at a time (default: cores // threads)")
    run.add_argument("--data-dir", type=Path, default=DEFAULT_DATA,
                     help="folder with acac/, ethanol/, 3bpa/ (default: ../shared/data/botnet)")
    run.add_argument("--cache", type=Path, default=None,
                     help="where data copies, runs and model files go (default: $IRREPS_PEERS/../compare)")
    run.add_argument("--results", type=Path, default=RESULTS, help="records folder (default benchmarks/results)")
    run.add_argument("--json", type=Path, help="also write this invocation's new records here")
    tim = sub.add_parser("time", help="re-time every recorded model serially (run it on a quiet machine)")
    tim.add_argument("--datasets", nargs="+", default=list(DATASETS))
    tim.add_argument("--minutes", type=float, nargs="+", help="budgets whose models to time (default: all)")
    tim.add_argument("--rounds", type=int, default=3, help="round-robin repetitions (default 3)")
    tim.add_argument("--cpu", type=int, help="pin the timing workers to this CPU core (Linux): on a shared "
                                              "machine, keep other work off it (e.g. with taskset)")
    tim.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    tim.add_argument("--cache", type=Path, default=None)
    tim.add_argument("--results", type=Path, default=RESULTS)
    rep = sub.add_parser("report", help="print the tables (Markdown) and draw the figures")
    rep.add_argument("--datasets", nargs="+", default=list(DATASETS))
    rep.add_argument("--minutes", type=float, nargs="+", help="budgets to show (default: all recorded)")
    rep.add_argument("--results", type=Path, default=RESULTS)
    rep.add_argument("--figures", type=Path, help="write the PNG figures into this folder")
    args = parser.parse_args(argv)

    if args.command == "time":
        if args.cpu is not None:
            if args.cpu not in os.sched_getaffinity(0):
                parser.error(f"--cpu {args.cpu} is not one of this process's cores {sorted(os.sched_getaffinity(0))}")
            os.sched_setaffinity(0, {args.cpu})  # the workers it spawns inherit the pinning
        retime(args.datasets, args.minutes, args.rounds, args.data_dir, args.cache or default_cache(), args.results)
        return 0
    if args.command == "report":
        print(report(args.datasets, args.minutes, args.results, args.figures))
        return 0
    for name, known in (("dataset", DATASETS), ("system", SYSTEMS)):
        unknown = [x for x in getattr(args, name + "s") if x not in known]
        if unknown:
            parser.error(f"unknown {name}(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if args.json and args.json.exists():
        parser.error(f"{args.json} exists: not overwriting it")
    missing = [d for d in args.datasets if not (args.data_dir / d).is_dir()]
    if missing:
        print(f"[skip] datasets {', '.join(missing)}: not found under {args.data_dir} "
              "(the reference data; see --data-dir)", file=sys.stderr)
        args.datasets = [d for d in args.datasets if d not in missing]
        if not args.datasets:
            return 1
    parallel = args.parallel or max(1, (os.cpu_count() or 1) // args.threads)
    try:
        records = run_all(args.datasets, args.systems, args.sizes, args.seeds, args.minutes, args.threads, parallel,
                          args.data_dir, args.cache or default_cache(), args.results)
    except KeyboardInterrupt:
        print("interrupted: finished jobs are recorded; `run` again resumes with the others", file=sys.stderr)
        return 130
    print()
    print(report(args.datasets, [args.minutes], args.results, None))
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
