"""Train, evaluate and time every (dataset, system, size, seed) job; one record per finished job.

Jobs run ``parallel`` at a time (default: cores // threads), each under its CPU cap
(:mod:`.budget`). After training, the system's model file is evaluated on the validation set
and every test set by :mod:`.worker` in the system's own environment (float64 where allowed),
then timed (float32, single structures, while other jobs may run on the other cores, as for
every system alike). The record goes to ``benchmarks/results/<dataset>.jsonl``.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..peers import peer_python
from .budget import read_log, run_capped
from .datasets import REPO, materialise
from .metrics import errors, references
from .results import RESULTS, append_record, commit, done_keys, machine
from .systems import Job, System, get_system


def system_python(system: System) -> Path | None:
    """The interpreter that runs ``system``: its peer environment, or this one for ours."""
    return Path(sys.executable) if system.env is None else peer_python(system.env)


def package_version(python: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def _env(job: Job, quiet: bool = True) -> dict[str, str]:
    threads = str(job.threads)
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               TORCHINDUCTOR_COMPILE_THREADS="1", PYTHONUNBUFFERED="1",
               PATH=f"{job.bin}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=str(REPO) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""))
    if quiet:
        env["TQDM_DISABLE"] = "1"
    return env


def _worker(job: Job, mode: str, model: Path, test: Path, out: Path) -> None:
    command = [str(job.python), "-m", "benchmarks.compare.worker", mode, "--system", job.system, "--model",
               str(model), "--test", str(test), "--out", str(out), "--threads", str(job.threads)]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(job), cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"evaluation worker failed ({' '.join(command)}):\n{done.stderr[-3000:]}")


def learning_curve(system: System, job: Job, log: Path) -> list[dict]:
    """Validation force errors against the CPU seconds at which they were printed.

    Points from the log carry their CPU time; a system whose errors are only in files
    (``curve_from_files``) gives their times itself or marks epoch ends in the log, and its
    points take the first mark's time. ``epoch`` counts the epochs trained.
    """
    printed = []
    for cpu, wall, line in read_log(log):
        point = system.curve_point(line)
        if point is not None:
            printed.append({"cpu_s": cpu, "wall_s": wall, **point})
    if not hasattr(system, "curve_from_files"):
        return printed
    ends: dict[int, dict] = {}
    for point in printed:
        ends.setdefault(point["epoch"], point)
    return [point if "cpu_s" in point else
            dict(point, cpu_s=ends[point["epoch"]]["cpu_s"], wall_s=ends[point["epoch"]]["wall_s"])
            for point in system.curve_from_files(job) if "cpu_s" in point or point["epoch"] in ends]


def evaluate(system: System, job: Job, model: Path) -> dict:
    """Errors on the validation and test sets and the inference timing of ``model``."""
    out: dict = {"tests": {}}
    sets = {"valid": job.files.valid, **job.files.tests}
    for name, path in sets.items():
        pred = job.workdir / f"pred_{name}.npz"
        _worker(job, "predict", model, path, pred)
        with np.load(pred) as p:
            energy, forces, dtype = p["energy"], p["forces"], str(p["dtype"])
        ref_e, ref_f, natoms = references(path)
        result = errors(energy, forces, ref_e, ref_f, natoms)
        if name == "valid":
            out["valid"] = result
        else:
            out["tests"][name] = result
        out["eval_dtype"] = dtype
    timing = job.workdir / "timing.json"
    _worker(job, "time", model, next(iter(job.files.tests.values())), timing)
    out["timing"] = json.loads(timing.read_text())
    return out


ABORT = threading.Event()  # set when the comparison is interrupted: running trainings are killed


def run_job(job: Job, code_commit: str, log=print) -> dict | None:
    """Train ``job`` under its cap, evaluate it and return its record (None when it failed).

    ``code_commit`` is the repository's commit when the comparison started (the code that trained).
    """
    system = get_system(job.system)
    if job.workdir.exists():
        shutil.rmtree(job.workdir)  # an unfinished earlier attempt: start afresh
    job.workdir.mkdir(parents=True)
    log(f"[start] {job.key}")
    command = system.train_command(job)
    result = run_capped(command, 60 * job.minutes, job.workdir / "train.log", env=_env(job, system.quiet_progress),
                        cwd=job.workdir, abort=ABORT)
    if ABORT.is_set():
        log(f"[abort] {job.key}: interrupted; it starts afresh next time")
        return None
    log(f"[trained] {job.key}: {result.cpu_seconds:.0f} CPU s, {result.wall_seconds:.0f} wall s, exit "
        f"{result.returncode}{' at the cap' if result.capped else ''}")
    try:
        model = system.model_file(job)
        evaluation = evaluate(system, job, model)
    except (RuntimeError, OSError, ValueError) as error:
        log(f"[fail] {job.key}: {error}\n  log: {job.workdir / 'train.log'}")
        return None
    curve = learning_curve(system, job, job.workdir / "train.log")
    record = {
        "dataset": job.dataset, "system": job.system, "size": job.size, "recipe": system.sizes[job.size],
        "version": package_version(job.python, system.package), "seed": job.seed, "minutes": job.minutes,
        "threads": job.threads, "cpu_seconds": result.cpu_seconds, "wall_seconds": result.wall_seconds,
        "capped": result.capped, "exit_code": result.returncode,
        "epochs": max((p["epoch"] for p in curve), default=None), "params": system.num_parameters(job),
        "model_path": str(model), "curve": curve, "commit": code_commit, "machine": machine(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"), **evaluation,
    }
    return record


def run_all(datasets: list[str], systems: list[str], sizes: list[str], seeds: list[int], minutes: float,
            threads: int, parallel: int, data_dir: Path, cache: Path, results: Path = RESULTS) -> list[dict]:
    """Every job not yet recorded, in the order dataset, seed, size, system; returns the new records."""
    here = commit()
    pythons = {name: system_python(get_system(name)) for name in systems}  # None: skipped, said so
    jobs = []
    # seed-, then size-major: a stopped comparison has every system's recommended recipe first
    for dataset in datasets:
        files = materialise(dataset, data_dir, cache / "data" / dataset)
        done = done_keys(dataset, here, results)
        for seed in seeds:
            for size in sizes:
                for name in systems:
                    if pythons[name] is None or size not in get_system(name).sizes:
                        continue
                    if (dataset, name, size, seed, float(minutes), threads) in done:
                        print(f"[done] {dataset}/{name}-{size} seed {seed}: recorded already", flush=True)
                        continue
                    workdir = cache / "runs" / dataset / f"{name}-{size}" / f"seed{seed}-{minutes:g}min-{threads}thr"
                    jobs.append(Job(dataset, name, size, seed, minutes, threads, workdir, files, pythons[name]))
    print(f"{len(jobs)} jobs, {parallel} at a time, {minutes:g} CPU minutes each", flush=True)

    def one(job: Job) -> dict | None:
        try:
            record = run_job(job, here, log=lambda line: print(line, flush=True))
        except Exception:  # one system's failure must not stop the others
            print(f"[fail] {job.key}:\n{traceback.format_exc()}", flush=True)
            return None
        if record is not None:
            append_record(record, results)
            test = next(iter(record["tests"].values()))
            print(f"[record] {job.key}: test F RMSE {test['f_rmse']:.2f} meV/Å, "
                  f"{record['timing']['us_per_atom']:.0f} µs/atom", flush=True)
        return record

    # SIGTERM (a scheduler, `kill`) ends the comparison like Ctrl-C: trainings are killed, finished
    # records stay, the next run starts the unfinished jobs afresh
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    pool = ThreadPoolExecutor(max_workers=parallel)
    try:
        records = list(pool.map(one, jobs))
    except KeyboardInterrupt:
        ABORT.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        signal.signal(signal.SIGTERM, previous)
    return [r for r in records if r is not None]


def default_cache() -> Path:
    from ..peers import peers_root

    return peers_root().parent / "compare"


__all__ = ["run_all", "run_job", "default_cache"]
