"""G-FNO (p4, p4m) against FNO on 2D Navier-Stokes vorticity, on test data as generated and rotated.

    python benchmarks/bench_gfno.py [--json out.json] [--train 200] [--test 100] [--epochs 40]

Data (generated here, nothing downloaded). Vorticity form on the periodic unit square,
``d_t w + u . grad w = nu lap w + f``, ``u = (d_y psi, -d_x psi)``, ``-lap psi = w``, nu = 1e-3, solved
pseudo-spectrally on 32 x 32 (2/3 de-aliasing, Crank-Nicolson viscosity, Heun for the advection,
dt = 5e-3). The forcing ``f = 0.1 (sin 2 pi x sin 4 pi y - sin 4 pi x sin 2 pi y)`` (cell-centred
coordinates) is invariant under 90° rotations of the grid and odd under its reflections, so the
equation is p4m-symmetric with vorticity a pseudoscalar. The initial vorticity is an anisotropic
Gaussian random field (structures elongated along x), so the *data* are not rotation-symmetric:
a model trained on them sees rotated flows only if it is built to. The task maps w(t=0) to w(t=1).

Models: FNO (the same layers with the trivial group), G-FNO-p4 and G-FNO-p4m (pseudoscalar in and
out), 4 Fourier blocks, 8 modes; widths chosen a priori so the parameter counts are comparable. All
train with the same Adam schedule on relative L2 loss; the test relative L2 error is reported on the
test set, on the test set rotated by 90° and on it reflected across the diagonal (both transforms
map the anisotropic fields out of the training distribution). No hyper-parameter was chosen on
the test set. One thread, float32. The solver's own symmetry error (a rotated initial condition
against the rotated trajectory) is printed as a check on the data.

JSON records: ``{"kind": "data", ...}`` and per model ``{"kind": "model", "model", "params",
"train_s", "test_rel_l2", "rot90_rel_l2", "diag_reflect_rel_l2"}``.
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
from irreps.groups.fno import GFNO, PlanarGroup  # noqa: E402

N, NU, T_FINAL, DT = 32, 1e-3, 1.0, 5e-3
MODELS = {"FNO": ("trivial", 20), "G-FNO-p4": ("p4", 10), "G-FNO-p4m": ("p4m", 7)}
ROT90, DIAG = 1, 5  # PlanarGroup("p4m") elements: R and F R (a reflection across a diagonal)


def wavenumbers(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64)
    return torch.meshgrid(k, k, indexing="ij")


def forcing(n: int) -> torch.Tensor:
    x = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    gx, gy = torch.meshgrid(x, x, indexing="ij")
    s = torch.sin
    return 0.1 * (s(2 * math.pi * gx) * s(4 * math.pi * gy) - s(4 * math.pi * gx) * s(2 * math.pi * gy))


def initial_vorticity(num: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """Anisotropic Gaussian random field: amplitude ``exp(-(kx^2 + (ky/3)^2) / 2)``, RMS 2."""
    kx, ky = wavenumbers(n)
    amplitude = torch.exp(-0.5 * (kx**2 + (ky / 3.0) ** 2))
    amplitude[0, 0] = 0.0
    noise = torch.randn(num, n, n, dtype=torch.float64, generator=generator)
    w = torch.fft.ifft2(amplitude * torch.fft.fft2(noise)).real
    return 2 * w / w.pow(2).mean((-2, -1), keepdim=True).sqrt()


def solve(w0: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Vorticity at T_FINAL from ``w0`` ``[batch, n, n]`` (float64 pseudo-spectral, see the docstring)."""
    n = w0.shape[-1]
    kx, ky = wavenumbers(n)
    lap = 4 * math.pi**2 * (kx**2 + ky**2)
    inv_lap = torch.where(lap > 0, 1.0 / lap.clamp_min(1e-30), torch.zeros_like(lap))
    dealias = ((kx.abs() <= n / 3) & (ky.abs() <= n / 3)).double()
    f_hat = torch.fft.fft2(f)

    def advection(w_hat):
        psi = w_hat * inv_lap
        u = torch.fft.ifft2(2j * math.pi * ky * psi).real
        v = torch.fft.ifft2(-2j * math.pi * kx * psi).real
        wx = torch.fft.ifft2(2j * math.pi * kx * w_hat).real
        wy = torch.fft.ifft2(2j * math.pi * ky * w_hat).real
        return dealias * torch.fft.fft2(u * wx + v * wy)

    w_hat = torch.fft.fft2(w0)
    implicit, explicit = 1 + 0.5 * DT * NU * lap, 1 - 0.5 * DT * NU * lap
    for _ in range(round(T_FINAL / DT)):
        first = advection(w_hat)
        guess = (explicit * w_hat + DT * (f_hat - first)) / implicit
        w_hat = (explicit * w_hat + DT * (f_hat - 0.5 * (first + advection(guess)))) / implicit
    return torch.fft.ifft2(w_hat).real


def make_data(num_train: int, num_test: int, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    f = forcing(N)
    w0 = initial_vorticity(num_train + num_test, N, gen)
    start = time.perf_counter()
    w1 = solve(w0, f)
    seconds = time.perf_counter() - start
    group = PlanarGroup("p4m")
    sample = w0[:4]
    symmetry = max((solve(group.act(sample, g, "pseudoscalar"), f) - group.act(solve(sample, f), g, "pseudoscalar"))
                   .abs().max().item() for g in (ROT90, DIAG))
    a, u = w0[:, None].float(), w1[:, None].float()
    return {"train": (a[:num_train], u[:num_train]), "test": (a[num_train:], u[num_train:]),
            "solve_s": seconds, "solver_symmetry_error": symmetry}


def relative_l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target).flatten(1).norm(dim=1) / target.flatten(1).norm(dim=1)).mean()


@torch.no_grad()
def evaluate(model: torch.nn.Module, a: torch.Tensor, u: torch.Tensor) -> dict:
    group = PlanarGroup("p4m")
    out = {"test_rel_l2": relative_l2(model(a), u).item()}
    for name, g in (("rot90_rel_l2", ROT90), ("diag_reflect_rel_l2", DIAG)):
        moved_a, moved_u = group.act(a, g, "pseudoscalar"), group.act(u, g, "pseudoscalar")
        out[name] = relative_l2(model(moved_a), moved_u).item()
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the records to this path")
    parser.add_argument("--train", type=int, default=200, help="training samples")
    parser.add_argument("--test", type=int, default=100, help="test samples")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    begin = time.perf_counter()
    data = make_data(args.train, args.test, args.seed)
    records = [{"kind": "data", "grid": N, "nu": NU, "t_final": T_FINAL, "dt": DT, "train": args.train,
                "test": args.test, "solve_s": data["solve_s"], "solver_symmetry_error": data["solver_symmetry_error"]}]
    print(f"Navier-Stokes data: {args.train} train / {args.test} test on {N}x{N}, nu={NU}, w(0) -> w({T_FINAL}); "
          f"solver {data['solve_s']:.1f} s, solver symmetry error {data['solver_symmetry_error']:.1e}")
    for name, (group, width) in MODELS.items():
        torch.manual_seed(args.seed)
        field = "scalar" if group == "trivial" else "pseudoscalar"
        model = GFNO(group, 1, 1, width=width, modes=8, num_layers=4, projection_width=2 * width,
                     in_fields=field, out_fields=field)
        seconds = train_one_cycle(model, *data["train"], relative_l2, args.epochs, args.batch, args.seed)
        record = {"kind": "model", "model": name, "params": sum(p.numel() for p in model.parameters()),
                  "train_s": seconds, **evaluate(model.eval(), *data["test"])}
        records.append(record)
    print(f"\nTest relative L2 error ({args.epochs} epochs, float32, 1 thread)")
    print(f"{'model':<11}{'params':>9}{'train_s':>9}{'test':>9}{'rot90':>9}{'diag-refl':>11}")
    for r in records[1:]:
        print(f"{r['model']:<11}{r['params']:>9}{r['train_s']:>9.1f}{r['test_rel_l2']:>9.4f}"
              f"{r['rot90_rel_l2']:>9.4f}{r['diag_reflect_rel_l2']:>11.4f}")
    total = time.perf_counter() - begin
    print(f"wall time {total:.0f} s")
    records.append({"kind": "wall", "seconds": total})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)


if __name__ == "__main__":
    main()
