"""Build a virtualenv from a pinned requirement file, or keep it when it already holds those pins.

Shared by ``python -m benchmarks.peers`` and ``python -m benchmarks.engines``. A requirement file
may carry directive comments:

- ``# python: X.Y``: the venv is made by that Python (``pythonX.Y`` on PATH); without the line, by
  the Python running the builder;
- ``# pip-args: ARGS``: arguments for the pip call installing the file (``--no-deps`` installs a
  full freeze as is).

A venv is up to date when it was made by the right Python and either its ``READY`` marker
holds the file's text (written after a build) or ``pip list`` shows every pin installed at its
version (a venv made by hand from the same file is adopted, not rebuilt). Anything else is
rebuilt from scratch, so a pin removed from the file does not linger. :func:`plan` decides
without running anything, so it is tested without a network.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path


def pip_args(requirements: str) -> list[str]:
    """Extra arguments for installing a requirement file: its ``# pip-args: ...`` lines."""
    return [arg for line in re.findall(r"^#\s*pip-args:(.*)$", requirements, re.M) for arg in line.split()]


def required_python(requirements: str) -> str | None:
    """The ``X.Y`` of a ``# python: X.Y`` line, or None when the file names no Python."""
    found = re.findall(r"^#\s*python:\s*(\d+\.\d+)\s*$", requirements, re.M)
    if len(found) > 1:
        raise ValueError(f"more than one '# python:' line: {', '.join(found)}")
    return found[0] if found else None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: str) -> dict[str, str]:
    """``{canonical package name: version}`` of the file's ``name==version`` lines."""
    found = {}
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+!\-]+)", line)
        if match is None:
            raise ValueError(f"not a 'name==version' pin: {line!r}")
        found[_canonical(match[1])] = match[2]
    return found


def _same_version(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def missing_pins(requirements: str, installed: dict[str, str]) -> list[str]:
    """The pins of ``requirements`` that ``installed`` (name -> version, as ``pip list`` shows) lacks."""
    have = {_canonical(name): version for name, version in installed.items()}
    return [f"{name}=={version}" for name, version in pins(requirements).items()
            if name not in have or not _same_version(have[name], version)]


def venv_python_version(pyvenv_cfg: str) -> str | None:
    """``X.Y`` of the Python that made a venv, from its ``pyvenv.cfg`` text."""
    match = re.search(r"^\s*version(?:_info)?\s*=\s*(\d+\.\d+)", pyvenv_cfg, re.M)
    return match[1] if match else None


def plan(requirements: str, venv_version: str | None, ready: str | None,
         installed: dict[str, str] | None, force: bool = False) -> tuple[str, str]:
    """``("ok" | "create", why)`` for a venv made by Python ``venv_version`` (None: no venv).

    ``ready`` is its READY marker's text (None: no marker); ``installed`` what ``pip list``
    shows in it (None: not asked, e.g. when the marker already decides).
    """
    want = required_python(requirements)
    if venv_version is None:
        return "create", "no environment"
    if force:
        return "create", "--force"
    if want is not None and venv_version != want:
        return "create", f"made by Python {venv_version}, the file wants {want}"
    if ready == requirements:
        return "ok", "READY matches the requirement file"
    if installed is None:
        return "create", "no READY marker for this requirement file"
    missing = missing_pins(requirements, installed)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return "create", f"pins not installed: {shown}"
    return "ok", "every pin is installed"


def installed_versions(python: Path) -> dict[str, str] | None:
    """``{name: version}`` that ``pip list`` reports for an interpreter, or None if pip fails."""
    done = subprocess.run([str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return {entry["name"]: entry["version"] for entry in json.loads(done.stdout)}


def status(root: Path, requirements: str, force: bool = False) -> tuple[str, str]:
    """:func:`plan` for the venv at ``root`` (asks its pip only when the READY marker does not decide)."""
    cfg, python, ready = root / "pyvenv.cfg", root / "bin" / "python", root / "READY"
    version = venv_python_version(cfg.read_text()) if cfg.exists() and python.exists() else None
    marker = ready.read_text() if ready.exists() else None
    action, why = plan(requirements, version, marker, None, force)
    if action == "create" and why.startswith("no READY"):
        action, why = plan(requirements, version, marker, installed_versions(python), force)
    return action, why


def base_python(requirements: str) -> str:
    """The interpreter that makes the venv: ``pythonX.Y`` for a ``# python:`` line, else this one."""
    want = required_python(requirements)
    if want is None:
        return sys.executable
    found = shutil.which(f"python{want}")
    if found is None:
        raise FileNotFoundError(f"the requirement file needs Python {want}: no python{want} on PATH")
    return found


def build(name: str, root: Path, requirement_file: Path, first: list[list[str]], force: bool = False) -> bool:
    """Create (or keep, when up to date) ``name``'s venv at ``root``; True on success.

    ``first`` lists pip argument lists run before the requirement file (e.g. a CPU torch wheel).
    """
    requirements = requirement_file.read_text()
    action, why = status(root, requirements, force)
    if action == "ok":
        (root / "READY").write_text(requirements)
        print(f"[ok] {name}: up to date at {root} ({why})", flush=True)
        return True
    try:
        python = base_python(requirements)
    except FileNotFoundError as err:
        print(f"[fail] {name}: {err}", flush=True)
        return False
    print(f"[build] {name} -> {root} ({why})", flush=True)
    if root.exists():
        shutil.rmtree(root)
    steps = [[python, "-m", "venv", str(root)]]
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    steps += [pip + args for args in first] + [pip + pip_args(requirements) + ["-r", str(requirement_file)]]
    for step in steps:
        if subprocess.run(step).returncode != 0:
            print(f"[fail] {name}: `{' '.join(step)}` failed (see above)", flush=True)
            return False
    (root / "READY").write_text(requirements)
    print(f"[ok] {name}: built", flush=True)
    return True
