"""Arguments and helpers shared by the simulation subcommands (md, relax, vib, ts, neb).

Simulations default to float64: energy conservation in MD and Hessians for vibrations and
saddle searches need it; ``--dtype float32`` trades accuracy for speed. Every command checks
its states with the guards of :mod:`irreps.sim.guards` (options from
:func:`add_guard_arguments`) and exits with :data:`GUARD_TRIPPED` when one trips.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily at run time: `irreps --help` stays fast
    import torch

    from irreps.sim.guards import Guards


def add_model_arguments(parser: argparse.ArgumentParser, structures: tuple[str, ...] = ("STRUCTURE",)) -> None:
    """MODEL and structure positionals plus the calculator and output options every command takes."""
    add_calculator_arguments(parser, structures)
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--allow-close-atoms", action="store_true",
                        help="accept structures with overlapping atoms (closer than half their summed covalent radii; "
                        "refused by default); the distance guard still applies: --min-distance off")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def add_calculator_arguments(parser: argparse.ArgumentParser, structures: tuple[str, ...]) -> None:
    """MODEL and structure positionals and the options of :func:`make_calculator`."""
    parser.add_argument("model", metavar="MODEL", help="model file written by `irreps train` (or irreps.models.save_model)")
    for name in structures:
        parser.add_argument(name.lower(), metavar=name, help="ASE-readable structure file (extxyz, xyz, traj, cif, ...)")
    parser.add_argument("--model", dest="committee", action="append", default=[], metavar="MODEL",
                        help="another model file: MODEL and every --model form a committee whose mean is used and "
                             "whose spread is reported (md logs epot_std_eV and max_force_std_eV_A); repeatable")
    add_model_option_argument(parser)
    parser.add_argument("--index", default="-1", help="frame to read from multi-frame structure files (default: the last)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="model precision (default float64)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--skin", type=float, default=0.5, help="neighbour-list skin in Å (default 0.5; 0 rebuilds every step)")
    parser.add_argument("--compile", action="store_true",
                        help="energy, forces and stress from one compiled program (inductor): faster steps after a "
                             "compilation of a minute or more at the start; the program is kept on disk "
                             "($IRREPS_COMPILE_CACHE, default ~/.cache/irreps/compiled) and later runs with a model of the "
                             "same architecture load it in seconds (docs/simulations.md); a model that cannot be compiled runs eagerly with a warning")
    add_threads_argument(parser)


def add_model_option_argument(parser: argparse.ArgumentParser) -> None:
    """``--model-option KEY=VALUE``: an evaluation option of the model file (see :func:`model_options`)."""
    parser.add_argument("--model-option", dest="model_options", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluate the model with another value of a numerical option, e.g. grid_resolution=18 "
                             "for eSCN/EquiformerV2: finer sphere grids make trained models turn with the molecule "
                             "9-54x more exactly at 18 points per angle, for 2-3.4x the cost per step (docs/models.md); "
                             "repeatable; options that change the network are refused")


def model_options(items: list[str]) -> dict:
    """``["KEY=VALUE", ...]`` as a dict, each value read as YAML (``18`` an int, ``null`` None)."""
    import yaml

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"--model-option expects KEY=VALUE (e.g. grid_resolution=18), got {item!r}")
        options[key.strip()] = yaml.safe_load(value)
    return options


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch's CPU threads for the command (see :func:`apply_threads`)."""
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch CPU threads (default: torch's, one per core; 1 is faster on a busy machine)")


def apply_threads(threads: int | None) -> None:
    """Set torch's CPU threads when ``--threads`` was given; ``ValueError`` below 1."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def make_calculator(args: argparse.Namespace, model=None, hessian: str = "auto"):
    """An :class:`~irreps.calculators.IrrepsCalculator` for the parsed options (``model``: reuse a loaded one)."""
    from irreps.calculators import IrrepsCalculator

    apply_threads(args.threads)
    members = [model if model is not None else args.model, *getattr(args, "committee", [])]
    return IrrepsCalculator(members if len(members) > 1 else members[0], device=args.device, dtype=args.dtype,
                            skin=args.skin, hessian=hessian, forces=getattr(args, "forces", "conservative"),
                            compile=args.compile, model_options=model_options(getattr(args, "model_options", [])))


def read_structure(path: str, index: str, allow_close_atoms: bool):
    """One structure from ``path`` (or a bundled dataset, ``bundled:NAME``); unreadable files,
    and structures with overlapping atoms unless ``allow_close_atoms``, raise ``ValueError``
    naming the file and frame."""
    import ase.io

    from irreps.data import resolve_data_path
    from irreps.data.close_pairs import overlapping_atoms

    try:
        path = str(resolve_data_path(path))
    except FileNotFoundError:
        raise FileNotFoundError(f"structure file {path} does not exist") from None
    try:
        atoms = ase.io.read(path, index=int(index) if index.lstrip("-").isdigit() else index)
    except Exception as err:  # ASE raises many exception types for malformed files
        raise ValueError(f"cannot read a structure from {path} (index {index}): {err}") from err
    problem = None if allow_close_atoms else overlapping_atoms(atoms)
    if problem is not None:
        raise ValueError(f"{path}, frame {index}: overlapping atoms: {problem}; pass --allow-close-atoms if they are meant")
    return atoms


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    """``ValueError`` naming existing outputs unless ``--overwrite``, before any work starts."""
    from irreps.sim.io import check_outputs

    try:
        check_outputs(paths, overwrite)
    except FileExistsError as err:
        raise ValueError(str(err)) from None


GUARD_TRIPPED = 3  # exit status of a command stopped by a guard
OFF = "off"
# CLI option -> field of irreps.sim.guards.Guards (whose defaults the options fall back to).
GUARD_OPTIONS = {"min_distance": "min_distance", "max_force": "max_force_eV_A",
                 "max_temperature": "max_temperature_K", "max_drift": "max_drift_meV_per_atom"}


def add_guard_arguments(parser: argparse.ArgumentParser, dynamics: bool = False) -> None:
    """The guard options: distance floor and force limit, and with ``dynamics`` (MD) the
    temperature and NVE drift limits; ``--no-guards``."""
    guards = parser.add_argument_group("guards (each takes a number, or 'off')")
    guards.add_argument("--min-distance", type=_limit, metavar="FRACTION",
                        help="floor on interatomic distances as a fraction of each element pair's reference: its "
                        "shortest distance in the model's training data, or the sum of covalent radii where the "
                        "model file records none (default 0.5)")
    guards.add_argument("--max-force", type=_limit, metavar="EV_PER_A", help="largest force component in eV/Å (default 50)")
    if dynamics:
        guards.add_argument("--max-temperature", type=_limit, metavar="K", help="highest temperature in K (default 10000)")
        guards.add_argument("--max-drift", type=_limit, metavar="MEV_PER_ATOM",
                            help="NVE: largest change of the total energy in meV/atom (default 50)")
    guards.add_argument("--no-guards", action="store_true", help="switch off every guard but the non-finite check")


def _limit(text: str) -> float | str:
    """A guard's limit: a positive number, or 'off'."""
    if text.lower() == OFF:
        return OFF
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'off', got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive limit or 'off', got {text!r}")
    return value


def make_guards(args: argparse.Namespace, model: torch.nn.Module) -> Guards:
    """The :class:`~irreps.sim.guards.Guards` the options ask for, with the distance floor
    referred to ``model``'s training distances when its file records them; says on stderr
    which floor is in use (unless ``--quiet``)."""
    import sys

    from irreps.models.domain import shortest_distances
    from irreps.sim.guards import Guards

    if args.no_guards:
        return Guards(**{field: None for field in GUARD_OPTIONS.values()})
    given = {field: getattr(args, option) for option, field in GUARD_OPTIONS.items() if getattr(args, option, None) is not None}
    guards = Guards(**{field: None if value == OFF else value for field, value in given.items()},
                    training_distances=shortest_distances(model))
    if not args.quiet:
        print(f"guards: {guards.describe_floor()}", file=sys.stderr)
    return guards


def report_trip(command: str, trip: Exception, hint: str = "") -> int:
    """Print what a guard stopped and how to go on; returns :data:`GUARD_TRIPPED`."""
    import sys

    print(f"irreps {command}: {trip}", file=sys.stderr)
    print(f"{hint}`irreps {command} --help` lists the guard options that tune or switch off the checks", file=sys.stderr)
    return GUARD_TRIPPED
