"""Tiny configurations of every registered learned model, shared by the suites that cover them all.

``SMALL_CONFIGS`` holds one case per architecture (heads on) and variants keyed ``name[variant]``;
``tests/models/test_physics.py`` checks the physics of every case and
``tests/export/test_every_model.py`` exports every case. Both fail for a registered model that
has no entry here (or an exemption with its reason there).
"""

from __future__ import annotations

import torch

from irreps.models import build_model

SMALL_CONFIGS = {
    "tensornet": dict(
        elements=[1, 6, 8], hidden_dim=8, num_layers=2, num_rbf=6, cutoff=3.0,
        e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4, shift_with_neighbours=True, dipole=True,
        polarizability=True, direct_forces=True,
    ),
    # gates, not grid activations: those are equivariant only up to their aliasing error
    # (tests/models/equiformer measures it), the suite asks for 1e-10
    "equiformer_v2": dict(
        elements=[1, 6, 8], lmax=2, mmax=1, sphere_channels=6, num_layers=2, attn_hidden_channels=6, num_heads=2,
        attn_alpha_channels=4, attn_value_channels=3, ffn_hidden_channels=8, edge_channels=6, num_distance_basis=12,
        cutoff=3.0, use_gate_act=True, equivariance="O(3)", e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4,
        shift_with_neighbours=True, direct_forces=True, dipole=True, polarizability=True,
    ),
    "equiformer_v2[SO(3), lmax 6]": dict(
        elements=[1, 6, 8], lmax=6, mmax=2, sphere_channels=4, num_layers=2, attn_hidden_channels=4, num_heads=2,
        attn_alpha_channels=4, attn_value_channels=2, ffn_hidden_channels=6, edge_channels=6, num_distance_basis=12,
        cutoff=3.0, use_gate_act=True, norm_type="layer_norm_sh", e0s=[-13.6, -1029.0, -2041.0], scale=1.7,
        shift=-0.4, shift_with_neighbours=True,
    ),
    # every eSCN nonlinearity samples a sphere grid: grids this fine make the aliasing error
    # (measured in tests/models/equiformer) fall below the suite's 1e-10
    "escn": dict(
        elements=[1, 6, 8], lmax=2, mmax=1, sphere_channels=6, hidden_channels=5, edge_channels=6, num_layers=2,
        cutoff=3.0, distance_resolution=0.25, grid_resolution=30, sample_resolution=30, equivariance="O(3)",
        e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4, shift_with_neighbours=True, direct_forces=True,
    ),
    "escn[SO(3), lmax 6]": dict(
        elements=[1, 6, 8], lmax=6, mmax=2, sphere_channels=4, hidden_channels=4, edge_channels=4, num_layers=2,
        cutoff=3.0, distance_resolution=0.25, grid_resolution=40, sample_resolution=40,
        e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4, shift_with_neighbours=True,
    ),
    "gaunt_ace": dict(
        elements=[1, 6, 8], channels=4, lmax=2, hidden_lmax=1, correlation=3, num_layers=2, cutoff=3.0, num_bessel=4,
        radial_hidden=[8], readout_hidden=4, avg_degree=3.0, e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4,
        shift_with_neighbours=True,
    ),
    "gaunt_ace[cg, odd paths]": dict(
        elements=[1, 6, 8], channels=3, lmax=2, hidden_lmax=1, correlation=3, num_layers=2, cutoff=3.0, num_bessel=4,
        radial_hidden=[8], readout_hidden=4, avg_degree=3.0, engine="cg", odd_paths=True, e0s=[-13.6, -1029.0, -2041.0], scale=1.7,
        shift=-0.4, shift_with_neighbours=True,
    ),
    # the paper's norm nonlinearity; the gate and the parity-natural irreps as variants
    "tfn": dict(
        elements=[1, 6, 8], channels=4, lmax=2, lmax_filter=2, num_layers=2, cutoff=3.0, num_basis=6, radial_dim=8,
        avg_degree=3.0, e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4, shift_with_neighbours=True,
    ),
    "tfn[gate, natural parity]": dict(
        elements=[1, 6, 8], channels=4, lmax=2, num_layers=3, cutoff=3.0, num_basis=6, radial_dim=8,
        nonlinearity="gate", parity="natural", e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4,
        shift_with_neighbours=True,
    ),
    "se3_transformer": dict(
        elements=[1, 6, 8], channels=4, lmax=2, num_layers=2, cutoff=3.0, num_basis=6, radial_dim=8, num_heads=2,
        key_channels=2, e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4, shift_with_neighbours=True,
    ),
    "se3_transformer[gate, 3 layers]": dict(
        elements=[1, 6, 8], channels=4, lmax=1, num_layers=3, cutoff=3.0, num_basis=6, radial_dim=8, num_heads=2,
        key_channels=4, nonlinearity="gate", e0s=[-13.6, -1029.0, -2041.0], scale=1.7, shift=-0.4,
        shift_with_neighbours=True,
    ),
}


def small_model(name: str, **overrides) -> torch.nn.Module:
    """The float64, eval-mode model of case ``name`` (``SMALL_CONFIGS`` key), weights seeded and perturbed."""
    torch.manual_seed(0)
    model = build_model(name.split("[")[0], {**SMALL_CONFIGS[name], **overrides}).double().eval()
    with torch.no_grad():  # break the default init's symmetries (zero biases, unit norms)
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model
