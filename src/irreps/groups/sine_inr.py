"""The sine-INR frequency task for weight-space models, generated locally.

Each example is a small tanh MLP ``R -> R`` (an implicit neural representation) fitted to
``sin(omega x + phi)`` on ``x in [-pi, pi]`` from its own random initialisation; the target is
``omega``. Hidden neurons of the fitted MLPs come in arbitrary order, which is exactly the
symmetry a weight-space model must respect. All INRs are fitted at once with batched matmuls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SineINRDataset:
    """Fitted INRs: ``weights[i]`` ``[num, 1, d_{i+1}, d_i]``, ``biases[i]`` ``[num, 1, d_{i+1}]``,
    ``omega`` and ``phi`` ``[num]``, ``fit_mse`` ``[num]`` (final fitting error of each INR)."""

    dims: tuple[int, ...]
    weights: list
    biases: list
    omega: torch.Tensor
    phi: torch.Tensor
    fit_mse: torch.Tensor

    def subset(self, index: torch.Tensor) -> "SineINRDataset":
        return SineINRDataset(self.dims, [w[index] for w in self.weights], [b[index] for b in self.biases],
                              self.omega[index], self.phi[index], self.fit_mse[index])


def _mlp(x: torch.Tensor, weights: list, biases: list) -> torch.Tensor:
    """Batched INR evaluation: x ``[num, points, 1]`` -> ``[num, points, 1]``."""
    h = x
    for i, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w.transpose(1, 2) + b[:, None]
        if i < len(weights) - 1:
            h = torch.tanh(h)
    return h


def make_sine_inrs(num: int, hidden: tuple[int, ...] = (16, 16), omega_range: tuple[float, float] = (0.5, 3.0),
                   steps: int = 600, num_points: int = 64, lr: float = 0.01, seed: int = 0) -> SineINRDataset:
    """Fit ``num`` INRs, one per random (omega, phi), all in one batched Adam loop.

    Parameters
    ----------
    num : int
        Number of INRs.
    hidden : tuple of int
        Hidden layer sizes; the MLP has dims ``(1, *hidden, 1)``.
    omega_range : (float, float)
        Frequencies are uniform in this range; phases uniform in [0, 2 pi).
    steps, num_points, lr :
        Fitting schedule on a uniform grid of ``num_points`` in [-pi, pi].
    seed : int
    """
    if num < 1 or steps < 1:
        raise ValueError(f"num and steps must be positive, got {num}, {steps}")
    gen = torch.Generator().manual_seed(seed)
    dims = (1, *hidden, 1)
    omega = omega_range[0] + (omega_range[1] - omega_range[0]) * torch.rand(num, generator=gen)
    phi = 2 * math.pi * torch.rand(num, generator=gen)
    x = torch.linspace(-math.pi, math.pi, num_points).reshape(1, -1, 1).expand(num, -1, -1)
    target = torch.sin(omega[:, None, None] * x + phi[:, None, None])
    weights = [(torch.randn(num, dims[i + 1], dims[i], generator=gen) / math.sqrt(dims[i])).requires_grad_()
               for i in range(len(dims) - 1)]
    biases = [(0.1 * torch.randn(num, dims[i + 1], generator=gen)).requires_grad_() for i in range(len(dims) - 1)]
    opt = torch.optim.Adam(weights + biases, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        # sum over INRs of each one's mean error: every INR gets its own gradient scale
        loss = ((_mlp(x, weights, biases) - target) ** 2).mean((1, 2)).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        fit_mse = ((_mlp(x, weights, biases) - target) ** 2).mean((1, 2))
    return SineINRDataset(dims, [w.detach()[:, None] for w in weights], [b.detach()[:, None] for b in biases],
                          omega, phi, fit_mse)


def fit_omega_regressor(model: torch.nn.Module, train: SineINRDataset, test: SineINRDataset, epochs: int = 40,
                        batch_size: int = 32, lr: float = 1e-3, seed: int = 0) -> dict:
    """Train ``model(weights, biases) -> [batch, 1]`` to predict omega (standardised); report test MSE.

    Returns
    -------
    dict
        ``{"test_mse": float, "train_mse": float}`` in units of omega^2.
    """
    torch.manual_seed(seed)
    mean, std = train.omega.mean(), train.omega.std()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    num = train.omega.shape[0]
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(num).split(batch_size):
            part = train.subset(idx)
            pred = model(part.weights, part.biases)[:, 0]
            loss = ((pred - (part.omega - mean) / std) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return {"test_mse": predict_mse(model, test, mean, std), "train_mse": predict_mse(model, train, mean, std)}


@torch.no_grad()
def predict_mse(model: torch.nn.Module, data: SineINRDataset, mean: torch.Tensor, std: torch.Tensor) -> float:
    """Mean squared error of the de-standardised omega predictions."""
    model.eval()
    pred = model(data.weights, data.biases)[:, 0] * std + mean
    return float(((pred - data.omega) ** 2).mean())
