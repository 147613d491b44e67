"""``irreps export MODEL.pt -o OUT --format metatomic|torchscript|aotinductor``."""

from __future__ import annotations

import argparse

_FORMATS = {
    "metatomic": "metatomic AtomisticModel: ASE (metatomic-ase), LAMMPS pair_style metatomic, i-PI, TorchSim; "
                 "needs pip install 'irreps[metatomic]'",
    "torchscript": "TorchScript module for torch.jit.load: OpenMM TorchForce (irreps.export.openmm), C++ codes",
    "aotinductor": "AOTInductor .pt2 package (compiled C++; takes a minute or more to build)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a trained model as an artefact MD engines load without irreps",
        description=(
            "Write a model file as a self-contained artefact that runs without irreps: energy, forces and "
            "virial from positions, atomic numbers, cell and a full neighbour list with cell shifts. It "
            "declares units (Å, eV), elements, cutoff, interaction range (hops x cutoff) and dtype; pairs "
            "beyond the cutoff contribute exactly zero. The artefact is checked against the model before it "
            "is written. Formats: " + "; ".join(f"{name}: {text}" for name, text in _FORMATS.items()) + "."
        ),
        epilog="See docs/export.md for each engine's commands.",
    )
    parser.add_argument("model", help="model file written by irreps train (or irreps.models.save_model)")
    parser.add_argument("-o", "--output", required=True, help="artefact to write (.pt, or .pt2 for aotinductor)")
    parser.add_argument("--format", required=True, choices=sorted(_FORMATS), help="artefact format")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                        help="precision of the artefact's inputs and network (default float32)")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from irreps.export import export_model
    from irreps.export.torchscript import declared_metadata
    from irreps.models import load_model

    model = load_model(args.model)
    try:
        path = export_model(model, args.output, args.format, args.dtype, overwrite=args.force)
    except FileExistsError as err:
        raise ValueError(str(err)) from err
    meta = declared_metadata(model, args.dtype)
    print(f"wrote {path} ({args.format}, {args.dtype}): {meta['model_name']}, elements {meta['elements']}, "
          f"cutoff {meta['cutoff']} Å, interaction range {meta['interaction_range']} Å")
    return 0
