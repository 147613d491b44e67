"""An affine-invariant image classifier from the Monte-Carlo layers (GL+(2) or SL(2), with translations).

lift -> (norm, gelu, group conv) x (layers - 1) -> norm, gelu -> mean over the group samples, max over
the pixels -> linear. Both norms commute with the group action: ``"batch"`` takes one mean and
variance per channel over batch, samples and pixels (running statistics at test time);
``"layer"`` one per example over channels, samples and pixels (as Mironenco & Forré's code), so a
draw whose Monte-Carlo features come out larger or smaller overall is rescaled on its own. The
pooled features are invariant in expectation under rotations (the sampling distribution is
rotation-invariant) and approximately under scalings and shears; with the samples moved along
with the image (`GroupSamples.left_translate`) the logits are exactly invariant for
grid-preserving maps.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch

from .decomposition import GroupSamples, LieGroupName, MatrixLieGroup
from .layers import AffineGroupConv, AffineLiftingConv

_NORMS = {"batch": torch.nn.BatchNorm3d, "layer": lambda channels: torch.nn.GroupNorm(1, channels)}


class AffineGCNN(torch.nn.Module):
    """Parameters
    ----------
    group : {"GL+", "SL"}
    in_channels, num_classes : int
    channels : sequence of int
        Hidden channels per layer (the first is the lifting layer's).
    kernel_size : int
    num_samples : int
        Group elements drawn per forward pass when none are given.
    scale : float
        Standard deviation of the sampled symmetric part (see `MatrixLieGroup.sample`).
    envelope : float
        Reach of the group-convolution kernels in scale/shear (see `AffineGroupConv`).
    norm : {"batch", "layer"}
        Feature normalisation (see the module docstring).
    """

    def __init__(self, group: LieGroupName = "GL+", in_channels: int = 1, num_classes: int = 10,
                 channels: Sequence[int] = (8, 16), kernel_size: int = 5, num_samples: int = 8, scale: float = 0.4,
                 envelope: float = 0.5, hidden: int = 32, norm: Literal["batch", "layer"] = "batch"):
        super().__init__()
        if not channels:
            raise ValueError("channels must list at least one layer width")
        if norm not in _NORMS:
            raise ValueError(f"unknown norm {norm!r}: expected one of {sorted(_NORMS)}")
        self.group = MatrixLieGroup(group, 2)
        self.num_samples, self.scale = num_samples, scale
        self.lift = AffineLiftingConv(self.group, in_channels, channels[0], kernel_size)
        self.convs = torch.nn.ModuleList(AffineGroupConv(self.group, c_in, c_out, kernel_size, hidden, envelope)
                                         for c_in, c_out in zip(channels[:-1], channels[1:]))
        self.norms = torch.nn.ModuleList(_NORMS[norm](c) for c in channels)
        self.head = torch.nn.Linear(channels[-1], num_classes)

    def draw(self, generator: torch.Generator | None = None) -> GroupSamples:
        return self.group.sample(self.num_samples, self.scale, generator=generator)

    def forward(self, x: torch.Tensor, samples: GroupSamples | None = None) -> torch.Tensor:
        """``x`` ``[batch, in_channels, X, Y]`` -> logits ``[batch, num_classes]``; fresh samples if none given."""
        samples = self.draw() if samples is None else samples
        h = self.lift(x, samples)
        for norm, conv in zip(self.norms, self.convs):
            h = conv(torch.nn.functional.gelu(norm(h)), samples)
        h = torch.nn.functional.gelu(self.norms[-1](h))
        return self.head(h.mean(2).amax((-2, -1)))
