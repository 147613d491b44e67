"""``irreps evaluate MODEL DATA``: errors of a trained model on reference data."""

from __future__ import annotations

import argparse

from irreps.cli._sim import add_model_option_argument, add_threads_argument, apply_threads, model_options

DESCRIPTION = """\
Evaluate a model file (written by `irreps train`) on the structures of DATA (an extended-XYZ
or other ASE-readable file, or bundled:NAME). Prints MAE and RMSE of total energies, energies
per atom and force components, overall and per config_type, in meV units, and writes
DATA-STEM_metrics.json (eV units) and DATA-STEM_parity.png into --out. A structure with
overlapping atoms (closer than half their summed covalent radii) is refused with its frame
and atoms unless --allow-close-atoms.

Evaluation runs in float64 unless --dtype float32: float32 totals of ~1e4 eV round to ~1 meV.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="MAE/RMSE of a model on a data file, with a parity plot",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="model file (model.pt of a training run)")
    parser.add_argument("data", help="data file with reference energies (and forces), or bundled:NAME")
    parser.add_argument(
        "--key", dest="keys", action="append", default=[], metavar="FIELD=KEY",
        help="where a field lives in the file, e.g. energy=REF_energy (default: the keys used in training)",
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default: the model's folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier outputs of the same name")
    parser.add_argument("--batch-size", type=int, default=32, help="structures per batch (default 32)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="evaluation precision")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default auto)")
    parser.add_argument("--no-forces", action="store_true", help="compare energies only")
    parser.add_argument("--allow-close-atoms", action="store_true",
                        help="evaluate structures with overlapping atoms (closer than half their summed covalent "
                        "radii) instead of refusing them")
    add_model_option_argument(parser)
    add_threads_argument(parser)
    parser.set_defaults(func=run)


def _parse_keys(items: list[str]) -> dict[str, str] | None:
    if not items:
        return None
    keys = {}
    for item in items:
        field, sep, key = item.partition("=")
        if not sep or not field or not key:
            raise ValueError(f"--key expects FIELD=KEY (e.g. energy=REF_energy), got {item!r}")
        keys[field] = key
    return keys


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from irreps.train.evaluation import evaluate_file, write_evaluation
    from irreps.train.metrics import format_table
    from irreps.train.run import resolve_device

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    apply_threads(args.threads)
    out_dir = Path(args.out) if args.out else Path(args.model).resolve().parent
    name = Path(args.data.removeprefix("bundled:")).stem
    targets = [out_dir / f"{name}_metrics.json", out_dir / f"{name}_parity.png"]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not args.overwrite:
        raise ValueError(f"{', '.join(existing)} exist; pass --overwrite or choose another --out")
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    errors, metrics = evaluate_file(
        args.model, args.data, _parse_keys(args.keys), args.batch_size, dtype,
        resolve_device(args.device), forces=not args.no_forces, allow_close_atoms=args.allow_close_atoms,
        options=model_options(args.model_options),
    )
    print(f"{args.model} on {args.data} ({args.dtype}):")
    print(format_table(metrics))
    domain = metrics.get("outside_training_domain")
    if domain and domain["count"]:
        frames = ", ".join(str(f["frame"]) for f in domain["frames"][:10]) + (" ..." if domain["count"] > 10 else "")
        print(f"{domain['count']} frame(s) outside the training domain (a pair closer than the training minimum "
              f"for its elements, or elements never seen together): {frames}; closest at "
              f"{domain['closest_distance_ratio']:.2f} x the training minimum")
    for path in write_evaluation(errors, metrics, out_dir, name, name):
        print(f"wrote {path}")
    return 0
