"""Energy + forces inference time: irreps TensorNet vs TorchMD-Net 3.1's TensorNet.

Systems: acac (15 atoms) and 3BPA (27 atoms) from ../shared/data/botnet at batch 1 and 32,
and periodic water boxes of ~400 and 1536 atoms at 1 g/cm^3 (built here with a fixed seed).
Both models use the paper's hyperparameters (128 channels, 2 layers, 32 exp-normal radial
functions, 5 Å cosine cutoff, O(3)), float32, random weights (timing does not depend on them).

TorchMD-Net runs in its own virtualenv (``--peer-python``, default
/work/venvs/tmdnet/bin/python) through a subprocess that re-runs this file in worker mode,
so its pins never meet ours; its Warp kernels compile on the first call, which the warm-up
excludes. TorchMD-Net's time includes its own neighbour search (it cannot take a graph);
ours is reported without and with building the graph ("ours" / "ours+nl": neighbour list,
batched for small molecules, conversion and collation).

    python benchmarks/bench_inference.py --threads 1 2 --json bench.json
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

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "botnet"
PEER_PYTHON = "/work/venvs/tmdnet/bin/python"
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


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - start)


class Peer:
    """TorchMD-Net in its own interpreter, kept alive and asked for one timed call at a time."""

    def __init__(self, batch, threads: int, peer_python: str, tmp: str):
        path = Path(tmp) / "batch.npz"
        np.savez(
            path,
            z=np.concatenate([a.numbers for a in batch]),
            pos=np.concatenate([a.positions for a in batch]),
            batch=np.concatenate([np.full(len(a), k) for k, a in enumerate(batch)]),
            box=np.asarray(batch[0].cell) if batch[0].pbc.all() else np.zeros((0, 3)),
        )
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        cmd = [peer_python, __file__, "--peer-worker", str(path), "--threads", str(threads)]
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self._read_until(lambda line: line == "ready")

    def _read_until(self, accept) -> str:
        # Warp prints its banner on stdout: skip lines until the expected answer.
        for line in self.process.stdout:
            if accept(line.strip()):
                return line.strip()
        raise RuntimeError("TorchMD-Net worker stopped (see its stderr above)")

    def call_ms(self) -> float:
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return float(self._read_until(lambda line: line.startswith("ms ")).split()[1])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def time_pair(batch, threads: int, repeats: int, peer_python: str) -> tuple[float, float, float | None]:
    """Median ms of ours (model only), ours with neighbour list, and TorchMD-Net, interleaved.

    Calls alternate (ours, ours+nl, peer) after two warm-up rounds, so load on a shared
    machine hits all three alike.
    """
    import torch

    from irreps.data import atoms_list_to_graphs, collate
    from irreps.models import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model("tensornet", dict(elements=list(ELEMENTS), **HYPER)).eval()
    build = lambda: collate(atoms_list_to_graphs(batch, HYPER["cutoff"], keys=None))  # noqa: E731
    graph = build()
    ours = lambda: model(graph)["forces"].detach()  # noqa: E731
    ours_nl = lambda: model(build())["forces"].detach()  # noqa: E731
    times: dict[str, list[float]] = {"ours": [], "ours_nl": [], "peer": []}
    with tempfile.TemporaryDirectory() as tmp:
        peer = Peer(batch, threads, peer_python, tmp) if Path(peer_python).exists() else None
        for round_ in range(repeats + 2):
            sample = {"ours": _timed(ours), "ours_nl": _timed(ours_nl)}
            if peer is not None:
                sample["peer"] = peer.call_ms()
            if round_ >= 2:
                for key, value in sample.items():
                    times[key].append(value)
        if peer is not None:
            peer.close()
    median = {k: statistics.median(v) if v else None for k, v in times.items()}
    return median["ours"], median["ours_nl"], median["peer"]


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


def peer_worker(path: str, threads: int) -> None:
    """Runs inside TorchMD-Net's virtualenv: answer each "run" line with one call's ms."""
    import torch

    torch.set_num_threads(threads)
    data = np.load(path)
    box = torch.tensor(data["box"], dtype=torch.float32) if data["box"].size else None
    z = torch.tensor(data["z"], dtype=torch.long)
    model = _peer_model(int(z.max()) + 1, box, 32)
    pos = torch.tensor(data["pos"], dtype=torch.float32)
    batch = torch.tensor(data["batch"], dtype=torch.long)
    model(z, pos, batch)  # Warp kernels compile here, outside the timing
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            print("ms", _timed(lambda: model(z, pos, batch)[1].detach()), flush=True)


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
    parser.add_argument("--peer-python", default=PEER_PYTHON, help="python of TorchMD-Net's virtualenv")
    parser.add_argument("--json", help="write one record per (system, impl, threads) here")
    parser.add_argument("--check", action="store_true", help="first check both give the same forces for the same weights")
    parser.add_argument("--peer-worker", help=argparse.SUPPRESS)
    parser.add_argument("--peer-export", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:
        peer_worker(args.peer_worker, args.threads[0])
        return
    if args.peer_export:
        peer_export(args.peer_export)
        return
    if args.check:
        check_against_peer(args.peer_python)
    records = []
    header = f"{'system':12s} {'thr':>3s} {'atoms':>6s} {'ours ms':>9s} {'ours+nl':>9s} {'tmdnet ms':>10s} " \
             f"{'ours us/at':>10s} {'tmd us/at':>10s} {'speed-up':>8s}"
    print(header)
    print("-" * len(header))
    for name, batch in systems():
        if args.systems and name not in args.systems:
            continue
        atoms = sum(len(a) for a in batch)
        for threads in args.threads:
            ours, ours_nl, peer = time_pair(batch, threads, args.repeats, args.peer_python)
            peer_text = f"{peer:10.1f}" if peer else f"{'n/a':>10s}"
            peer_us = f"{1e3 * peer / atoms:10.0f}" if peer else f"{'n/a':>10s}"
            ratio = f"{peer / ours_nl:7.2f}x" if peer else f"{'n/a':>8s}"
            print(f"{name:12s} {threads:3d} {atoms:6d} {ours:9.1f} {ours_nl:9.1f} {peer_text} "
                  f"{1e3 * ours_nl / atoms:10.0f} {peer_us} {ratio}", flush=True)
            common = dict(system=name, atoms=atoms, batch=len(batch), threads=threads)
            records.append(dict(common, impl="irreps", ms_per_call=ours))
            records.append(dict(common, impl="irreps+neighbour_list", ms_per_call=ours_nl))
            if peer:
                records.append(dict(common, impl="torchmd-net", ms_per_call=peer))
    print("speed-up = TorchMD-Net time / ours+nl time (both include the neighbour search)")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
