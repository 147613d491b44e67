"""fairchem's eSCN / EquiformerV2: parameter counts and CPU timings, run in the ``fairchem`` peer env.

    PY=~/.cache/irreps/peers/fairchem/bin/python
    $PY benchmarks/peers/fairchem_worker.py --model escn --config '{"num_layers": 2, "lmax_list": [2]}'
    $PY benchmarks/peers/fairchem_worker.py --model equiformer_v2 --config '{...}' --names
    $PY benchmarks/peers/fairchem_worker.py --model escn --config '{...}' --time test.xyz --repeat 30 --threads 1

Prints one JSON object on stdout: the trainable parameter count (``total``), the count per
top-level child module (``children``) and per child of the first layer (``first_layer``:
``layer_blocks.0`` for eSCN, ``blocks.0`` for EquiformerV2), the non-trainable ``nn.Parameter``s
(eSCN keeps its sphere points and spherical-harmonic weights as frozen Parameters) and, with
``--names``, every parameter's name and shape and every buffer's. ``--config`` keys are the
constructor arguments of fairchem-core 1.10's ``eSCN`` (``fairchem.core.models.escn.escn``) and
of the original ``EquiformerV2`` (registry name ``equiformer_v2``, in
``fairchem.core.models.equiformer_v2.equiformer_v2_deprecated``: the class of the published OC20
configs, with ``energy_block`` and ``force_block``); unset keys keep fairchem's defaults.

``--time FILE`` times energy + forces per call on single structures of an extxyz file in
float32 on the CPU (graph building included, as an ASE calculator would), after warm-up, and
adds ``timing`` (median seconds per call, µs per atom); with ``--profile ROWS`` it adds ``profile``
instead, torch.profiler's per-operator table of ``--repeat`` calls. ``--forces direct`` (the default, and
fairchem's: ``regress_forces=True`` builds a force head) uses the model's direct force head,
weights frozen (fairchem's forward re-enables grad whenever ``regress_forces`` is set);
``--forces autograd`` builds the model with ``regress_forces=False`` and takes -dE/dpos with
``torch.autograd.grad`` (neither model in 1.10 has a ``direct_forces`` switch, and both detach
the per-edge rotation, so these are not the exact gradient; they are timed, not trusted).
Periodic frames use fairchem's own ``radius_graph_pbc``; non-periodic ones get a neighbour list
built here in plain torch (the ``max_neighbors`` nearest within the cutoff), because
torch_geometric's ``radius_graph`` needs torch-cluster or pyg-lib, not installed.

torch-scatter has no wheel for torch 2.13 and neither model calls it, but
``fairchem/core/common/utils.py`` imports it at the top, so a pure-torch stand-in is put in
``sys.modules`` when it is missing. Nothing from ``irreps`` is imported here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
import types
import warnings


def _install_torch_scatter_stand_in() -> bool:
    try:
        import torch_scatter  # noqa: F401
        return False
    except ImportError:
        pass
    from torch_geometric.utils import scatter as _scatter

    def scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum"):
        if out is not None:
            raise NotImplementedError("torch_scatter stand-in: out= is not supported")
        return _scatter(src, index, dim=dim, dim_size=dim_size, reduce=reduce)

    module = types.ModuleType("torch_scatter")
    module.scatter = scatter
    sys.modules["torch_scatter"] = module
    return True


def build(model: str, config: dict, forces: str = "direct"):
    """The fairchem model with ``config`` over its defaults (stdout kept clean)."""
    config = dict(config)
    if forces == "autograd":
        config["regress_forces"] = False
    with contextlib.redirect_stdout(sys.stderr):
        if model == "escn":
            from fairchem.core.models.escn.escn import eSCN as cls
        else:
            from fairchem.core.models.equiformer_v2.equiformer_v2_deprecated import EquiformerV2 as cls
        return cls(**config)


def count(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def describe(net, model: str, names: bool) -> dict:
    first = "layer_blocks" if model == "escn" else "blocks"
    out = {
        "model": model,
        "class": f"{type(net).__module__}.{type(net).__name__}",
        "total": count(net),
        "children": {name: count(child) for name, child in net.named_children()},
        "first_layer_name": f"{first}.0",
        "first_layer": {name: count(child) for name, child in getattr(net, first)[0].named_children()},
        "non_trainable_parameters": {name: list(p.shape) for name, p in net.named_parameters() if not p.requires_grad},
    }
    if names:
        out["parameters"] = {name: list(p.shape) for name, p in net.named_parameters()}
        out["buffers"] = {name: list(b.shape) for name, b in net.named_buffers()}
    return out


def _neighbours(pos, cutoff: float, max_neighbors: int):
    """edge_index (2, E) as radius_graph gives it: row 0 the neighbour j, row 1 the centre i."""
    import torch

    dist = torch.cdist(pos, pos)
    dist.fill_diagonal_(float("inf"))
    k = min(max_neighbors, len(pos) - 1)
    near, j = torch.topk(dist, k, dim=1, largest=False)
    i = torch.arange(len(pos)).view(-1, 1).expand_as(j)
    keep = near < cutoff
    return torch.stack([j[keep], i[keep]])


def _batch(structures: list, net, periodic: bool):
    """One fairchem batch of ``structures`` (a non-periodic batch gets its neighbour list here)."""
    import torch
    from torch_geometric.data import Batch, Data

    data_list = []
    for atoms in structures:
        pos = torch.tensor(atoms.get_positions(), dtype=torch.float32)
        data = Data(pos=pos, atomic_numbers=torch.tensor(atoms.numbers, dtype=torch.long),
                    natoms=torch.tensor([len(atoms)]),
                    cell=torch.tensor(atoms.cell.array, dtype=torch.float32).view(1, 3, 3))
        if periodic:
            data.pbc = torch.tensor([list(atoms.pbc)])
        else:
            data.edge_index = _neighbours(pos, net.cutoff, net.max_neighbors)
        data_list.append(data)
    return Batch.from_data_list(data_list)  # offsets each structure's edge_index


def _calls(net, path: str, forces: str, frames: int, batch_size: int):
    """``(structures, periodic, call)``: ``call(k)`` evaluates energy + forces of the ``k``-th batch of the file."""
    import ase.io
    import torch

    structures = ase.io.read(path, index=f":{frames}")
    periodic = all(a.pbc.all() for a in structures)
    net.use_pbc, net.otf_graph = periodic, periodic  # attributes generate_graph reads
    net.eval()
    if forces == "direct":
        # fairchem's conditional_grad turns grad on inside forward whenever regress_forces is set
        # (these classes have no direct_forces attribute), so no_grad alone would still record a
        # tape through the trainable weights; frozen weights make inference what it should be
        net.requires_grad_(False)

    def call(k: int) -> None:
        chunk = [structures[(k * batch_size + b) % len(structures)] for b in range(batch_size)]
        num_atoms = sum(len(a) for a in chunk)
        if forces == "direct":
            with torch.no_grad():
                batch = _batch(chunk, net, periodic)
                out = net(batch)
                energy, force = out["energy"], out["forces"]
        else:
            batch = _batch(chunk, net, periodic)
            batch.pos.requires_grad_(True)
            energy = net(batch)["energy"]
            force = -torch.autograd.grad(energy.sum(), batch.pos)[0]
        assert force.shape == (num_atoms, 3) and torch.isfinite(energy).all()

    return structures, periodic, call


def time_calls(net, path: str, forces: str, frames: int, warmup: int, repeat: int, batch_size: int = 1) -> dict:
    import torch

    structures, periodic, call = _calls(net, path, forces, frames, batch_size)
    times = []
    for k in range(warmup + repeat):
        start = time.perf_counter()
        call(k)
        if k >= warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    natoms = batch_size * statistics.median(len(a) for a in structures)
    return {"file": path, "frames": len(structures), "batch": batch_size, "periodic": periodic, "forces": forces,
            "dtype": "float32", "threads": torch.get_num_threads(), "repeat": repeat, "warmup": warmup,
            "seconds_per_call": seconds, "us_per_atom": 1e6 * seconds / natoms, "atoms": natoms}


def profile_calls(net, path: str, forces: str, frames: int, warmup: int, repeat: int, batch_size: int,
                  rows: int) -> str:
    from torch.profiler import ProfilerActivity, profile

    _, _, call = _calls(net, path, forces, frames, batch_size)
    for k in range(warmup):
        call(k)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for k in range(repeat):
            call(warmup + k)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
    return f"{table}\n(times and calls summed over {repeat} profiled calls)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=("escn", "equiformer_v2"))
    parser.add_argument("--config", default="{}", help="JSON object of constructor arguments")
    parser.add_argument("--names", action="store_true", help="also list every parameter and buffer with its shape")
    parser.add_argument("--time", metavar="XYZ", help="time energy+forces on the structures of this extxyz file")
    parser.add_argument("--forces", choices=("direct", "autograd"), default="direct")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1, help="structures evaluated together per call")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS",
                        help="with --time: add `profile`, torch.profiler's table of the ROWS operators with the "
                             "most self CPU time over --repeat calls, instead of timing")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import logging

    logging.disable(logging.WARNING)  # the deprecation notices of the original EquiformerV2 class
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    stand_in = _install_torch_scatter_stand_in()
    net = build(args.model, json.loads(args.config), args.forces if args.time else "direct")
    out = describe(net, args.model, args.names)
    import fairchem.core

    out["fairchem_core"] = getattr(fairchem.core, "__version__", None)
    out["torch"] = torch.__version__
    out["torch_scatter_stand_in"] = stand_in
    if args.time and args.profile:
        out["profile"] = profile_calls(net, args.time, args.forces, args.frames, args.warmup, args.repeat, args.batch,
                                       args.profile)
    elif args.time:
        out["timing"] = time_calls(net, args.time, args.forces, args.frames, args.warmup, args.repeat, args.batch)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
