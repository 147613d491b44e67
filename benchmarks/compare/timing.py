"""Re-time recorded models on a quiet machine, serially and interleaved across systems.

A run times each model right after training, while other jobs may share the cores, so its
µs/atom carries that load. ``python -m benchmarks.compare time`` times every recorded model
again, one at a time, ``rounds`` times in round-robin order (load drifts hit every system
alike), and appends the median to ``benchmarks/results/<dataset>.timing.jsonl``; the report
prefers these timings to the in-run ones.
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import tempfile
from pathlib import Path

from .datasets import materialise
from .results import RESULTS, job_key, latest, load_records, machine
from .run import _worker, system_python
from .systems import Job, get_system


def timing_path(dataset: str, results: Path = RESULTS) -> Path:
    return results / f"{dataset}.timing.jsonl"


def load_timings(dataset: str, results: Path = RESULTS) -> dict[tuple, dict]:
    """The newest quiet timing of each job key."""
    path = timing_path(dataset, results)
    if not path.is_file():
        return {}
    return {job_key(t): t for t in map(json.loads, path.read_text().splitlines()) if t}


def retime(datasets: list[str], minutes: list[float] | None, rounds: int, data_dir: Path, cache: Path,
           results: Path = RESULTS) -> None:
    """Time every latest record's model file again (see the module docstring)."""
    for dataset in datasets:
        records = [r for r in latest(load_records(dataset, results))
                   if (minutes is None or float(r["minutes"]) in minutes) and Path(r["model_path"]).exists()]
        if not records:
            print(f"[skip] {dataset}: no recorded model files to time")
            continue
        test = next(iter(materialise(dataset, data_dir, cache / "data" / dataset).tests.values()))
        samples: dict[tuple, list[dict]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(rounds):
                for record in records:
                    python = system_python(get_system(record["system"]))
                    if python is None:
                        continue
                    job = Job(dataset, record["system"], record["size"], record["seed"], record["minutes"],
                              record["threads"], Path(tmp), None, python)
                    out = Path(tmp) / "timing.json"
                    _worker(job, "time", Path(record["model_path"]), test, out)
                    samples.setdefault(job_key(record), []).append(json.loads(out.read_text()))
        lines = []
        for record in records:
            runs = samples.get(job_key(record))
            if not runs:
                continue
            timing = {k: record[k] for k in ("dataset", "system", "size", "seed", "minutes", "threads")}
            timing.update(us_per_atom=statistics.median(r["us_per_atom"] for r in runs),
                          peak_mb=max(r["peak_mb"] for r in runs), rounds=len(runs), machine=machine(),
                          cpus=sorted(os.sched_getaffinity(0)),  # the cores the workers could run on
                          compiled_by_us=all(r.get("compiled_by_us", False) for r in runs),
                          date=datetime.datetime.now().isoformat(timespec="seconds"))
            lines.append(json.dumps(timing, sort_keys=True))
            print(f"{dataset} {record['system']}-{record['size']} {record['minutes']:g} min: "
                  f"{timing['us_per_atom']:.0f} µs/atom ({len(runs)} rounds)", flush=True)
        results.mkdir(parents=True, exist_ok=True)
        with open(timing_path(dataset, results), "a") as handle:
            handle.write("".join(line + "\n" for line in lines))
