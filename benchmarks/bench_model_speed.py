"""Inference time of every energy model at its example-recipe size next to MACE: energy + forces, µs per atom.

One batch of 32 structures: 3BPA (27 atoms, ../shared/data/botnet/3bpa/train_300K.xyz) or, when
that file is missing (said in the output), the acac frames bundled with the package (15 atoms).
Models, float32 with random weights (timing does not depend on them), 5 Å cutoff, elements H C N O:

- tensornet at examples/train_acac.yaml's size (128 channels, 2 layers, 32 radial functions);
- gaunt_ace at examples/train_acac_ace.yaml's (32 channels, lmax 3, correlation 3, 2 layers), once
  per engine: ``gaunt``, ``cg`` (the same model by CG couplings) and ``cg+odd`` (with the odd paths);
- tfn and se3_transformer at examples/train_acac_tfn.yaml's and train_acac_se3_transformer.yaml's;
- MACE "small" (mace-torch in its own virtualenv, ``python -m benchmarks.peers build``; the model
  and its timed call are :func:`benchmarks.bench_inference._mace_call`'s), or one "[skip]" line.

Every timed call builds its graph from the atoms (neighbour list, conversion, collation), as MACE's
does; the "graph only" row is that part alone. The machine may be loaded, so calls are interleaved:
each round calls every model once, after two warm-up rounds; the table gives medians and the ratio
to TensorNet's median. ``--clock cpu`` (default) times each call by its process's CPU time, which
on a shared machine leaves out the time spent waiting for a core (cache and memory-bandwidth
contention still count); ``--clock wall`` is the plain wall clock, right on an idle machine.

``--parts`` first times gaunt_ace's two engine-bound parts for each engine and layer on the same
batch: the edge convolution (one row per edge) and the many-body product (one row per atom),
forward + backward (what a force call needs), on random inputs of the model's shapes; the Gaunt
model's first convolution once more on the sphere grid ("convolution (grid)").

    python benchmarks/bench_model_speed.py --threads 1 --repeats 7 --json model_speed.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import ase.io
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from benchmarks.bench_inference import _mace_call, _timed, start_peers  # noqa: E402
from benchmarks.json_out import write_json  # noqa: E402
from benchmarks.peers import peer_python_or_none  # noqa: E402
from irreps.data import atoms_list_to_graphs, bundled_path, collate  # noqa: E402
from irreps.models import build_model  # noqa: E402
from irreps.ops.tensor_product import GauntConvolution  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BPA = ROOT.parent / "shared" / "data" / "botnet" / "3bpa" / "train_300K.xyz"
ELEMENTS = [1, 6, 7, 8]
CUTOFF = 5.0


def _example(config: str, **overrides) -> dict:
    """The model options of an example config, with this benchmark's elements and cutoff."""
    options = yaml.safe_load((ROOT / "examples" / config).read_text())["model"]["options"]
    return dict(options, elements=ELEMENTS, cutoff=CUTOFF, **overrides)


# label -> (registered name, options)
MODELS = {
    "tensornet": ("tensornet", lambda: _example("train_acac.yaml")),
    "gaunt_ace[gaunt]": ("gaunt_ace", lambda: _example("train_acac_ace.yaml", engine="gaunt")),
    "gaunt_ace[gaunt, grid conv 1]": ("gaunt_ace", lambda: _example("train_acac_ace.yaml", engine="gaunt")),
    "gaunt_ace[cg]": ("gaunt_ace", lambda: _example("train_acac_ace.yaml", engine="cg")),
    "gaunt_ace[cg+odd]": ("gaunt_ace", lambda: _example("train_acac_ace.yaml", engine="cg", odd_paths=True)),
    "tfn": ("tfn", lambda: _example("train_acac_tfn.yaml")),
    "se3_transformer": ("se3_transformer", lambda: _example("train_acac_se3_transformer.yaml")),
}


def grid_convolution(conv: torch.nn.Module) -> GauntConvolution:
    """The sphere-grid Gaunt convolution with ``conv``'s irreps and degrees (the reference of the closed form)."""
    return GauntConvolution(conv.irreps_in, conv.irreps_out.lmax, conv.lmax_filter)


def make_model(label: str) -> torch.nn.Module:
    """The model of ``label`` (seeded), float32, eval mode."""
    name, options = MODELS[label]
    torch.manual_seed(0)
    model = build_model(name, options()).float().eval()
    if label.endswith("grid conv 1]"):
        model.layers[0].conv = grid_convolution(model.layers[0].conv)
    return model


def load_batch(size: int) -> tuple[list, str]:
    """``size`` 3BPA frames, or bundled acac frames (with the reason) when the 3BPA file is missing."""
    if BPA.is_file():
        return ase.io.read(BPA, f":{size}"), "3bpa"
    print(f"[note] {BPA} is missing: timing the bundled acac frames instead (15 atoms each, not 3BPA)")
    return ase.io.read(bundled_path("acac_test"), f":{size}"), "acac (bundled)"


def our_calls(labels: list[str], batch: list, clock: str) -> dict:
    """Timed calls (ms) of each model on a freshly built graph, and of the graph building alone."""
    build = lambda: collate(atoms_list_to_graphs(batch, CUTOFF, keys=None))  # noqa: E731
    calls = {"graph only": lambda: _timed(build, clock)}
    for label in labels:
        model = make_model(label)
        calls[label] = lambda model=model: _timed(lambda: model(build())["forces"].detach(), clock)
    return calls


def time_ace_parts(batch: list, repeats: int) -> list[dict]:
    """ms of gaunt_ace's convolution and product, forward + backward, per engine and layer."""
    graph = collate(atoms_list_to_graphs(batch, CUTOFF, keys=None))
    edges, atoms = graph.edge_index.shape[1], graph.num_atoms
    rows = []
    for label in ("gaunt_ace[gaunt]", "gaunt_ace[cg]", "gaunt_ace[cg+odd]"):
        for k, layer in enumerate(make_model(label).layers):
            conv, product = layer.conv, layer.product
            x = torch.randn(edges, conv.irreps_in.dim, requires_grad=True)
            r = torch.randn(edges, 3, requires_grad=True)
            w = torch.randn(edges, conv.weight_numel, requires_grad=True)
            a = torch.randn(atoms, product.irreps_in.dim, requires_grad=True)
            species = torch.randint(0, len(ELEMENTS), (atoms,))
            parts = {"convolution": lambda conv=conv: torch.autograd.grad(conv(x, r, w).sum(), (x, r, w)),
                     "product": lambda: torch.autograd.grad(product(a, species).sum(), a)}
            if not isinstance(conv, GauntConvolution) and label == "gaunt_ace[gaunt]":
                parts["convolution (grid)"] = lambda grid=grid_convolution(conv): torch.autograd.grad(grid(x, r, w).sum(), (x, r, w))
            for part, call in parts.items():
                call()
            samples: dict[str, list[float]] = {part: [] for part in parts}
            for _ in range(repeats):  # interleaved: a load change hits every part alike
                for part, call in parts.items():
                    samples[part].append(_timed(call, "cpu"))
            for part, values in samples.items():
                rows.append(dict(model=label, layer=k + 1, part=part, rows=atoms if part == "product" else edges,
                                 ms=statistics.median(values)))
    print(f"gaunt_ace parts, forward + backward, CPU time, median of {repeats}:")
    for row in rows:
        print(f"  {row['model']:<20}layer {row['layer']}  {row['part']:<20}{row['rows']:>7} rows{row['ms']:>9.1f} ms")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="structures in the batch (default 32)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds after two warm-up rounds (default 7)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, ours and MACE's (default 1)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="time calls by process CPU time (default; for loaded machines) or wall clock")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--parts", action="store_true", help="first time gaunt_ace's convolution and product per engine")
    parser.add_argument("--no-mace", action="store_true", help="leave MACE out")
    parser.add_argument("--mace-python", help="python of MACE's virtualenv (default: benchmarks.peers)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or args.threads < 1:
        raise SystemExit("--batch, --repeats and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    batch, system = load_batch(args.batch)
    atoms = sum(len(a) for a in batch)
    parts = time_ace_parts(batch, args.repeats) if args.parts else []
    calls = our_calls(args.models, batch, args.clock)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        peers = []
        if not args.no_mace:
            python = peer_python_or_none("mace", args.mace_python)
            if python is None or not Path(python).exists():
                print("[skip] mace: its virtualenv is not built (python -m benchmarks.peers build)")
            else:  # the worker re-runs bench_inference.py in MACE's venv (the peer named "mace")
                peers = [("mace", python, _mace_call)]
        running = start_peers(peers, batch, args.threads, tmp, args.clock)
        calls.update({"mace small": peer.call_ms for peer in running.values()})
        for round_ in range(args.repeats + 2):
            for label, call in calls.items():
                value = call()
                if round_ >= 2:
                    times.setdefault(label, []).append(value)
        for peer in running.values():
            peer.close()
    ms = {label: statistics.median(values) for label, values in times.items()}
    reference = ms.get("tensornet")
    print(f"{system} x {len(batch)} ({atoms} atoms), float32, {args.threads} thread(s), energy + forces incl. graph, "
          f"{args.clock} clock, median of {args.repeats} interleaved rounds")
    print(f"{'model':<30}{'ms/call':>10}{'µs/atom':>10}{'/ tensornet':>13}")
    rows = []
    for label, value in ms.items():
        ratio = value / reference if reference else float("nan")
        print(f"{label:<30}{value:>10.1f}{1e3 * value / atoms:>10.0f}{ratio:>13.2f}")
        rows.append(dict(model=label, ms=value, us_per_atom=1e3 * value / atoms, ratio_to_tensornet=ratio,
                         samples_ms=times[label]))
    if args.json:
        write_json(str(args.json), dict(system=system, batch=len(batch), atoms=atoms, threads=args.threads,
                                        clock=args.clock, dtype="float32", repeats=args.repeats, results=rows,
                                        ace_parts=parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
