"""Every field an :class:`~irreps.data.graph.AtomicGraph` can carry, declared once.

Each :class:`Field` states where the field lives (per atom, per structure, per edge, or per pair
of atoms for Hessians), the shape of one entry, its unit and its dtype. Readers, the collate
function, losses and metrics look fields up here instead of repeating shapes and units.

Sign conventions follow ASE: ``stress`` is ``(1/V) dE/dε`` (eV/Å^3, positive under tension),
``virials`` is ``-V * stress`` (eV). The Hessian of a structure with N atoms is the
(3N x 3N) matrix ``d^2E / dr_a dr_b`` stored flattened row-major with index ``3*atom + xyz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["atom", "graph", "edge", "atom_pair"]
Kind = Literal["float", "int", "bool", "str"]

POSITIONS = "positions"
ATOMIC_NUMBERS = "atomic_numbers"
CELL = "cell"
PBC = "pbc"
EDGE_INDEX = "edge_index"
SHIFTS = "shifts"

ENERGY = "energy"
FORCES = "forces"
STRESS = "stress"
VIRIALS = "virials"
CHARGES = "charges"
TOTAL_CHARGE = "total_charge"
DIPOLE = "dipole"
POLARIZABILITY = "polarizability"
HESSIAN = "hessian"
WEIGHTS = "weights"
CONFIG_TYPE = "config_type"


@dataclass(frozen=True)
class Field:
    """Declaration of one field.

    Attributes
    ----------
    name : str
        The key used in ``AtomicGraph.targets`` / ``AtomicGraph.info`` and in :class:`KeySpec`.
    level : {"atom", "graph", "edge", "atom_pair"}
        What one entry belongs to. ``atom_pair`` fields (the Hessian) hold ``(3N)^2`` numbers per
        structure, concatenated over a batch.
    shape : tuple[int, ...]
        Shape of one entry (``()`` for scalars); ``atom_pair`` fields list ``()`` since one
        structure's block is a flat vector of length ``9 N^2``.
    unit : str
        Physical unit ("" when dimensionless).
    kind : {"float", "int", "bool", "str"}
        ``str`` fields are metadata kept in ``AtomicGraph.info``, never tensors.
    is_target : bool
        Whether the field is a reference value a model can be trained on.
    description : str
    """

    name: str
    level: Level
    shape: tuple[int, ...]
    unit: str
    kind: Kind
    is_target: bool
    description: str

    def entry_size(self) -> int:
        """Number of scalars in one entry (1 for scalars)."""
        size = 1
        for dim in self.shape:
            size *= dim
        return size


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field(POSITIONS, "atom", (3,), "Å", "float", False, "Cartesian positions"),
        Field(ATOMIC_NUMBERS, "atom", (), "", "int", False, "atomic numbers Z >= 1"),
        Field(CELL, "graph", (3, 3), "Å", "float", False, "lattice vectors as rows (zeros if none)"),
        Field(PBC, "graph", (3,), "", "bool", False, "periodicity along each lattice vector"),
        Field(EDGE_INDEX, "edge", (2,), "", "int", False, "(receiver i, neighbour j) of each edge"),
        Field(SHIFTS, "edge", (3,), "Å", "float", False, "Cartesian image offset: r_ij = r_j - r_i + shift"),
        Field(ENERGY, "graph", (), "eV", "float", True, "total energy"),
        Field(FORCES, "atom", (3,), "eV/Å", "float", True, "forces, -dE/dr"),
        Field(STRESS, "graph", (3, 3), "eV/Å^3", "float", True, "stress (1/V) dE/dε, ASE sign"),
        Field(VIRIALS, "graph", (3, 3), "eV", "float", True, "virial -V * stress"),
        Field(CHARGES, "atom", (), "e", "float", True, "partial atomic charges"),
        Field(TOTAL_CHARGE, "graph", (), "e", "float", False, "total charge of the structure"),
        Field(DIPOLE, "graph", (3,), "e·Å", "float", True, "electric dipole moment"),
        Field(POLARIZABILITY, "graph", (3, 3), "e·Å^2/V", "float", True, "polarisability tensor"),
        Field(HESSIAN, "atom_pair", (), "eV/Å^2", "float", True, "d2E/dr_a dr_b, 3N x 3N row-major"),
        Field(WEIGHTS, "graph", (), "", "float", False, "per-structure loss weight"),
        Field(CONFIG_TYPE, "graph", (), "", "str", False, "label used to group metrics"),
    )
}

TARGETS: tuple[str, ...] = tuple(name for name, f in FIELDS.items() if f.is_target)


def get_field(name: str) -> Field:
    """The declaration of ``name``; unknown names raise a ``ValueError`` listing the known ones."""
    try:
        return FIELDS[name]
    except KeyError:
        raise ValueError(f"unknown field '{name}'; known fields: {', '.join(FIELDS)}") from None
