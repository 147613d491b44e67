"""Energy + forces inference time: irreps TensorNet vs TorchMD-Net, MACE and NequIP.

Systems: acac (15 atoms) and 3BPA (27 atoms) from ../shared/data/botnet at batch 1 and 32,
and periodic water boxes of ~400 and 1536 atoms at 1 g/cm^3 (built here with a fixed seed).
All models are float32 with random weights (timing does not depend on them):

- ours and TorchMD-Net 3.1's TensorNet: the paper's hyperparameters (128 channels, 2 layers,
  32 exp-normal radial functions, 5 Å cosine cutoff, O(3)).
- MACE (mace-torch 0.3.16, ``ScaleShiftMACE``), the MACE-MP "small" setting: hidden irreps
  128x0e (max_L = 0), edge spherical harmonics up to l = 3, correlation order 3,
  2 interactions (RealAgnosticResidualInteractionBlock for both), 5 Å cutoff, 8 Bessel
  functions with polynomial envelope p = 5, radial MLP [64, 64, 64], readout MLP 16x0e,
  SiLU, elements H C N O, avg_num_neighbors 10.
- NequIP (nequip 0.19.1, e3nn 0.6), its preset "S" (``PresetNequIPGNNModel``): 2 layers,
  l_max = 1 without odd-parity copies (128x0e + 64x1o features; last layer 128x0e),
  32-feature type embedding, radial MLP of depth 1 and width 128, 8 Bessel functions,
  polynomial cutoff p = 6, 5 Å cutoff, types H C N O, avg_num_neighbors 10; eager mode.

Each peer runs in its own virtualenv (pins clash: mace-torch wants e3nn 0.4.4), built by
``python -m benchmarks.peers build`` under ``$IRREPS_PEERS``, through a
subprocess that re-runs this file in worker mode, kept alive and asked for one timed call at
a time; a peer whose interpreter is missing or whose worker fails is skipped with a
"[skip]" line. TorchMD-Net's Warp kernels compile on the first call, which the warm-up
excludes. Every peer's time includes building its own graph from the same atoms:
TorchMD-Net's neighbour search inside the model (it cannot take a graph), MACE's
``config_from_atoms`` + ``AtomicData.from_config`` (its neighbour list) + batching, as its
ASE calculator does; NequIP's ``from_ase`` + type mapping + its default (matscipy)
``NeighborListTransform`` + ``batched_from_list``, as its ASE calculator does. Ours is
reported without and with building the graph ("ours" / "ours+nl": neighbour list, batched
for small molecules, conversion and collation); ratios are peer time / ours+nl time.

    python benchmarks/bench_inference.py --threads 1 2 --json bench.json
    python benchmarks/bench_inference.py --profile --systems "3bpa x32"   # per-op table of ours
    python benchmarks/bench_inference.py --compiled --systems "3bpa x32"  # + ours compiled, ratios to it

``--profile`` prints, for each selected system, torch.profiler's table of the operators with
the most self CPU time in our model's energy + forces call (graph prebuilt, float32 or
``--dtype float64``) and skips the timing table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from benchmarks.peers import peer_python_or_none  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "botnet"
HYPER = dict(hidden_dim=128, num_layers=2, num_rbf=32, cutoff=5.0)
ELEMENTS = (1, 6, 7, 8)


def water_box(num_molecules: int, seed: int = 0):
    """Randomly oriented rigid waters on a cubic grid, density 1 g/cm^3, periodic."""
    import ase
    from scipy.spatial.transform import Rotation

    volume = num_molecules * 18.015 / 0.602214076  # Å^3 at 1 g/cm^3
    length = volume ** (1 / 3)
    k = int(np.ceil(num_molecules ** (1 / 3)))
    rng = np.random.default_rng(seed)
    sites = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3)
    sites = sites[rng.choice(len(sites), num_molecules, replace=False)] * (length / k)
    angle = np.deg2rad(104.52) / 2
    local = 0.9572 * np.array([[0, 0, 0], [np.sin(angle), np.cos(angle), 0], [-np.sin(angle), np.cos(angle), 0]])
    rotations = Rotation.random(num_molecules, random_state=seed).as_matrix()
    positions = (sites[:, None, :] + np.einsum("mab,kb->mka", rotations, local)).reshape(-1, 3)
    return ase.Atoms("OH2" * num_molecules, positions=positions, cell=[length] * 3, pbc=True)


def systems() -> list[tuple[str, list]]:
    """(name, list of ase.Atoms forming one batch)."""
    import ase.io

    out = []
    for name, path, natoms in (("acac", DATA / "acac" / "train_300K.xyz", 15), ("3bpa", DATA / "3bpa" / "train_300K.xyz", 27)):
        if not path.is_file():
            print(f"[skip] {name}: {path} is missing (expected ../shared/data/botnet)")
            continue
        frames = ase.io.read(path, index=":32")
        assert len(frames[0]) == natoms
        out += [(f"{name} x1", frames[:1]), (f"{name} x32", frames[:32])]
    out += [("water 402", [water_box(134)]), ("water 1536", [water_box(512)])]
    return out


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _timed(fn, clock: str = "wall") -> float:
    """Milliseconds of ``fn()`` by the wall clock or by this process's CPU time (``clock='cpu'``)."""
    now = CLOCKS[clock]
    start = now()
    fn()
    return 1e3 * (now() - start)


class PeerProcess:
    """One peer in its own interpreter, kept alive and asked for one timed call at a time."""

    def __init__(self, name: str, python: str, path: Path, threads: int, clock: str = "wall"):
        self.name = name
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        cmd = [python, __file__, "--peer-worker", str(path), "--peer", name, "--threads", str(threads), "--clock", clock]
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self._read_until(lambda line: line == "ready")

    def _read_until(self, accept) -> str:
        # Warp prints its banner on stdout: skip lines until the expected answer.
        for line in self.process.stdout:
            if accept(line.strip()):
                return line.strip()
        raise RuntimeError(f"{self.name} worker stopped (see its stderr above)")

    def call_ms(self) -> float:
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return float(self._read_until(lambda line: line.startswith("ms ")).split()[1])

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        self.process.wait()


def start_peers(peers, batch, threads: int, tmp: str, clock: str = "wall") -> dict[str, PeerProcess]:
    """Start every peer (name, python, builder) on the batch; a failing one is reported and left out."""
    path = Path(tmp) / "batch.npz"
    np.savez(
        path,
        z=np.concatenate([a.numbers for a in batch]),
        pos=np.concatenate([a.positions for a in batch]),
        batch=np.concatenate([np.full(len(a), k) for k, a in enumerate(batch)]),
        box=np.asarray(batch[0].cell) if batch[0].pbc.all() else np.zeros((0, 3)),
    )
    running = {}
    for name, python, _ in peers:
        try:
            running[name] = PeerProcess(name, python, path, threads, clock)
        except (OSError, RuntimeError) as error:
            print(f"[skip] {name}: {error}", flush=True)
    return running


def time_all(batch, threads: int, repeats: int, peers, compiled: bool = False) -> dict[str, float]:
    """Median ms of ours (model only), ours with neighbour list and each peer, interleaved.

    Calls alternate (ours, ours+nl, peer 1, peer 2, ...) after two warm-up rounds, so load
    on a shared machine hits all alike. Keys: "ours", "ours+nl" and the peers' names; a
    peer that fails is reported with "[skip]" and absent from the result. With ``compiled``
    also "compiled" and "compiled+nl": the same model through ``CompiledPotential`` (the
    calculator's ``compile=True`` path), compiled before the rounds.
    """
    import torch

    from irreps.data import atoms_list_to_graphs, collate
    from irreps.models import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model("tensornet", dict(elements=list(ELEMENTS), **HYPER)).eval()
    build = lambda: collate(atoms_list_to_graphs(batch, HYPER["cutoff"], keys=None))  # noqa: E731
    graph = build()
    calls = {"ours": lambda: _timed(lambda: model(graph)["forces"].detach()),
             "ours+nl": lambda: _timed(lambda: model(build())["forces"].detach())}
    if compiled:
        from irreps.nn.compiled_potential import CompiledPotential

        potential = CompiledPotential(model)
        potential(graph)  # records and compiles (minutes on a cold inductor cache)
        calls.update({"compiled": lambda: _timed(lambda: potential(graph)["forces"]),
                      "compiled+nl": lambda: _timed(lambda: potential(build())["forces"])})
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        running = start_peers(peers, batch, threads, tmp)
        calls.update({name: peer.call_ms for name, peer in running.items()})
        for round_ in range(repeats + 2):
            for name, call in list(calls.items()):
                try:
                    value = call()
                except (OSError, RuntimeError, ValueError) as error:
                    print(f"[skip] {name}: {error}", flush=True)
                    del calls[name]
                    times.pop(name, None)
                    continue
                if round_ >= 2:
                    times.setdefault(name, []).append(value)
        for peer in running.values():
            peer.close()
    return {name: statistics.median(values) for name, values in times.items()}


def profile_ours(name: str, batch, threads: int, dtype: str) -> None:
    """Print the per-operator profile of our E+F call on ``batch`` (graph built once)."""
    import torch

    from benchmarks.profile_table import op_table
    from irreps.data import atoms_list_to_graphs, collate
    from irreps.models import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    torch_dtype = getattr(torch, dtype)
    model = build_model("tensornet", dict(elements=list(ELEMENTS), **HYPER)).eval().to(torch_dtype)
    graph = collate(atoms_list_to_graphs(batch, HYPER["cutoff"], keys=None, dtype=torch_dtype))
    atoms = sum(len(a) for a in batch)
    print(f"## irreps TensorNet, energy + forces, {name} ({atoms} atoms, {graph.edge_index.shape[1]} edges), "
          f"{dtype}, {threads} thread(s)")
    print(op_table(lambda: model(graph)["forces"].detach()), flush=True)


def _peer_model(max_z: int, box, precision: int):
    """TorchMD-Net 3.1 TensorNet + Scalar head with the paper's hyperparameters (peer venv only)."""
    import torch
    from torchmdnet.models.model import create_model

    args = dict(
        model="tensornet", embedding_dimension=HYPER["hidden_dim"], num_layers=HYPER["num_layers"],
        num_rbf=HYPER["num_rbf"], rbf_type="expnorm", trainable_rbf=False, activation="silu", cutoff_lower=0.0,
        cutoff_upper=HYPER["cutoff"], max_z=max_z, max_num_neighbors=128 if box is not None else 64,
        equivariance_invariance_group="O(3)", output_model="Scalar", prior_model=None, atom_filter=-1,
        derivative=True, reduce_op="add", precision=precision, static_shapes=False, check_errors=True,
        box_vecs=box, charge=False, spin=False, output_mlp_num_layers=0, remove_ref_energy=False,
    )
    torch.manual_seed(0)
    return create_model(args).eval()


def _tmdnet_call(data, threads: int):
    """TorchMD-Net: its model takes (z, pos, batch) and searches neighbours itself."""
    import torch

    box = torch.tensor(data["box"], dtype=torch.float32) if data["box"].size else None
    z = torch.tensor(data["z"], dtype=torch.long)
    model = _peer_model(int(z.max()) + 1, box, 32)
    pos = torch.tensor(data["pos"], dtype=torch.float32)
    batch = torch.tensor(data["batch"], dtype=torch.long)
    return lambda: model(z, pos, batch)[1].detach()


def _atoms_from(data) -> list:
    """The batch's structures back as ase.Atoms (for peers that build their own graphs)."""
    import ase

    periodic = bool(data["box"].size)
    return [
        ase.Atoms(numbers=data["z"][data["batch"] == k], positions=data["pos"][data["batch"] == k],
                  cell=data["box"] if periodic else None, pbc=periodic)
        for k in range(int(data["batch"].max()) + 1)
    ]


def _mace_call(data, threads: int):
    """MACE-MP "small"-like ScaleShiftMACE (see the module docstring); graph built per call."""
    # e3nn 0.4.4 (pinned by mace-torch) pickles a slice in its constants, which torch >= 2.6's
    # weights-only torch.load refuses; mace sets this itself, but only if imported before e3nn.
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    import torch
    from e3nn import o3
    from mace import data as mace_data, modules
    from mace.tools import torch_geometric, utils

    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.ScaleShiftMACE(
        r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3, interaction_cls=block,
        interaction_cls_first=block, num_interactions=2, num_elements=len(ELEMENTS),
        hidden_irreps=o3.Irreps("128x0e"), MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=np.zeros(len(ELEMENTS)), avg_num_neighbors=10.0, atomic_numbers=list(ELEMENTS),
        correlation=3, gate=torch.nn.functional.silu, radial_MLP=[64, 64, 64], radial_type="bessel",
        atomic_inter_scale=1.0, atomic_inter_shift=0.0,
    ).eval()
    z_table = utils.AtomicNumberTable(list(ELEMENTS))
    atoms = _atoms_from(data)

    def call():
        graphs = [mace_data.AtomicData.from_config(mace_data.config_from_atoms(a), z_table=z_table, cutoff=5.0)
                  for a in atoms]
        loader = torch_geometric.dataloader.DataLoader(graphs, batch_size=len(graphs), shuffle=False)
        return model(next(iter(loader)).to_dict(), compute_force=True)["forces"].detach()

    return call


def _nequip_call(data, threads: int):
    """NequIP preset "S" (see the module docstring); graph built per call as its ASE calculator does."""
    from nequip.data import AtomicDataDict, from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform
    from nequip.model import PresetNequIPGNNModel
    from nequip.utils.global_state import set_global_state

    set_global_state()
    types = ["H", "C", "N", "O"]
    model = PresetNequIPGNNModel(preset="S", seed=0, model_dtype="float32", type_names=types, r_max=5.0,
                                 avg_num_neighbors=10.0).eval()
    transforms = [ChemicalSpeciesToAtomTypeMapper(model_type_names=types), NeighborListTransform(r_max=5.0)]
    atoms = _atoms_from(data)

    def frame(structure):
        out = from_ase(structure)
        for transform in transforms:
            out = transform(out)
        return out

    return lambda: model(AtomicDataDict.batched_from_list([frame(a) for a in atoms]))["forces"].detach()


def peer_table(args) -> list[tuple[str, str, object]]:
    """(name, python of its virtualenv, builder of its timed call) for every peer."""
    if args.peer_worker or args.peer_export:  # inside a peer's environment: no lookups
        return [("tmdnet", None, _tmdnet_call), ("mace", None, _mace_call), ("nequip", None, _nequip_call)]
    return [("tmdnet", peer_python_or_none("torchmd-net", args.peer_python), _tmdnet_call),
            ("mace", peer_python_or_none("mace", args.mace_python), _mace_call),
            ("nequip", peer_python_or_none("nequip", args.nequip_python), _nequip_call)]


def peer_worker(path: str, builder, threads: int, clock: str = "wall") -> None:
    """Runs inside a peer's virtualenv: answer each "run" line with one call's ms."""
    import warnings

    import torch

    warnings.filterwarnings("ignore")  # peers' deprecation notices would drown the table
    torch.set_num_threads(threads)
    call = builder(np.load(path), threads)
    call()  # first-call compilation and caches, outside the timing
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            print("ms", _timed(call, clock), flush=True)


def peer_export(path: str) -> None:
    """Runs inside TorchMD-Net's virtualenv: perturbed float64 weights and their predictions."""
    import torch

    data = np.load(path)
    z = torch.tensor(data["z"], dtype=torch.long)
    model = _peer_model(int(z.max()) + 1, None, 64)
    with torch.no_grad():  # move away from the default init (unit norms, zero biases)
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    results = {}
    for k, pos in enumerate(data["pos"]):
        energy, forces = model(z, torch.tensor(pos, dtype=torch.float64), torch.zeros_like(z))
        results[f"energy{k}"], results[f"forces{k}"] = energy.detach().reshape(()), forces.detach()
    state = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    torch.save({"state": state, "results": results}, path + ".pt")


def check_against_peer(peer_python: str) -> None:
    """Same weights in both implementations: forces and energy differences must agree (float64).

    Absolute energies differ by a per-atom constant: irreps subtracts the network's value for
    an atom without neighbours (so isolated atoms get exactly E0), TorchMD-Net does not.
    """
    import ase.io
    import torch

    from irreps.data import atoms_to_graph, collate
    from irreps.models import build_model
    from irreps.models.tensornet import load_torchmd_net_state_dict

    frames = ase.io.read(DATA / "3bpa" / "train_300K.xyz", index=":2")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "check.npz")
        np.savez(path, z=frames[0].numbers, pos=np.stack([f.positions for f in frames]))
        run = subprocess.run([peer_python, __file__, "--peer-export", path], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"[check failed to run TorchMD-Net] {run.stderr[-2000:]}")
            return
        peer = torch.load(path + ".pt", weights_only=True)
    model = build_model("tensornet", dict(elements=list(ELEMENTS), **HYPER)).double().eval()
    load_torchmd_net_state_dict(model, peer["state"])
    out = model(collate([atoms_to_graph(f, HYPER["cutoff"], keys=None, dtype=torch.float64) for f in frames]))
    force_err = max((out["forces"][27 * k : 27 * (k + 1)] - peer["results"][f"forces{k}"]).abs().max().item() for k in range(2))
    de_ours = (out["energy"][0] - out["energy"][1]).item()
    de_peer = (peer["results"]["energy0"] - peer["results"]["energy1"]).item()
    print(f"same weights, 3BPA, float64: max |F_irreps - F_tmdnet| = {force_err:.2e} eV/Å, "
          f"dE irreps {de_ours:.9f} vs tmdnet {de_peer:.9f} eV")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--systems", nargs="*", help="subset of system names, e.g. '3bpa x32'")
    parser.add_argument("--peer-python", help="python of TorchMD-Net's virtualenv (default: benchmarks.peers)")
    parser.add_argument("--mace-python", help="python of MACE's virtualenv (default: benchmarks.peers)")
    parser.add_argument("--nequip-python", help="python of NequIP's virtualenv (default: benchmarks.peers)")
    parser.add_argument("--json", help="write one record per (system, impl, threads) here")
    parser.add_argument("--check", action="store_true", help="first check both give the same forces for the same weights")
    parser.add_argument("--compiled", action="store_true",
                        help="also time ours through the compiled inference path; peer ratios are then to compiled+nl")
    parser.add_argument("--profile", action="store_true", help="print per-operator profiles of ours instead of timing")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="for --profile")
    parser.add_argument("--peer-worker", help=argparse.SUPPRESS)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall", help=argparse.SUPPRESS)
    parser.add_argument("--peer-export", help=argparse.SUPPRESS)
    args = parser.parse_args()
    peers = peer_table(args)
    if args.peer_worker:
        peer_worker(args.peer_worker, {name: builder for name, _, builder in peers}[args.peer], args.threads[0], args.clock)
        return
    if args.peer_export:
        peer_export(args.peer_export)
        return
    if args.profile:
        for name, batch in systems():
            if not args.systems or name in args.systems:
                profile_ours(name, batch, args.threads[0], args.dtype)
        return
    if args.check and peers[0][1] is not None:
        check_against_peer(peers[0][1])
    for name, python, _ in peers:
        if python is not None and not Path(python).exists():
            print(f"[skip] {name}: no interpreter at {python}")
    peers = [peer for peer in peers if peer[1] is not None and Path(peer[1]).exists()]
    ours = "compiled+nl" if args.compiled else "ours+nl"  # what the peers' ratios are taken to
    header = (f"{'system':12s} {'thr':>3s} {'atoms':>6s} {'ours ms':>9s} {'ours+nl':>9s} {'ours us/at':>10s}"
              + (f" {'comp ms':>9s} {'comp+nl':>9s} {'comp us/at':>10s}" if args.compiled else "")
              + "".join(f" {name + ' ms':>10s} {name[:4] + ' us/at':>10s} {name[:4] + '/ours':>9s}" for name, _, _ in peers))
    print(header)
    print("-" * len(header))
    records = []
    for name, batch in systems():
        if args.systems and name not in args.systems:
            continue
        atoms = sum(len(a) for a in batch)
        for threads in args.threads:
            ms = time_all(batch, threads, args.repeats, peers, args.compiled)
            row = f"{name:12s} {threads:3d} {atoms:6d} {ms['ours']:9.1f} {ms['ours+nl']:9.1f} {1e3 * ms['ours+nl'] / atoms:10.0f}"
            if args.compiled:
                row += f" {ms['compiled']:9.1f} {ms['compiled+nl']:9.1f} {1e3 * ms['compiled+nl'] / atoms:10.0f}"
            for peer, _, _ in peers:
                row += (f" {ms[peer]:10.1f} {1e3 * ms[peer] / atoms:10.0f} {ms[peer] / ms[ours]:8.2f}x"
                        if peer in ms else f" {'n/a':>10s} {'n/a':>10s} {'n/a':>9s}")
            print(row, flush=True)
            common = dict(system=name, atoms=atoms, batch=len(batch), threads=threads)
            records += [dict(common, impl=impl, ms_per_call=value) for impl, value in ms.items()]
    print(f"us/at = microseconds per atom; peer/ours = peer time / {ours} time (both build their graph)")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
