"""What a user sees on bad input and faults: each case's command, exit code and message.

Runs every case of issue 31 (malformed files, NaN coordinates, unknown elements, missing keys,
mistyped config keys, existing outputs, pickle payloads, empty model files, overlapping atoms,
a time step that tears the molecule apart, SIGTERM during training, a blocked run name) against
one version of the package: this checkout's ``src`` by default, or any other (``--src``, e.g.
a ``git worktree`` of an older commit), so the same table can be made before and after a
change. Each case runs the ``irreps`` command in a fresh folder with ``PYTHONPATH`` set to that
source; the table shows the exit code and the first line of stderr when the command failed (the
last line of stdout when it exited 0), and for the pickle case whether the payload ran.

``--model`` is a model file that version can load (the MD and evaluate cases use it), e.g. one
written by ``irreps train`` of that version on the bundled data::

    python benchmarks/bad_inputs.py --model runs/quick/model.pt --json after.json
    python benchmarks/bad_inputs.py --src ../old/src --model old_model.pt --json before.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "irreps" / "datasets" / "acac_test_300K_subset.xyz"
RUN_IRREPS = "import sys; from irreps.cli.main import main; sys.exit(main())"


@dataclass
class Outcome:
    case: str
    command: str
    exit_code: int
    message: str
    extra: dict = field(default_factory=dict)


def irreps(src: Path, args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", RUN_IRREPS, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def summary(result: subprocess.CompletedProcess) -> str:
    """First stderr line of a failure, last stdout line of a success (progress lines skipped)."""
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        return lines[0] if lines else "(nothing on stderr)"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else "(nothing on stdout)"


def structures(folder: Path) -> dict[str, Path]:
    """The bad structure files every version is given, written into ``folder``."""
    frames = ase.io.read(SAMPLE, index=":3")
    out = {}

    def labelled_copy(n: int) -> Atoms:
        """Frame ``n`` with its reference energy and forces (``copy`` alone drops them)."""
        atoms = frames[n].copy()
        atoms.calc = SinglePointCalculator(atoms, **frames[n].calc.results)
        return atoms

    def write(name: str, atoms_list) -> None:
        out[name] = folder / f"{name}.xyz"
        ase.io.write(out[name], atoms_list, format="extxyz")

    write("good", frames)
    out["malformed"] = folder / "malformed.xyz"
    out["malformed"].write_text("3\nProperties=species:S:1:pos:R:3\nC 0.0 0.0\nH 1.0\n")
    nan = labelled_copy(0)
    nan.positions[2] = np.nan
    write("nan", [nan])
    alien = labelled_copy(0)
    alien.numbers[0] = 92
    write("unknown_element", [alien])
    bare = frames[0].copy()
    bare.calc = None
    bare.info.clear()
    write("no_energy", [bare])
    for name, gap in (("overlap", 0.0), ("overlap_1e-4", 1e-4)):
        close = labelled_copy(0)
        close.positions[1] = close.positions[0] + [gap, 0, 0]
        write(name, [close])
    return out


def payload_model(folder: Path, marker: Path) -> Path:
    """A torch file whose unpickling would create ``marker`` (it must never run)."""
    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = folder / "payload.pt"
    torch.save({"model": Payload()}, path)
    return path


def run_cases(src: Path, model: Path, folder: Path, signals: bool) -> list[Outcome]:
    files = structures(folder)
    outcomes: list[Outcome] = []

    def case(name: str, args: list[str], **extra) -> subprocess.CompletedProcess:
        result = irreps(src, args, folder)
        outcomes.append(Outcome(name, "irreps " + " ".join(args), result.returncode, summary(result), extra))
        return result

    model_arg = str(model)
    for name in ("malformed", "nan", "unknown_element", "no_energy", "overlap", "overlap_1e-4"):
        case(f"evaluate: {name.replace('_', ' ')} file", ["evaluate", model_arg, files[name].name])
    case("train: mistyped config key", ["train", "--set", "optim.lrr=1e-3", "--output", "runs/typo"])
    case("train: missing data file", ["train", "--set", "data.train_file=missing.xyz", "--output", "runs/blocked"])
    case("train: same run after the data failure", ["train", "--set", "run.epochs=1", "--output", "runs/blocked"])
    case("md: first run", ["md", model_arg, files["good"].name, "--steps", "5", "-o", "md", "--quiet"])
    case("md: existing outputs", ["md", model_arg, files["good"].name, "--steps", "5", "-o", "md", "--quiet"])
    case("md: NVE at 10 fs tears the molecule apart",
         ["md", model_arg, files["good"].name, "--ensemble", "nve", "--timestep", "10", "--steps", "400",
          "-o", "md10", "--quiet"])
    last_good = sorted(p.name for p in (folder / "md10").glob("*last_good*")) if (folder / "md10").exists() else []
    outcomes[-1].extra["last_good_files"] = last_good
    marker = folder / "payload_ran"
    case("evaluate: model file with a pickle payload",
         ["evaluate", payload_model(folder, marker).name, files["good"].name])
    outcomes[-1].extra["payload_ran"] = marker.exists()
    (folder / "empty.pt").write_bytes(b"")
    case("evaluate: empty model file", ["evaluate", "empty.pt", files["good"].name])
    if signals:
        outcomes.append(sigterm_training(src, folder))
    return outcomes


def sigterm_training(src: Path, folder: Path, after_s: float = 90.0) -> Outcome:
    """``irreps train`` stopped by SIGTERM (a scheduler's wall-time signal) after ``after_s``."""
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    args = ["train", "--set", "run.epochs=500", "--set", "run.max_minutes=30", "--output", "runs/term"]
    process = subprocess.Popen([sys.executable, "-c", RUN_IRREPS, *args], cwd=folder, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after_s)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=600)
    result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    message = summary(result) if process.returncode != 0 else (stderr.strip().splitlines() or [summary(result)])[-1]
    wrote = (folder / "runs" / "term" / "model.pt").exists()
    extra = {"model_pt_written": wrote}
    if "Traceback" in stderr:
        extra["traceback_tail"] = stderr.strip().splitlines()[-3:]
    return Outcome(f"train: SIGTERM after {after_s:g} s", "irreps " + " ".join(args) + "  (then SIGTERM)",
                   process.returncode, message, extra)


def table(outcomes: list[Outcome]) -> str:
    lines = ["| case | exit | first line (stderr on failure, last stdout line on success) | notes |",
             "| --- | ---: | --- | --- |"]
    for o in outcomes:
        message = o.message if len(o.message) <= 160 else o.message[:157] + "..."
        notes = ", ".join(f"{k}={v}" for k, v in o.extra.items() if k != "traceback_tail")
        lines.append(f"| {o.case} | {o.exit_code} | {message.replace('|', '/')} | {notes} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the irreps source folder to run")
    parser.add_argument("--model", type=Path, required=True, help="a model file that version loads")
    parser.add_argument("--no-signals", action="store_true", help="skip the SIGTERM case (it trains 90 s)")
    parser.add_argument("--json", type=Path, help="write the outcomes here")
    args = parser.parse_args()
    if not args.model.is_file():
        sys.exit(f"no model file at {args.model}")
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run_cases(args.src.resolve(), args.model.resolve(), Path(tmp), signals=not args.no_signals)
    print(f"irreps from {args.src.resolve()}")
    print(table(outcomes))
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))


if __name__ == "__main__":
    main()
