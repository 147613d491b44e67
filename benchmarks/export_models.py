"""Which registered models export to which format, and does the artefact equal the model?

For every registered architecture (a small random-weight instance, float64) and every format
asked for, run ``irreps.export.export_model``; an artefact that was written passed the export's
own check (a periodic probe structure with a 1 Å skin, energy and forces against the eager
model), and is then compared with our ASE calculator on an acetylacetone geometry (TorchScript:
directly; metatomic: through metatomic-ase when installed). Prints one row per model and format
with the largest relative force error, or the error that refused the export.

    python benchmarks/export_models.py --formats torchscript metatomic --json export_models.json
    python benchmarks/export_models.py --formats aotinductor --json export_models_aotinductor.json  # minutes per model
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ELEMENTS = [1, 6, 8]
E0S = [-13.6, -1029.8, -2041.8]
CONFIGS = {
    "tensornet": dict(hidden_dim=16, num_layers=2, num_rbf=8, cutoff=5.0),
    "equiformer_v2": dict(lmax=2, mmax=1, sphere_channels=6, num_layers=2, attn_hidden_channels=6, num_heads=2,
                          attn_alpha_channels=4, attn_value_channels=3, ffn_hidden_channels=8, edge_channels=6,
                          num_distance_basis=12, cutoff=5.0),
    "escn": dict(lmax=2, mmax=1, sphere_channels=6, hidden_channels=5, edge_channels=6, num_layers=2, cutoff=5.0),
    "gaunt_ace": dict(channels=4, lmax=2, hidden_lmax=1, correlation=3, num_layers=2, cutoff=5.0, num_bessel=4,
                      radial_hidden=[8], readout_hidden=4, avg_degree=8.0),
    "tfn": dict(channels=4, lmax=2, num_layers=2, cutoff=5.0, num_basis=6, radial_dim=8, avg_degree=8.0),
    "se3_transformer": dict(channels=4, lmax=2, num_layers=2, cutoff=5.0, num_basis=6, radial_dim=8, num_heads=2,
                            key_channels=2),
    "morse_pair": dict(cutoff=5.0),
    "harmonic_pair": dict(cutoff=5.0),
    "double_well_surface": dict(),
}


def _model(name: str):
    from irreps.models import build_model

    torch.manual_seed(0)
    config = dict(CONFIGS.get(name, {}), elements=ELEMENTS)
    if name in ("tensornet", "equiformer_v2", "escn"):
        config["e0s"] = E0S
    return build_model(name, config).double().eval()


def _compare(name: str, fmt: str, path: Path) -> float:
    """Largest force error relative to the largest force, artefact vs IrrepsCalculator, on acac."""
    import ase.io

    from irreps.calculators import IrrepsCalculator
    from irreps.data.bundled import bundled_path
    from irreps.data.neighbors import neighbor_list

    atoms = ase.io.read(bundled_path("acac_test"), index=0)
    ref = atoms.copy()
    ref.calc = IrrepsCalculator(_model(name), dtype="float64", skin=0.0, limits=None)  # random weights, any force
    want = ref.get_forces()
    if fmt == "metatomic":
        from metatomic_ase import MetatomicCalculator

        atoms.calc = MetatomicCalculator(str(path), device="cpu")
        got = atoms.get_forces()
    else:
        cutoff = float(_model(name).cutoff)
        edge_index, _, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff + 1.0)
        args = (torch.tensor(atoms.positions), torch.tensor(atoms.numbers), torch.tensor(atoms.cell.array),
                torch.tensor(atoms.pbc), torch.tensor(edge_index), torch.tensor(shifts))
        if fmt == "torchscript":
            got = torch.jit.load(str(path))(*args)["forces"].numpy()
        else:
            runner = torch._inductor.aoti_load_package(str(path))
            got = runner(*args[:3], *args[4:])[1].numpy()
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", nargs="+", default=["torchscript", "metatomic"],
                        choices=["torchscript", "metatomic", "aotinductor"])
    parser.add_argument("--models", nargs="+", help="registered names (default: all)")
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from irreps.export import export_model
    from irreps.models import available_models

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models or available_models():
            for fmt in args.formats:
                path = Path(tmp) / f"{name}.{fmt}{'.pt2' if fmt == 'aotinductor' else '.pt'}"
                start = time.perf_counter()
                try:
                    export_model(_model(name), path, fmt, "float64")
                    row = {"model": name, "format": fmt, "exported": True, "rel_force_error": _compare(name, fmt, path)}
                except (ValueError, ImportError) as err:
                    row = {"model": name, "format": fmt, "exported": False, "why": str(err).splitlines()[0]}
                row["seconds"] = time.perf_counter() - start
                rows.append(row)
                outcome = (f"yes, max rel force error {row['rel_force_error']:.1e}" if row["exported"]
                           else f"no: {row['why']}")
                print(f"{name:<20} {fmt:<12} {outcome}  ({row['seconds']:.0f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
