"""Per-kernel profile of TensorNet's compiled energy + forces (the ``compile=True`` inference path).

The model's energy and forces are recorded as ``CompiledPotential`` records them, then compiled
by inductor with its Python wrapper (not the C++ one ``irreps.nn.recording.compile_program``
uses) and with ``cpp.enable_kernel_profile``, so that torch.profiler sees every fused kernel
(``graph_0_cpp_fused_...``) and every extern matrix product (``aten::mm``, ``aten::addmm``,
``aten::bmm``) with its shapes: the C++ wrapper hides them inside one ``CompiledFxGraph`` call.
The Python wrapper itself adds a few percent, so read shares, not absolute times; the timing
line above each table is this profiling build's. Random weights, TensorNet 128 x 2 (the
recommended shape), systems of ``benchmarks/bench_inference.py`` (3BPA ones need
``../shared/data``). Compiling takes minutes on a cold inductor cache.

    python benchmarks/profile_compiled.py --systems "acac x1" "3bpa x32" [--dtype float64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable


def _profiling_compile(program, backend, args, key=None):
    """``compile_program``'s compilation with the Python wrapper and per-kernel profiling."""
    import torch
    from torch.fx.experimental import _config as fx_config

    compiled = torch.compile(program, dynamic=True, backend="inductor")

    def run(*args):
        with fx_config.patch(use_duck_shape=False):
            return compiled(*args)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", default=["acac x1", "3bpa x32"])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--rounds", type=int, default=5, help="profiled calls per system")
    parser.add_argument("--rows", type=int, default=25, help="rows per table")
    args = parser.parse_args()

    import torch
    import torch._inductor.config as inductor_config
    from torch.profiler import ProfilerActivity, profile

    import irreps.nn.compiled_potential as compiled_potential
    from benchmarks.bench_inference import ELEMENTS, HYPER, systems
    from irreps.data import atoms_list_to_graphs, collate
    from irreps.models import build_model

    torch.set_num_threads(1)
    os.environ["IRREPS_COMPILE_CACHE"] = ""  # compile this profiling build, never load a stored program
    inductor_config.cpp.enable_kernel_profile = True
    compiled_potential.compile_program = _profiling_compile  # this script only
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    model = build_model("tensornet", dict(elements=list(ELEMENTS), **HYPER)).eval().to(dtype)
    potential = compiled_potential.CompiledPotential(model)
    available = dict(systems())
    for name in args.systems:
        if name not in available:
            print(f"[skip] {name}: not among {sorted(available)} (3BPA needs ../shared/data/botnet/3bpa)")
            continue
        graph = collate(atoms_list_to_graphs(available[name], HYPER["cutoff"], keys=None, dtype=dtype))
        atoms = graph.positions.shape[0]
        start = time.perf_counter()
        potential(graph)
        first = time.perf_counter() - start
        times = []
        for _ in range(10):
            start = time.perf_counter()
            potential(graph)
            times.append(time.perf_counter() - start)
        ms = 1e3 * statistics.median(times)
        print(f"## irreps TensorNet, compiled energy + forces, {name} ({atoms} atoms, {graph.edge_index.shape[1]} "
              f"edges), {args.dtype}, 1 thread: first call {first:.0f} s, then {ms:.2f} ms ({1e3 * ms / atoms:.0f} "
              "µs/atom, profiling build)", flush=True)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(args.rounds):
                potential(graph)
        averages = prof.key_averages(group_by_input_shape=True)
        print(averages.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=60,
                             max_shapes_column_width=60))
        print(f"(times and calls summed over {args.rounds} profiled calls)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
