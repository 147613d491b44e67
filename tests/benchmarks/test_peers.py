"""The peers' requirement files and the fairchem worker's command line (no peer env is needed)."""

from __future__ import annotations

import re
import subprocess
import sys

from benchmarks.peers import HERE, PEERS
from benchmarks.venv_build import pip_args


def test_every_peer_file_is_fully_pinned():
    for name, file in PEERS.items():
        lines = [line.strip() for line in (HERE / file).read_text().splitlines()]
        pins = [line for line in lines if line and not line.startswith("#")]
        assert pins, name
        assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", pin) for pin in pins), name


def test_pip_args_come_from_the_requirement_file():
    assert pip_args((HERE / "fairchem.txt").read_text()) == ["--no-deps"]
    assert pip_args((HERE / "mace.txt").read_text()) == []
    assert pip_args("# pip-args: --no-deps --pre\nase==3.29.0\n# a --no-deps in prose\n") == ["--no-deps", "--pre"]


def test_fairchem_worker_is_standalone():
    worker = HERE / "fairchem_worker.py"
    assert not re.search(r"^\s*(from|import)\s+irreps", worker.read_text(), re.M)
    out = subprocess.run([sys.executable, str(worker), "--help"], capture_output=True, text=True, check=True)
    assert "--model" in out.stdout and "--time" in out.stdout
