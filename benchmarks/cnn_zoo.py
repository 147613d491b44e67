"""A small CNN zoo for generalisation prediction, made from scikit-learn's bundled 8x8 digits.

Every CNN has one architecture (`ARCH`: three 3x3 convolutions with ReLU, global average
pooling, a linear classifier) and its own hyperparameters: learning rate, weight decay,
initialisation scale, training-set fraction, label-noise fraction and number of steps, drawn
log-uniformly / uniformly from a seeded generator. All CNNs train at once (parameters stacked on a
leading model axis, ``torch.func.vmap``, one Adam step with a per-model learning rate), then
their test accuracy on 797 held-out digits is recorded. The zoo is cached as a ``.pt`` file keyed
by its settings, so reruns load it in a second.

Needs scikit-learn (``pip install scikit-learn``, the ``bench`` extra).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

ARCH = {"in_channels": 1, "channels": (8, 8, 8), "kernel_size": 3, "num_classes": 10}
NUM_TRAIN_IMAGES = 1000  # of the 1,797 digits; the rest is the CNNs' test set


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise SystemExit("the CNN zoo needs scikit-learn (pip install scikit-learn)") from err
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    return images, torch.tensor(data.target)


def _forward(params: dict, x: torch.Tensor) -> torch.Tensor:
    """One CNN of `ARCH` on images ``[n, 1, 8, 8]`` -> logits ``[n, 10]``."""
    conv = torch.nn.functional.conv2d
    h = torch.relu(conv(x, params["conv0.weight"], params["conv0.bias"], padding=1))
    h = torch.relu(conv(h, params["conv1.weight"], params["conv1.bias"]))
    h = torch.relu(conv(h, params["conv2.weight"], params["conv2.bias"]))
    return h.mean((2, 3)) @ params["fc.weight"].T + params["fc.bias"]


# all CNNs at once: parameters [models, ...], images shared -> [models, n, 10] (vmap beat batched
# unfold + matmul by 4-5x on one CPU thread)
forward_zoo = torch.func.vmap(_forward, in_dims=(0, None))


def _init(num: int, scale: torch.Tensor, gen: torch.Generator) -> dict:
    c, k = ARCH["channels"], ARCH["kernel_size"]
    shapes = {"conv0.weight": (c[0], 1, k, k), "conv0.bias": (c[0],), "conv1.weight": (c[1], c[0], k, k),
              "conv1.bias": (c[1],), "conv2.weight": (c[2], c[1], k, k), "conv2.bias": (c[2],),
              "fc.weight": (ARCH["num_classes"], c[2]), "fc.bias": (ARCH["num_classes"],)}
    params = {}
    for name, shape in shapes.items():
        fan_in = math.prod(shape[1:]) if name.endswith("weight") else shape[0]
        std = scale.reshape(-1, *[1] * len(shape)) / math.sqrt(fan_in)
        params[name] = (torch.randn(num, *shape, generator=gen) * std * (1.0 if name.endswith("weight") else 0.1))
    return params


def make_zoo(num: int, seed: int = 0, max_steps: int = 200, batch_size: int = 128) -> dict:
    """Train ``num`` CNNs; returns ``{"params": {name: [num, ...]}, "test_acc", "train_acc", "hparams"}``."""
    images, labels = _digits()
    gen = torch.Generator().manual_seed(seed)
    train_x, train_y = images[:NUM_TRAIN_IMAGES], labels[:NUM_TRAIN_IMAGES]
    test_x, test_y = images[NUM_TRAIN_IMAGES:], labels[NUM_TRAIN_IMAGES:]
    u = lambda: torch.rand(num, generator=gen)  # noqa: E731
    hp = {"lr": 10 ** (-3.5 + 2.5 * u()), "weight_decay": 10 ** (-6 + 4 * u()), "init_scale": 10 ** (-0.7 + 1.2 * u()),
          "train_fraction": 0.1 + 0.9 * u(), "label_noise": 0.5 * u() ** 2,
          "steps": (max_steps * (0.15 + 0.85 * u())).round()}
    params = {n: p.requires_grad_() for n, p in _init(num, hp["init_scale"], gen).items()}
    member = torch.rand(num, NUM_TRAIN_IMAGES, generator=gen) < hp["train_fraction"][:, None]
    noisy = torch.rand(num, NUM_TRAIN_IMAGES, generator=gen) < hp["label_noise"][:, None]
    targets = torch.where(noisy, torch.randint(0, 10, (num, NUM_TRAIN_IMAGES), generator=gen), train_y[None])
    state = {n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in params.items()}
    for step in range(1, max_steps + 1):
        idx = torch.randint(0, NUM_TRAIN_IMAGES, (batch_size,), generator=gen)
        logits = forward_zoo(params, train_x[idx])  # [num, batch, 10]
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 10), targets[:, idx].reshape(-1), reduction="none")
        weight = member[:, idx].float()
        loss = ((ce.reshape(num, -1) * weight).sum(1) / weight.sum(1).clamp(min=1)).sum()
        grads = torch.autograd.grad(loss, list(params.values()))
        active = (step <= hp["steps"]).float()
        with torch.no_grad():  # AdamW, one learning rate and decay per model, frozen after its own steps
            for (name, p), g in zip(params.items(), grads):
                m, v = state[name]
                m.mul_(0.9).add_(0.1 * g)
                v.mul_(0.999).add_(0.001 * g * g)
                lr = (hp["lr"] * active).reshape(-1, *[1] * (p.dim() - 1))
                wd = hp["weight_decay"].reshape(-1, *[1] * (p.dim() - 1))
                p.sub_(lr * ((m / (1 - 0.9**step)) / ((v / (1 - 0.999**step)).sqrt() + 1e-8) + wd * p))
    with torch.no_grad():
        params = {n: p.detach() for n, p in params.items()}
        test_acc = (forward_zoo(params, test_x).argmax(-1) == test_y[None]).float().mean(1)
        train_acc = (forward_zoo(params, train_x).argmax(-1) == train_y[None]).float().mean(1)
    return {"params": params, "test_acc": test_acc, "train_acc": train_acc, "hparams": hp}


def load_or_make_zoo(num: int, cache_dir: Path, seed: int = 0, max_steps: int = 200) -> tuple[dict, str]:
    """The zoo from ``cache_dir`` if made before with these settings, else made and saved; and a note."""
    path = Path(cache_dir).expanduser() / f"digits_cnn_zoo_n{num}_s{seed}_steps{max_steps}.pt"
    if path.exists():
        return torch.load(path, weights_only=True), f"loaded {path}"
    start = time.perf_counter()
    zoo = make_zoo(num, seed, max_steps)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(zoo, tmp)
    tmp.replace(path)
    return zoo, f"made in {time.perf_counter() - start:.0f} s, saved to {path}"
