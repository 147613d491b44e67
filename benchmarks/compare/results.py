"""Result records: one JSON line per finished run, appended to ``benchmarks/results/<dataset>.jsonl``.

A record carries the commit it was made at, so progress compares across commits; a comparison
that stops is resumed by skipping every job whose record exists (:func:`done_keys`). A peer's
record stands whatever our commit; ours is redone when the code it runs (the library or its adapter)
changed since the record's commit (:func:`ours_changed_since`).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
from pathlib import Path

from .datasets import REPO

RESULTS = REPO / "benchmarks" / "results"
OUR_CODE = ("src/irreps", "benchmarks/compare/systems/ours.py", "benchmarks/compare/worker.py")
_LOCK = threading.Lock()


def commit() -> str:
    """The repository's HEAD (``-dirty`` when tracked code is modified), or "unknown"."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        # the records this benchmark appends are not code: they do not make the tree dirty
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!benchmarks/results"], capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    """CPU model and core count, for the record."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def job_key(record: dict) -> tuple:
    return (record["dataset"], record["system"], record["size"], record["seed"], float(record["minutes"]),
            int(record["threads"]))


def load_records(dataset: str, results: Path = RESULTS) -> list[dict]:
    path = results / f"{dataset}.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def is_ours(system: str) -> bool:
    """Whether a system name is one of this library's models ("irreps", "irreps-<model>")."""
    return system == "irreps" or system.startswith("irreps-")


def ours_changed_since(recorded: str) -> bool:
    """Whether the code our runs use differs between commit ``recorded`` and the working tree.

    A record made from a modified tree ("-dirty") or at an unknown commit cannot be checked, so it
    counts as changed.
    """
    if recorded.endswith("-dirty") or recorded == "unknown":
        return True
    changed = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", recorded, "--", *OUR_CODE],
                             capture_output=True)
    return changed.returncode != 0


def done_keys(dataset: str, current_commit: str, results: Path = RESULTS) -> set[tuple]:
    """Keys of the jobs that need no rerun: any peer record, ours where our code is unchanged since."""
    unchanged: dict[str, bool] = {}
    keys = set()
    for r in load_records(dataset, results):
        if is_ours(r["system"]) and r["commit"] != current_commit:
            if r["commit"] not in unchanged:
                unchanged[r["commit"]] = not ours_changed_since(r["commit"])
            if not unchanged[r["commit"]]:
                continue
        keys.add(job_key(r))
    return keys


def append_record(record: dict, results: Path = RESULTS) -> None:
    """Append one record (a whole line, flushed and synced) to its dataset's file."""
    results.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    with _LOCK, open(results / f"{record['dataset']}.jsonl", "a") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def latest(records: list[dict]) -> list[dict]:
    """The newest record of each job key (a rerun at a later commit replaces the earlier one)."""
    newest: dict[tuple, dict] = {}
    for record in records:
        newest[job_key(record)] = record
    return list(newest.values())
