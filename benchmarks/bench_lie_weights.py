"""Why the Monte-Carlo GL+(2) G-CNN did not train: the Haar importance weights, measured.

    python benchmarks/bench_lie_weights.py [--json out.json] [--draws 100] [--steps 150]

Three tables (one thread, fixed seeds; needs scikit-learn for the digits of `bench_lie_digits.py`):

1. Tail of the importance weights ``w = dg/dq`` of `MatrixLieGroup.sample` (scale 0.2): ``t P(w > t)``
   stays near a constant (a Pareto tail of index 1, so ``E[w]`` is infinite: the Haar measure has
   infinite mass) and the running mean of w keeps growing with the number of samples.
2. Scale of the group convolution's output over ``--draws`` draws of 8 samples, at initialisation,
   on lifted digits: with the raw estimate ``(1/M) sum_j w_j env_ij / |det h_j|`` (the layer
   before the fix; its diagonal term carries ``w_i`` undamped) against the self-normalised weights
   the layer uses now (`AffineGroupConv.integration_weights`).
3. Training accuracy of the GL+ G-CNN over the last third of ``--steps`` Adam steps (3e-3, batch 32)
   with a fresh draw every step, one fixed draw, and fresh draws with either part held fixed
   (rotations equally spaced without random offset, or the symmetric parts of the fixed draw):
   the Monte-Carlo noise that remains.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `benchmarks` importable
from benchmarks.bench_lie_digits import load_digits_canvas  # noqa: E402
from benchmarks.json_out import write_json  # noqa: E402
from irreps.groups.lie import AffineGCNN, GroupSamples, MatrixLieGroup, exp_symmetric, polar  # noqa: E402

SCALE = 0.2


def raw_weights(conv, samples, relative, chart) -> torch.Tensor:
    """The group convolution's weights before the fix: ``(1/M) w_j env(g_i^{-1} h_j) / |det h_j|``."""
    envelope = torch.exp(-0.5 * chart[..., : len(conv.group.basis)].pow(2).sum(-1) / conv.envelope**2)
    return envelope * samples.log_weights.exp()[None] / torch.linalg.det(samples.matrices).abs()[None] / len(samples)


def weight_tails(num: int) -> list[dict]:
    records = []
    for name in ("SL", "GL+"):
        w = MatrixLieGroup(name, 2).sample(num, SCALE, generator=torch.Generator().manual_seed(0)).log_weights.exp()
        record = {"table": "tail", "group": name}
        record |= {f"tP(w>{t})": (w > t).double().mean().item() * t for t in (10, 100, 1000)}
        record |= {f"mean_w_{n:.0e}": w[:n].mean().item() for n in (10**3, 10**4, 10**5, num)}
        records.append(record)
    return records


def output_spread(images: torch.Tensor, draws: int) -> list[dict]:
    records = []
    for name in ("SL", "GL+"):
        torch.manual_seed(0)
        model = AffineGCNN(name, channels=(6, 12), kernel_size=5, num_samples=8, scale=SCALE).train()
        conv = model.convs[0]
        for label in ("raw", "self-normalised"):
            if label == "raw":
                conv.integration_weights = types.MethodType(raw_weights, conv)
            else:
                del conv.integration_weights  # back to the class's method
            stds, shares = [], []
            with torch.no_grad():
                for seed in range(draws):
                    samples = model.draw(torch.Generator().manual_seed(1000 + seed))
                    features = torch.nn.functional.gelu(model.norms[0](model.lift(images, samples)))
                    stds.append(conv(features, samples).std())
                    shares.append(samples.log_weights.softmax(0).max())
            stds, shares = torch.stack(stds), torch.stack(shares)
            corr = torch.corrcoef(torch.stack([stds.log(), shares]))[0, 1].item()
            records.append({"table": "spread", "group": name, "weights": label, "median": stds.median().item(),
                            "q05": stds.quantile(0.05).item(), "q95": stds.quantile(0.95).item(),
                            "max_over_min": (stds.max() / stds.min()).item(), "corr_log_std_top_share": corr})
    return records


def _mixed_draw(fresh: GroupSamples, fixed: GroupSamples, keep: str) -> GroupSamples:
    """``fresh`` with its rotations replaced by angles 2 pi k / M (``keep="rotations"``), or with the
    symmetric parts and weights of ``fixed`` (``keep="symmetric"``)."""
    x, r = polar(fresh.matrices.double())
    if keep == "rotations":
        angle = 2 * torch.pi * torch.arange(len(fresh), dtype=torch.float64) / len(fresh)
        r = torch.stack([torch.stack([angle.cos(), -angle.sin()], -1), torch.stack([angle.sin(), angle.cos()], -1)], -2)
        return GroupSamples((exp_symmetric(x) @ r).to(fresh.matrices), fresh.log_weights)
    return GroupSamples((exp_symmetric(polar(fixed.matrices.double())[0]) @ r).to(fresh.matrices), fixed.log_weights)


MODES = ("fresh draw per step", "one fixed draw", "fixed rotations", "fixed symmetric parts")


def fresh_against_fixed(images: torch.Tensor, labels: torch.Tensor, steps: int) -> list[dict]:
    records = []
    for mode in MODES:
        torch.manual_seed(0)
        model = AffineGCNN("GL+", channels=(6, 12), kernel_size=5, num_samples=8, scale=SCALE)
        fixed = model.draw(torch.Generator().manual_seed(99))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(0)
        correct = []
        for _ in range(steps):
            idx = torch.randint(len(labels), (32,), generator=gen)
            samples = fixed if mode == "one fixed draw" else model.draw()
            if mode.startswith("fixed "):
                samples = _mixed_draw(samples, fixed, mode.split()[1])
            out = model(images[idx], samples)
            loss = torch.nn.functional.cross_entropy(out, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            correct.append((out.argmax(-1) == labels[idx]).float().mean().item())
        tail = correct[-max(1, steps // 3):]
        records.append({"table": "training", "mode": mode, "steps": steps, "train_acc_last_third": sum(tail) / len(tail)})
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the records to this path")
    parser.add_argument("--samples", type=int, default=1_000_000, help="samples for the tail table")
    parser.add_argument("--draws", type=int, default=100, help="draws of 8 samples for the spread table")
    parser.add_argument("--steps", type=int, default=150, help="training steps per mode (0: skip the table)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    begin = time.perf_counter()
    train_x, train_y, _, _ = load_digits_canvas(0)
    records = weight_tails(args.samples)
    print(f"Importance weights w = dg/dq, {args.samples} samples, scale {SCALE}")
    print(f"{'group':<6}{'10 P(w>10)':>12}{'100 P(w>100)':>14}{'1e3 P(w>1e3)':>14}   running mean of w at 1e3 .. {args.samples:.0e}")
    for r in records:
        means = " ".join(f"{v:.2f}" for k, v in r.items() if k.startswith("mean_w"))
        print(f"{r['group']:<6}{r['tP(w>10)']:>12.2f}{r['tP(w>100)']:>14.2f}{r['tP(w>1000)']:>14.2f}   {means}")
    spread = output_spread(train_x[:64], args.draws)
    records += spread
    print(f"\nGroup-convolution output std over {args.draws} draws of 8 samples (initialisation, 64 digits)")
    print(f"{'group':<6}{'weights':<17}{'median':>8}{'5%':>8}{'95%':>8}{'max/min':>9}  corr(log std, top weight share)")
    for r in spread:
        print(f"{r['group']:<6}{r['weights']:<17}{r['median']:>8.3f}{r['q05']:>8.3f}{r['q95']:>8.3f}"
              f"{r['max_over_min']:>9.1f}  {r['corr_log_std_top_share']:.2f}")
    if args.steps:
        training = fresh_against_fixed(train_x, train_y, args.steps)
        records += training
        print(f"\nGL+ G-CNN training accuracy over the last third of {args.steps} steps")
        for r in training:
            print(f"  {r['mode']:<24}{r['train_acc_last_third']:.3f}")
    total = time.perf_counter() - begin
    print(f"wall time {total:.0f} s")
    if args.json:
        write_json(args.json, records + [{"kind": "wall", "seconds": total}])


if __name__ == "__main__":
    main()
