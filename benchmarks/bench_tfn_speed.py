"""Inference time of TFN and the SE(3)-Transformer next to TensorNet: energy + forces, µs per atom.

One batch of the first ``--batch`` acac frames bundled with the package (``bundled:acac_test``, 15
atoms each; no ../shared data needed), float32, random weights (timing does not depend on them),
the graph built once outside the timed call. Sizes: the example configs'
(``examples/train_acac_tfn.yaml``: 32 channels, lmax 2, full parity, 3 layers;
``examples/train_acac_se3_transformer.yaml``: 16 channels, 4 heads, 8 key channels, 3 layers)
and TensorNet's paper size (128 channels, 2 layers, 32 radial functions), all with a 5 Å cutoff.
Median of ``--repeats`` calls after two warm-up calls; ratios are model time / TensorNet time.

    python benchmarks/bench_tfn_speed.py --threads 1 --json tfn_speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import ase.io
import torch
import yaml

from irreps.data import atoms_to_graph, bundled_path, collate
from irreps.models import build_model

ROOT = Path(__file__).resolve().parents[1]
ELEMENTS = [1, 6, 8]
CUTOFF = 5.0


def _example_options(name: str) -> dict:
    options = yaml.safe_load((ROOT / "examples" / f"train_acac_{name}.yaml").read_text())["model"]["options"]
    return dict(options, elements=ELEMENTS, cutoff=CUTOFF)


MODELS = {
    "tensornet": lambda: dict(elements=ELEMENTS, hidden_dim=128, num_layers=2, num_rbf=32, cutoff=CUTOFF),
    "tfn": lambda: _example_options("tfn"),
    "se3_transformer": lambda: _example_options("se3_transformer"),
}


def time_model(name: str, graph, repeats: int) -> float:
    """Median seconds of one energy + forces call."""
    torch.manual_seed(0)
    model = build_model(name, MODELS[name]()).float().eval()
    for _ in range(2):
        model(graph)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(graph)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32, help="acac frames in the batch (default 32)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per model (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    frames = ase.io.read(bundled_path("acac_test"), f":{args.batch}")
    graph = collate([atoms_to_graph(a, CUTOFF, keys=None, dtype=torch.float32) for a in frames])
    results = {name: time_model(name, graph, args.repeats) for name in args.models}
    reference = results.get("tensornet")
    print(f"acac x {len(frames)} ({graph.num_atoms} atoms), float32, {args.threads} thread(s), energy + forces")
    print(f"{'model':<18}{'ms/call':>10}{'µs/atom':>10}{'/ tensornet':>13}")
    rows = []
    for name, seconds in results.items():
        per_atom = seconds / graph.num_atoms * 1e6
        ratio = seconds / reference if reference else float("nan")
        print(f"{name:<18}{seconds * 1e3:>10.1f}{per_atom:>10.1f}{ratio:>13.2f}")
        rows.append(dict(model=name, seconds=seconds, us_per_atom=per_atom, ratio_to_tensornet=ratio))
    if args.json:
        args.json.write_text(json.dumps(dict(batch=len(frames), atoms=graph.num_atoms, threads=args.threads,
                                             dtype="float32", results=rows), indent=2))


if __name__ == "__main__":
    main()
