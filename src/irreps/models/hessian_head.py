"""The direct Hessian head of HIP (Burger et al. 2025, "Shoot from the HIP: Hessian Interatomic
Potentials without derivatives"): a molecular Hessian assembled from features, no autograd.

Inputs are per-atom invariants ``s_a`` and rank-2 Cartesian features ``X_a = I_a + A_a + S_a``
(l = 0, 1, 2) in the orthonormal components of :mod:`irreps.ops.cartesian`, with TensorNet's
parity: under inversion ``I`` and ``S`` are unchanged and ``A`` flips sign (``X -> X^T``).
Write ``E = I + S`` (even) and ``O = A`` (odd) after a channel mix into ``K`` head channels.

**Pair layer.** For each ordered pair ``(a, b)`` of the pair list, with ``u`` the unit vector
of ``r_ab = r_b - r_a``, ``Q = u u^T - 1/3`` and ``[u]_x`` its skew matrix, per channel k::

    U1 = E1_a + g1 Q + h1 1      U2 = E2_b + g2 Q + h2 1
    V1 = O1_a + k1 [u]_x         V2 = O2_b + k2 [u]_x
    B_ab = sum_k w_k (U1 U2 + V1 V2)_k

The scalar gates ``g, h, k, w`` are an MLP of ``s_a``, ``s_b`` times a linear map of a
Gaussian basis of ``|r_ab|`` (no bias, so blocks decay to zero at long range). Each product
holds an l = 0 (trace), l = 1 (antisymmetric) and l = 2 (symmetric traceless) part; every
term has an even number of inversion-odd factors, so ``B`` transforms like a Hessian block,
``B -> R B R^T`` for every ``R`` in O(3). The off-diagonal block is ``H_ab = B_ab + B_ba^T``,
so ``H_ba = H_ab^T`` holds by construction and the assembled matrix is exactly symmetric.

**Diagonal blocks.** ``H_aa = c(s_a) 1 + sum_k w'_k S_a,k + sum_b sym(sum_k w''_k (U1 U2 + V1 V2)_k)``:
an l = 0 + l = 2 node term plus symmetrised pair messages, symmetric by construction. With
``sum_rule`` the diagonal is instead ``H_aa = -sym(sum_{b != a} H_ab)``, the symmetrised
acoustic sum rule: translation invariance of the energy requires ``sum_b H_ab = 0``; the
symmetrised form satisfies the symmetric part of that exactly and leaves the antisymmetric
part of ``sum_{b != a} H_ab`` as the residual (training on real Hessians drives it to zero).

**Pairs.** As in HIP, off-diagonal blocks come from a large-range pair graph of its own, not
the backbone's neighbour list: by default all pairs of atoms of each structure (small
molecules). With ``cutoff`` set, pairs at ``|r_ab| >= cutoff`` have exactly zero blocks and
blocks are multiplied by a cosine envelope so the Hessian stays continuous as pairs leave.
Structures are treated as molecules (no periodic images).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from irreps.nn.hessian_blocks import BlockHessian, hessian_pairs
from irreps.nn.mlp import MLP, Activation, activation_module
from irreps.ops.cartesian import A_PART, I_PART, S_PART, channel_matmul, components_to_matrix, vector_to_skew
from irreps.ops.cutoff import cosine_cutoff
from irreps.ops.radial import GaussianBasis
from irreps.ops.scatter import scatter_sum

_NUM_GATES = 8  # g1, h1, g2, h2, k1, k2, w (off-diagonal), w'' (diagonal messages)


@dataclass(frozen=True)
class HessianHeadConfig:
    """Options of :class:`HessianHead` (lengths in Å, Hessians in eV/Å^2).

    Attributes
    ----------
    channels : int
        Head channels ``K`` of the pair products.
    hidden_dim : int
        Width of the pair MLP.
    num_rbf : int
        Gaussians of the pair distance.
    cutoff : float or None
        None: every pair of atoms of a structure gets a block (HIP's choice for molecules).
        A number: blocks are exactly zero at and beyond it (cosine envelope below it).
    radial_range : float
        Span of the Gaussian basis when ``cutoff`` is None; beyond it blocks decay to zero.
    sum_rule : bool
        Diagonal blocks from the symmetrised acoustic sum rule instead of node features.
    scale : float
        Hessian scale (eV/Å^2) multiplying the network's output (e.g. the RMS of the
        training Hessians' entries), so the network works with numbers of order one.
    activation : str
    """

    channels: int = 16
    hidden_dim: int = 64
    num_rbf: int = 16
    cutoff: float | None = None
    radial_range: float = 10.0
    sum_rule: bool = False
    scale: float = 1.0
    activation: Activation = "silu"

    def __post_init__(self) -> None:
        for name in ("channels", "hidden_dim", "num_rbf"):
            if getattr(self, name) < 1:
                raise ValueError(f"hessian head {name} must be >= 1, got {getattr(self, name)}")
        if self.cutoff is not None and not self.cutoff > 0:
            raise ValueError(f"hessian head cutoff must be > 0 Å or null, got {self.cutoff}")
        if not self.radial_range > 0:
            raise ValueError(f"hessian head radial_range must be > 0 Å, got {self.radial_range}")
        if not self.scale > 0:
            raise ValueError(f"hessian head scale must be > 0, got {self.scale}")
        activation_module(self.activation)


class HessianHead(torch.nn.Module):
    """Direct Hessian from per-atom invariants and rank-2 features (see the module docstring).

    Parameters
    ----------
    scalar_dim : int
        Width ``F`` of the per-atom invariant features.
    tensor_channels : int
        Channels ``C`` of the rank-2 features.
    config : HessianHeadConfig
    """

    def __init__(self, scalar_dim: int, tensor_channels: int, config: HessianHeadConfig = HessianHeadConfig()):
        super().__init__()
        self.config = config
        k, h = config.channels, config.hidden_dim
        self.mix_i = torch.nn.Linear(tensor_channels, 2 * k, bias=False)
        self.mix_a = torch.nn.Linear(tensor_channels, 2 * k, bias=False)
        self.mix_s = torch.nn.Linear(tensor_channels, 2 * k, bias=False)
        self.node_trace = torch.nn.Linear(scalar_dim, 1)
        self.node_s = torch.nn.Linear(tensor_channels, 1, bias=False)
        self.node_mlp = MLP((scalar_dim, h), config.activation, activate_last=True)
        self.pair_src = torch.nn.Linear(h, h)
        self.pair_dst = torch.nn.Linear(h, h, bias=False)
        self.act = activation_module(config.activation)
        span = config.cutoff if config.cutoff is not None else config.radial_range
        self.radial = GaussianBasis(config.num_rbf, span)
        self.pair_radial = torch.nn.Linear(config.num_rbf, h, bias=False)
        self.gates = torch.nn.Linear(h, _NUM_GATES * k, bias=False)

    def forward(
        self, scalars: Tensor, tensors: Tensor, positions: Tensor, batch: Tensor, num_graphs: int,
        pairs: Tensor | None = None,
    ) -> BlockHessian:
        """Hessian blocks of every structure of a batch.

        Parameters
        ----------
        scalars : Tensor [N, F]
            Invariant per-atom features.
        tensors : Tensor [N, 9, C]
            Rank-2 features as orthonormal components (I: 0, A: 1..3, S: 4..8).
        positions : Tensor [N, 3]
            Positions (Å); the Hessian depends on them through the pair geometry.
        batch : Tensor [N] (int64)
            Structure of each atom (contiguous).
        num_graphs : int
        pairs : Tensor [2, P], optional
            Unordered pairs ``a < b``; default :func:`hessian_pairs` with ``config.cutoff``.

        Returns
        -------
        BlockHessian
            Blocks in eV/Å^2 (times ``config.scale``); ``.dense()`` gives the data layout.
        """
        cfg = self.config
        if pairs is None:
            pairs = hessian_pairs(positions, batch, num_graphs, cfg.cutoff)
        num_atoms, k = tensors.shape[0], cfg.channels
        even, odd = self._role_matrices(tensors)
        src = torch.cat((pairs[0], pairs[1]))
        dst = torch.cat((pairs[1], pairs[0]))
        vectors = positions[dst] - positions[src]
        length = vectors.square().sum(-1).clamp_min(1e-24).sqrt()
        unit = vectors / length[:, None]
        hidden = self.node_mlp(scalars)
        pair = self.act(self.pair_src(hidden)[src] + self.pair_dst(hidden)[dst])
        gates = self.gates(pair * self.pair_radial(self.radial(length))).unflatten(1, (_NUM_GATES, k))
        if cfg.cutoff is not None:
            gates = gates * cosine_cutoff(length, cfg.cutoff)[:, None, None]
        g = gates[:, :, None, None, :]  # [2P, gates, 1, 1, K] broadcasts against [2P, 3, 3, K]
        eye = torch.eye(3, dtype=positions.dtype, device=positions.device)
        quad = (unit[:, :, None] * unit[:, None, :] - eye / 3.0)[..., None]
        skew = vector_to_skew(unit)[..., None]
        u1 = even[src, ..., :k] + g[:, 0] * quad + g[:, 1] * eye[..., None]
        u2 = even[dst, ..., k:] + g[:, 2] * quad + g[:, 3] * eye[..., None]
        v1 = odd[src, ..., :k] + g[:, 4] * skew
        v2 = odd[dst, ..., k:] + g[:, 5] * skew
        products = channel_matmul(u1, u2) + channel_matmul(v1, v2)  # [2P, 3, 3, K]
        directed = (products * g[:, 6]).sum(-1)
        num_pairs = pairs.shape[1]
        off = cfg.scale * (directed[:num_pairs] + directed[num_pairs:].transpose(1, 2))
        if cfg.sum_rule:
            row_sums = scatter_sum(torch.cat((off, off.transpose(1, 2))), src, num_atoms)
            diagonal = -_symmetric(row_sums)
        else:
            messages = scatter_sum(_symmetric((products * g[:, 7]).sum(-1)), src, num_atoms)
            diagonal = cfg.scale * (self._node_blocks(scalars, tensors) + messages)
        return BlockHessian(diagonal, off, pairs, batch, num_graphs)

    def _role_matrices(self, tensors: Tensor) -> tuple[Tensor, Tensor]:
        """Channel-mixed even (I + S) and odd (A) matrices, ``[N, 3, 3, 2K]`` each (two roles)."""
        n, width = tensors.shape[0], 2 * self.config.channels
        zeros = tensors.new_zeros
        even = torch.cat((self.mix_i(tensors[:, I_PART]), zeros(n, 3, width), self.mix_s(tensors[:, S_PART])), dim=1)
        odd = torch.cat((zeros(n, 1, width), self.mix_a(tensors[:, A_PART]), zeros(n, 5, width)), dim=1)
        return components_to_matrix(even), components_to_matrix(odd)

    def _node_blocks(self, scalars: Tensor, tensors: Tensor) -> Tensor:
        """``c(s_a) 1 + sum_k w_k S_a,k``: the l = 0 + l = 2 node part of ``H_aa``, ``[N, 3, 3]``."""
        comps = torch.cat(
            (
                self.node_trace(scalars)[:, None, :],
                tensors.new_zeros(tensors.shape[0], 3, 1),
                self.node_s(tensors[:, S_PART]),
            ),
            dim=1,
        )
        return components_to_matrix(comps)[..., 0]


def _symmetric(m: Tensor) -> Tensor:
    """``(m + m^T) / 2`` over the last two axes."""
    return 0.5 * (m + m.transpose(-2, -1))
