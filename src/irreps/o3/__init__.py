"""Representation theory of O(3), e3nn-compatible: irreps, spherical harmonics, Wigner-D,
Clebsch-Gordan / Gaunt coefficients, rotations. Conventions: docs/conventions.md."""

from irreps.o3.clebsch_gordan import gaunt, su2_clebsch_gordan, wigner_3j
from irreps.o3.irreps import LMAX_LIMIT, Irrep, Irreps, MulIrrep, SortResult
from irreps.o3.quadrature import s2_quadrature
from irreps.o3.rotations import (
    angles_to_matrix,
    angles_to_quaternion,
    axis_angle_to_matrix,
    matrix_from_6d,
    matrix_to_6d,
    matrix_to_angles,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_x,
    matrix_y,
    matrix_z,
    quaternion_to_angles,
    quaternion_to_matrix,
    random_angles,
    random_quaternion,
    random_rotation,
    rotation_to_polar_axis,
    xyz_to_angles,
)
from irreps.o3.spherical_harmonics import spherical_harmonics
from irreps.o3.wigner import polar_rotation_D, wigner_D, wigner_D_from_matrix, wigner_D_from_quaternion, wigner_D_stack

__all__ = [
    "LMAX_LIMIT",
    "Irrep",
    "Irreps",
    "MulIrrep",
    "SortResult",
    "angles_to_matrix",
    "angles_to_quaternion",
    "axis_angle_to_matrix",
    "gaunt",
    "matrix_from_6d",
    "matrix_to_6d",
    "matrix_to_angles",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "polar_rotation_D",
    "quaternion_to_angles",
    "quaternion_to_matrix",
    "random_angles",
    "random_quaternion",
    "random_rotation",
    "rotation_to_polar_axis",
    "s2_quadrature",
    "spherical_harmonics",
    "su2_clebsch_gordan",
    "wigner_3j",
    "wigner_D",
    "wigner_D_from_matrix",
    "wigner_D_from_quaternion",
    "wigner_D_stack",
    "xyz_to_angles",
]
