"""Building blocks shared by models: activations and MLPs, element tables, atomic-energy
readout with E0/scale/shift, forces/stress/Hessians by autograd, the ``EnergyModel`` base and
its compiled energy-and-forces program (``CompiledPotential``)."""

from irreps.nn.compiled_potential import CompiledPotential, NotCompilable
from irreps.nn.derivatives import forces_and_stress, hessian_blocks, strained_inputs
from irreps.nn.elements import ElementIndex, check_elements
from irreps.nn.mlp import MLP, Activation, activation_module
from irreps.nn.potential import EnergyModel
from irreps.nn.readout import AtomicEnergyReadout, neighbour_occupancy, sum_per_structure

__all__ = [
    "MLP",
    "NotCompilable",
    "Activation",
    "AtomicEnergyReadout",
    "CompiledPotential",
    "ElementIndex",
    "EnergyModel",
    "activation_module",
    "check_elements",
    "forces_and_stress",
    "hessian_blocks",
    "strained_inputs",
    "neighbour_occupancy",
    "sum_per_structure",
]
