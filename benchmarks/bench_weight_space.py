"""Weight-space models side by side: UNF, neural-graph GNN and transformer, DWSNets and baselines.

Two tasks, same data, same optimiser and epochs for every model of a task, one thread:

- ``inr``: sine-INR frequency regression (`make_sine_inrs`, 1 -> 16 -> 16 -> 1 tanh INRs, 80/20
  split): test MSE of omega for UNF, NG-GNN, NG-Transformer, DWSNet, DeepSets, flat MLP.
- ``zoo``: generalisation prediction on a CNN zoo made here from scikit-learn's 8x8 digits
  (`benchmarks/cnn_zoo.py`, cached under ``--cache-dir``): predict each CNN's test accuracy from
  its weights; Kendall tau and MSE on held-out CNNs for UNF, NG-GNN, NG-Transformer, an MLP on
  the flattened weights, and StatNN (an MLP on per-tensor weight statistics). Needs scikit-learn.

    python benchmarks/bench_weight_space.py [--sections inr,zoo] [--json out.json]

Records: ``{"task", "model", "params", "test_mse", "train_s"}``, plus ``"kendall_tau"`` and
``"perm_max_diff"`` (largest change of a prediction when the held-out CNNs' hidden channels are
permuted) for the zoo.
Hyperparameters are fixed up front (no tuning on the test split).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from irreps.groups import (DeepSetsRegressor, DWSNet, FlatMLPRegressor, NeuralGraphNet, NeuralGraphTransformer,  # noqa: E402
                           UNFNet, chain_layers, cnn_space, fit_omega_regressor, make_sine_inrs, mlp_space,
                           neural_graph)
from irreps.io import write_atomic  # noqa: E402


class _FromWeightsBiases(torch.nn.Module):
    """Adapt a model on a tensor list (UNF) or a neural graph to the ``(weights, biases)`` call of the
    sine-INR trainer."""

    def __init__(self, model: torch.nn.Module, graph: bool):
        super().__init__()
        self.model, self.graph = model, graph

    def forward(self, weights, biases):
        if self.graph:
            return self.model(neural_graph([w[:, 0] for w in weights], [b[:, 0] for b in biases]))
        return self.model([t for pair in zip(weights, biases) for t in pair])


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def bench_inr(num: int, epochs: int) -> list[dict]:
    torch.manual_seed(0)
    data = make_sine_inrs(num, hidden=(16, 16), steps=400)
    split = int(0.8 * num)
    train, test = data.subset(torch.arange(split)), data.subset(torch.arange(split, num))
    dims = data.dims
    graph = neural_graph([w[:1, 0] for w in data.weights], [b[:1, 0] for b in data.biases])
    builders = {
        "UNF": lambda: _FromWeightsBiases(UNFNet(mlp_space(dims), 8, 3), graph=False),
        "NG-GNN": lambda: _FromWeightsBiases(NeuralGraphNet(graph.num_node_types, 1, 32, 3), graph=True),
        "NG-Transformer": lambda: _FromWeightsBiases(NeuralGraphTransformer(graph.num_node_types, 1, 32, 3), graph=True),
        "DWSNet": lambda: DWSNet(dims, 8, 3),
        "DeepSets": lambda: DeepSetsRegressor(dims),
        "flat MLP": lambda: FlatMLPRegressor(dims),
    }
    records = []
    for name, build in builders.items():
        torch.manual_seed(0)
        model = build()
        start = time.perf_counter()
        result = fit_omega_regressor(model, train, test, epochs=epochs, lr=3e-3)
        records.append({"task": "inr", "model": name, "params": _params(model), "test_mse": result["test_mse"],
                        "train_s": time.perf_counter() - start})
        print(f"  {name:15s} params {records[-1]['params']:8d}  test MSE {result['test_mse']:.4f}  "
              f"({records[-1]['train_s']:.0f} s)", flush=True)
    print(f"  (variance of test omega {float(test.omega.var()):.4f}: predicting the mean)")
    return records


def _weight_statistics(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Per tensor: mean, std and the 0, 25, 50, 75, 100 % quantiles -> ``[batch, 7 * num_tensors]``."""
    feats = []
    for t in tensors:
        flat = t.reshape(t.shape[0], -1)
        q = torch.quantile(flat, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]), dim=1).T
        feats += [flat.mean(1, keepdim=True), flat.std(1, keepdim=True), q]
    return torch.cat(feats, 1)


def _fit_predict(model, make_input, y, train_idx, test_idx, epochs: int, lr: float, batch_size: int = 32):
    """Adam on the MSE of standardised targets; returns test predictions (de-standardised) and seconds."""
    mean, std = y[train_idx].mean(), y[train_idx].std()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for idx in train_idx[torch.randperm(len(train_idx))].split(batch_size):
            loss = ((model(make_input(idx))[:, 0] - (y[idx] - mean) / std) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(make_input(idx))[:, 0] for idx in test_idx.split(64)]) * std + mean
    return pred, time.perf_counter() - start


def _zoo_function_change(zoo: dict, space, perms: dict) -> float:
    """Max |change| of the zoo CNNs' logits on the digits when their hidden channels are permuted."""
    from benchmarks.cnn_zoo import _digits, forward_zoo

    images = _digits()[0][:200]
    params = {n: zoo["params"][n][:20] for n in space.names}
    moved = space.permute([params[n][:, None] for n in space.names], perms)
    with torch.no_grad():
        after = forward_zoo({n: t[:, 0] for n, t in zip(space.names, moved)}, images)
        return float((after - forward_zoo(params, images)).abs().max())


def bench_zoo(num: int, num_train: int, epochs: int, cache_dir: str, steps: int) -> list[dict]:
    from scipy.stats import kendalltau

    from benchmarks.cnn_zoo import ARCH, load_or_make_zoo

    zoo, note = load_or_make_zoo(num, Path(cache_dir), max_steps=steps)
    acc = zoo["test_acc"]
    print(f"  zoo: {num} CNNs ({note}); test accuracy min {acc.min():.3f} median {acc.median():.3f} max {acc.max():.3f}")
    space = cnn_space(ARCH["in_channels"], ARCH["channels"], ARCH["kernel_size"], ARCH["num_classes"])
    perms = space.random_permutations(torch.Generator().manual_seed(0))
    change = _zoo_function_change(zoo, space, perms)
    print(f"  permuting the zoo CNNs' hidden channels changes their logits by at most {change:.1e} (float32)")
    train_idx, test_idx = torch.arange(num_train), torch.arange(num_train, num)
    # one scale per tensor from the training CNNs: keeps every permutation symmetry
    tensors = [zoo["params"][name][:, None] / zoo["params"][name][train_idx].std() for name in space.names]
    graph = neural_graph(*chain_layers(space, [t[:1] for t in tensors]))
    raw_stats = _weight_statistics(tensors)
    stats_mean, stats_std = raw_stats[train_idx].mean(0), raw_stats[train_idx].std(0).clamp(min=1e-8)
    width = 64
    mlp = lambda n: torch.nn.Sequential(torch.nn.Linear(n, width), torch.nn.ReLU(), torch.nn.Linear(width, width),  # noqa: E731
                                        torch.nn.ReLU(), torch.nn.Linear(width, 1))
    flat_dim = sum(t[0].numel() for t in tensors)
    graph_input = lambda ts, i: neural_graph(*chain_layers(space, [t[i] for t in ts]))  # noqa: E731
    builders = {  # name: (model, input from (tensors, index))
        "UNF": (lambda: UNFNet(space, 4, 3), lambda ts, i: [t[i] for t in ts]),
        "NG-GNN": (lambda: NeuralGraphNet(graph.num_node_types, graph.edge_features.shape[1], 32, 3), graph_input),
        "NG-Transformer": (lambda: NeuralGraphTransformer(graph.num_node_types, graph.edge_features.shape[1], 32, 3),
                           graph_input),
        "flat MLP": (lambda: mlp(flat_dim), lambda ts, i: torch.cat([t[i].reshape(len(i), -1) for t in ts], 1)),
        "StatNN": (lambda: mlp(raw_stats.shape[1]),
                   lambda ts, i: (_weight_statistics([t[i] for t in ts]) - stats_mean) / stats_std),
    }
    moved = space.permute(tensors, perms)
    records = []
    for name, (build, make_input) in builders.items():
        torch.manual_seed(0)
        model = build()
        pred, seconds = _fit_predict(model, lambda i: make_input(tensors, i), acc, train_idx, test_idx, epochs, lr=1e-3)
        with torch.no_grad():
            change = float((model(make_input(moved, test_idx)) - model(make_input(tensors, test_idx))).abs().max())
        tau = float(kendalltau(pred.numpy(), acc[test_idx].numpy()).statistic)
        mse = float(((pred - acc[test_idx]) ** 2).mean())
        records.append({"task": "zoo", "model": name, "params": _params(model), "test_mse": mse, "kendall_tau": tau,
                        "train_s": seconds, "perm_max_diff": change})
        print(f"  {name:15s} params {records[-1]['params']:8d}  Kendall tau {tau:.3f}  test MSE {mse:.2e}  "
              f"perm change {change:.1e}  ({seconds:.0f} s)", flush=True)
    print(f"  (variance of the held-out CNNs' accuracy {float(acc[test_idx].var()):.2e}; perm change: max |change| of "
          "the standardised prediction when the held-out CNNs' hidden channels are permuted, float32)")
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the records to this path")
    parser.add_argument("--sections", default="inr,zoo", help="comma-separated: inr, zoo")
    parser.add_argument("--inr-num", type=int, default=1000, help="number of sine INRs (80/20 split)")
    parser.add_argument("--inr-epochs", type=int, default=15)
    parser.add_argument("--zoo-num", type=int, default=300, help="number of CNNs in the zoo")
    parser.add_argument("--zoo-train", type=int, default=200, help="CNNs to train the predictors on; the rest are held out")
    parser.add_argument("--zoo-epochs", type=int, default=30)
    parser.add_argument("--zoo-steps", type=int, default=200, help="most Adam steps a zoo CNN trains for")
    parser.add_argument("--cache-dir", default="~/.cache/irreps/cnn_zoo", help="where the zoo is cached")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sections = set(args.sections.split(","))
    if not sections <= {"inr", "zoo"}:
        parser.error(f"unknown sections {sorted(sections - {'inr', 'zoo'})}")
    if "zoo" in sections and not 0 < args.zoo_train < args.zoo_num:
        parser.error("--zoo-train must be between 0 and --zoo-num")
    records = []
    if "inr" in sections:
        print(f"\nSine-INR omega regression ({args.inr_num} INRs, 80/20 split, {args.inr_epochs} epochs, lr 3e-3)")
        records += bench_inr(args.inr_num, args.inr_epochs)
    if "zoo" in sections:
        print(f"\nCNN-zoo generalisation prediction ({args.zoo_train} train / {args.zoo_num - args.zoo_train} held-out "
              f"CNNs, {args.zoo_epochs} epochs, lr 1e-3)")
        records += bench_zoo(args.zoo_num, args.zoo_train, args.zoo_epochs, args.cache_dir, args.zoo_steps)
    if args.json:
        write_atomic(args.json, json.dumps(records, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
