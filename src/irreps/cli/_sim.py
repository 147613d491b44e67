"""Arguments and helpers shared by the simulation subcommands (md, relax, vib, ts, neb).

Simulations default to float64: energy conservation in MD and Hessians for vibrations and
saddle searches need it; ``--dtype float32`` trades accuracy for speed.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_arguments(parser: argparse.ArgumentParser, structures: tuple[str, ...] = ("STRUCTURE",)) -> None:
    """MODEL and structure positionals plus the calculator and output options every command takes."""
    parser.add_argument("model", metavar="MODEL", help="model file written by `irreps train` (or irreps.models.save_model)")
    for name in structures:
        parser.add_argument(name.lower(), metavar=name, help="ASE-readable structure file (extxyz, xyz, traj, cif, ...)")
    parser.add_argument("--index", default="-1", help="frame to read from multi-frame structure files (default: the last)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="model precision (default float64)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--skin", type=float, default=0.5, help="neighbour-list skin in Å (default 0.5; 0 rebuilds every step)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    add_threads_argument(parser)


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
    return IrrepsCalculator(model if model is not None else args.model, device=args.device, dtype=args.dtype,
                            skin=args.skin, hessian=hessian, forces=getattr(args, "forces", "conservative"))


def read_structure(path: str, index: str):
    """One structure from ``path``; unreadable files raise ``ValueError`` naming the file."""
    import ase.io

    if not Path(path).is_file():
        raise FileNotFoundError(f"structure file {path} does not exist")
    try:
        return ase.io.read(path, index=int(index) if index.lstrip("-").isdigit() else index)
    except Exception as err:  # ASE raises many exception types for malformed files
        raise ValueError(f"cannot read a structure from {path} (index {index}): {err}") from err


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    """``ValueError`` naming existing outputs unless ``--overwrite``, before any work starts."""
    from irreps.sim.io import check_outputs

    try:
        check_outputs(paths, overwrite)
    except FileExistsError as err:
        raise ValueError(str(err)) from None
