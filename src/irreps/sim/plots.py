"""Pictures of simulation results (PNG, matplotlib without a display, written atomically).

Figures are built with :class:`matplotlib.figure.Figure` directly, so no global pyplot state or
backend switch is involved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from irreps.io import atomic_path


def _save(figure: Figure, path: str | os.PathLike) -> Path:
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    return Path(path)


def plot_md(rows: Sequence[dict[str, float]], path: str | os.PathLike) -> Path:
    """Potential and total energy (top) and temperature (bottom) against time, from MD log rows."""
    if not rows:
        raise ValueError("no MD log rows to plot")
    time_ps = np.array([r["time_fs"] for r in rows]) / 1000.0
    figure = Figure(figsize=(7, 5))
    energy_axis, temperature_axis = figure.subplots(2, 1, sharex=True)
    reference = rows[0]["etot_eV"]
    energy_axis.plot(time_ps, [r["epot_eV"] - reference for r in rows], label="E_pot", lw=0.8)
    energy_axis.plot(time_ps, [r["etot_eV"] - reference for r in rows], label="E_tot", lw=1.2)
    energy_axis.set_ylabel("E - E_tot(0)  (eV)")
    energy_axis.legend(loc="best")
    temperature_axis.plot(time_ps, [r["temperature_K"] for r in rows], color="tab:red", lw=0.8)
    temperature_axis.set_ylabel("T (K)")
    temperature_axis.set_xlabel("time (ps)")
    return _save(figure, path)


def plot_neb(path_length: np.ndarray, energies: np.ndarray, path: str | os.PathLike, highest: int | None = None) -> Path:
    """NEB energy profile relative to the first end point against distance along the band."""
    relative = np.asarray(energies) - energies[0]
    figure = Figure(figsize=(6, 4))
    axis = figure.subplots()
    axis.plot(path_length, relative, "o-")
    if highest is not None:
        axis.plot(path_length[highest], relative[highest], "r*", ms=14, label=f"highest image ({relative[highest]:.3f} eV)")
        axis.legend(loc="best")
    axis.set_xlabel("distance along the band (Å)")
    axis.set_ylabel("E - E_start (eV)")
    return _save(figure, path)


def plot_spectrum(frequencies_cm1: np.ndarray, path: str | os.PathLike) -> Path:
    """Stick spectrum of harmonic frequencies; imaginary modes drawn in red at negative wavenumber."""
    frequencies = np.asarray(frequencies_cm1)
    figure = Figure(figsize=(7, 3))
    axis = figure.subplots()
    real, imaginary = frequencies[frequencies >= 0], frequencies[frequencies < 0]
    axis.vlines(real, 0, 1, color="tab:blue", label="real")
    if len(imaginary):
        axis.vlines(imaginary, 0, 1, color="tab:red", label="imaginary (shown negative)")
        axis.legend(loc="best")
    axis.set_yticks([])
    axis.set_xlabel("wavenumber (cm$^{-1}$)")
    return _save(figure, path)
