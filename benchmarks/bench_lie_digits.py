"""Affine-invariant digit classification: Monte-Carlo GL+(2) / SL(2) G-CNNs against a CNN.

    python benchmarks/bench_lie_digits.py [--json out.json] [--epochs 15] [--samples 8] [--test-draws 4]
                                          [--scale 0.2] [--norm batch]

Needs scikit-learn (its 8x8 digits ship with the package: ``pip install scikit-learn``). The
1797 digits are scaled to [0, 1], placed in a 14 x 14 canvas and split 80/20 (fixed seed). All
models train on the untransformed training digits only; the test digits are scored as they are
and under one random affine map each (bilinear resampling): rotation U(-60°, 60°), axis scales
U(0.8, 1.2), shear U(-0.3, 0.3), as in the affNIST protocol of Mironenco & Forré (train centred,
test transformed), scaled to this data set. Baselines: the CNN with the same widths, and that CNN
trained with random affine maps of the same distribution (augmentation, for reference). The G-CNNs
(scale 0.2, 8 samples, batch norm unless ``--norm layer``) draw fresh group samples every step
and average their logits over 4 fixed draws at test time. One thread, float32, Adam, no
hyper-parameter chosen on the test set. `bench_lie_weights.py` measures why the GL+ model did not
train before its group convolution's weights were self-normalised.

JSON records per model: ``{"model", "params", "train_s", "test_acc", "affine_acc"}``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from benchmarks.one_cycle import train_one_cycle  # noqa: E402
from irreps.groups.lie import AffineGCNN  # noqa: E402

CANVAS = 14


def load_digits_canvas(seed: int) -> tuple[torch.Tensor, ...]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("bench_lie_digits.py needs scikit-learn for its 8x8 digits: pip install scikit-learn")
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32) / 16.0
    pad = (CANVAS - 8) // 2
    images = torch.nn.functional.pad(images, (pad, CANVAS - 8 - pad, pad, CANVAS - 8 - pad))[:, None]
    labels = torch.tensor(data.target)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(labels))
    return images[order[:cut]], labels[order[:cut]], images[order[cut:]], labels[order[cut:]]


def random_affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random map per image (rotation, axis scales, shear about the centre), bilinear."""
    num = images.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(num, generator=generator)  # noqa: E731
    theta, sx, sy, shear = u(-math.pi / 3, math.pi / 3), u(0.8, 1.2), u(0.8, 1.2), u(-0.3, 0.3)
    c, s = torch.cos(theta), torch.sin(theta)
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    shear_m = torch.stack([torch.stack([torch.ones(num), shear], -1), torch.stack([torch.zeros(num), torch.ones(num)], -1)], -2)
    a = rot @ shear_m @ torch.diag_embed(torch.stack([sx, sy], -1))
    # affine_grid maps output coordinates to input ones: use the inverse map
    theta_grid = torch.cat([torch.linalg.inv(a), torch.zeros(num, 2, 1)], -1)
    grid = torch.nn.functional.affine_grid(theta_grid, list(images.shape), align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class CNN(torch.nn.Module):
    """Two 5x5 convolutions with batch norm and GELU, global max pooling, linear head."""

    def __init__(self, channels=(6, 12), num_classes: int = 10):
        super().__init__()
        layers, c_in = [], 1
        for c in channels:
            layers += [torch.nn.Conv2d(c_in, c, 5, padding=2), torch.nn.BatchNorm2d(c), torch.nn.GELU()]
            c_in = c
        self.body, self.head = torch.nn.Sequential(*layers), torch.nn.Linear(c_in, num_classes)

    def forward(self, x):
        return self.head(self.body(x).amax((-2, -1)))


@torch.no_grad()
def accuracy(model, images, labels, draws) -> float:
    """Accuracy of the logits averaged over the given group-sample draws (``[None]`` for a CNN)."""
    model.eval()
    logits = sum(torch.cat([model(x) if s is None else model(x, s) for x in images.split(120)]) for s in draws)
    return (logits.argmax(-1) == labels).float().mean().item()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the records to this path")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--samples", type=int, default=8, help="group samples per forward pass")
    parser.add_argument("--test-draws", type=int, default=4, help="sample draws averaged at test time")
    parser.add_argument("--scale", type=float, default=0.2, help="std of the sampled symmetric part (scale/shear)")
    parser.add_argument("--norm", choices=["batch", "layer"], default="batch",
                        help="G-CNN feature norm: per channel over the batch, or per example (AffineGCNN)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    begin = time.perf_counter()
    train_x, train_y, test_x, test_y = load_digits_canvas(args.seed)
    affine_x = random_affine(test_x, torch.Generator().manual_seed(args.seed + 1))
    print(f"digits: {len(train_y)} train, {len(test_y)} test on a {CANVAS}x{CANVAS} canvas; {args.epochs} epochs",
          flush=True)
    records = []
    runs = [("CNN", lambda: CNN(), False), ("CNN + affine aug.", lambda: CNN(), True)]
    runs += [(f"{g} G-CNN", lambda g=g: AffineGCNN(g, channels=(6, 12), kernel_size=5, num_samples=args.samples,
                                                   scale=args.scale, norm=args.norm), False) for g in ("SL", "GL+")]
    for name, build, augment in runs:
        torch.manual_seed(args.seed)
        model = build()
        seconds = train_one_cycle(model, train_x, train_y, torch.nn.functional.cross_entropy, args.epochs, args.batch,
                                  args.seed, transform=random_affine if augment else None)
        draws = [model.draw(torch.Generator().manual_seed(args.seed + 2 + i)) for i in range(args.test_draws)] \
            if isinstance(model, AffineGCNN) else [None]
        record = {"model": name, "params": sum(p.numel() for p in model.parameters()), "train_s": seconds,
                  "test_acc": accuracy(model, test_x, test_y, draws),
                  "affine_acc": accuracy(model, affine_x, test_y, draws)}
        records.append(record)
        print(f"  {name}: {record['test_acc']:.3f} / {record['affine_acc']:.3f} ({seconds:.0f} s)", flush=True)
    print(f"\nTest accuracy, trained on untransformed digits ({args.epochs} epochs, float32, 1 thread)")
    print(f"{'model':<19}{'params':>8}{'train_s':>9}{'test':>8}{'affine':>8}")
    for r in records:
        print(f"{r['model']:<19}{r['params']:>8}{r['train_s']:>9.1f}{r['test_acc']:>8.3f}{r['affine_acc']:>8.3f}")
    total = time.perf_counter() - begin
    print(f"wall time {total:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records + [{"kind": "wall", "seconds": total}], fh, indent=1)


if __name__ == "__main__":
    main()
