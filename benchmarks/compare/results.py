"""Result records: one JSON line per finished run, appended to ``benchmarks/results/<dataset>.jsonl``.

A record carries the commit it was made at, so progress compares across commits; a comparison
that stops is resumed by skipping every job whose record exists (:func:`done_keys`). A peer's
record stands whatever our commit; ours is redone when the code it runs changed since the record's
commit (:func:`ours_changed_since`): the library less the other model families' subpackages, the
adapter, the worker and the system's recipe (:func:`our_code`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import threading
from pathlib import Path

from .datasets import REPO

RESULTS = REPO / "benchmarks" / "results"
OUR_CODE = ("src/irreps", "benchmarks/compare/systems/ours.py", "benchmarks/compare/worker.py")
MODELS = "src/irreps/models"
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


def _families(root: Path) -> list[Path]:
    """The model families: the subpackages of ``src/irreps/models``."""
    return [d for d in sorted((root / MODELS).iterdir()) if (d / "__init__.py").is_file()]


def model_families(model: str, root: Path = REPO) -> set[str]:
    """The subpackages of ``src/irreps/models`` that a model's code lives in: the one that registers
    ``model`` and, transitively, every family it imports (none, if no family registers it)."""
    sources = {d.name: "\n".join(f.read_text() for f in sorted(d.rglob("*.py"))) for d in _families(root)}
    registers = re.compile(rf"register_model\(\s*[\"']{re.escape(model)}[\"']")
    todo = [name for name, text in sources.items() if registers.search(text)]
    found: set[str] = set()
    while todo:
        family = todo.pop()
        if family not in found:
            found.add(family)
            # "irreps.models.<family>..." and "from irreps.models import <family>"
            todo += [f for f in re.findall(r"irreps\.models(?:\.|\s+import\s+)(\w+)", sources[family]) if f in sources]
    return found


def our_code(system: str, root: Path = REPO) -> list[str]:
    """Git pathspecs of what a run of ``system`` (one of ours) executes: :data:`OUR_CODE` and its
    recipe, less the model families it does not use (importing those only registers their models,
    so a change there cannot move this system's numbers)."""
    import yaml

    from .systems import get_system

    recipe = get_system(system).recipe
    model = yaml.safe_load(recipe.read_text())["model"]["name"]
    used = model_families(model, root)
    others = [d.name for d in _families(root) if d.name not in used]
    return [*OUR_CODE, str(recipe.relative_to(REPO)), *(f":(exclude){MODELS}/{name}" for name in others)]


def ours_changed_since(recorded: str, system: str) -> bool:
    """Whether the code a run of ``system`` uses differs between commit ``recorded`` and the
    working tree (:func:`our_code`).

    A record made from a modified tree ("-dirty") or at an unknown commit cannot be checked, so it
    counts as changed.
    """
    if recorded.endswith("-dirty") or recorded == "unknown":
        return True
    changed = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", recorded, "--", *our_code(system)],
                             capture_output=True)
    return changed.returncode != 0


def done_keys(dataset: str, current_commit: str, results: Path = RESULTS) -> set[tuple]:
    """Keys of the jobs that need no rerun: any peer record, ours where our code is unchanged since."""
    unchanged: dict[tuple[str, str], bool] = {}
    keys = set()
    for r in load_records(dataset, results):
        if is_ours(r["system"]) and r["commit"] != current_commit:
            code = (r["commit"], r["system"])
            if code not in unchanged:
                unchanged[code] = not ours_changed_since(*code)
            if not unchanged[code]:
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
