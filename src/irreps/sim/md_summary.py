"""What an MD log says about the run, for the ensemble it sampled.

NVE conserves the total energy, so its spread measures the integration (time step, model
smoothness). Under a Langevin thermostat the bath adds and removes heat at every step: the
total energy wanders and its spread means nothing. What an NVT run should show instead is the
canonical distribution of the kinetic temperature: a mean at the bath temperature and a
standard deviation of ``T sqrt(2 / N_dof)`` (the kinetic energy of ``N_dof`` quadratic degrees
of freedom is Gamma distributed), e.g. 65 K for acetylacetone (15 atoms, centre of mass held:
42 degrees of freedom) at 300 K.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from irreps.sim.md import MDConfig


def degrees_of_freedom(atoms: Atoms) -> int:
    """``3N`` less what the constraints remove (3 for a held centre of mass): the count
    ASE's kinetic temperature divides by."""
    return 3 * len(atoms) - sum(int(c.get_removed_dof(atoms)) for c in atoms.constraints)


def summarize(log: Sequence[dict[str, float]], atoms: Atoms, config: MDConfig) -> dict[str, float]:
    """The ensemble's figures of merit from the log rows of a run of ``atoms`` (with the
    run's constraints): mean temperature and, in NVE, the spread of the total energy
    (meV/atom); in NVT, the temperature's standard deviation beside the canonical one."""
    temperatures = np.array([row["temperature_K"] for row in log])
    summary = {"mean_temperature_K": float(temperatures.mean())}
    if config.ensemble == "nve":
        etot = np.array([row["etot_eV"] for row in log])
        summary["etot_max_deviation_meV_per_atom"] = float(1000 * np.ptp(etot) / len(atoms))
        return summary
    dof = degrees_of_freedom(atoms)
    summary.update(
        bath_temperature_K=config.temperature_K,
        temperature_std_K=float(temperatures.std()),
        canonical_temperature_std_K=float(config.temperature_K * np.sqrt(2.0 / dof)),
        degrees_of_freedom=dof,
    )
    return summary


def describe(summary: dict[str, float]) -> str:
    """One line for the terminal from :func:`summarize`'s figures."""
    line = f"mean T {summary['mean_temperature_K']:.1f} K"
    if "etot_max_deviation_meV_per_atom" in summary:
        return f"{line}; E_tot spread {summary['etot_max_deviation_meV_per_atom']:.4f} meV/atom"
    return (f"{line} (bath {summary['bath_temperature_K']:g} K); T fluctuation {summary['temperature_std_K']:.1f} K "
            f"(canonical: {summary['canonical_temperature_std_K']:.1f} K for {summary['degrees_of_freedom']} degrees of freedom)")
