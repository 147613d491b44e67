"""Per-edge invariant inputs of a radial MLP: distance basis plus learned element embeddings of both ends."""

from __future__ import annotations

import torch
from torch import Tensor


class EdgeInputs(torch.nn.Module):
    """``forward(basis [E, B], senders [E], receivers [E]) -> [E, B + 2 width]``.

    ``senders`` / ``receivers`` are element rows; the embeddings start near zero
    (uniform in +-0.001), as in eSCN and EquiformerV2, so training begins from the distance alone.
    """

    def __init__(self, num_elements: int, width: int) -> None:
        super().__init__()
        self.source_embedding = torch.nn.Embedding(num_elements, width)
        self.target_embedding = torch.nn.Embedding(num_elements, width)
        for emb in (self.source_embedding, self.target_embedding):
            torch.nn.init.uniform_(emb.weight, -0.001, 0.001)

    def forward(self, basis: Tensor, senders: Tensor, receivers: Tensor) -> Tensor:
        return torch.cat((basis, self.source_embedding(senders), self.target_embedding(receivers)), 1)
