"""Tensor Field Networks and the SE(3)-Transformer: point convolutions on the Clebsch-Gordan engine.

``tfn`` (:mod:`~irreps.models.tfn.tfn`) and ``se3_transformer``
(:mod:`~irreps.models.tfn.se3_transformer`), which replaces TFN's sum over neighbours by
attention with invariant logits; both built on the shared ``config``, ``blocks`` and ``backbone``.
"""

from irreps.models.tfn.se3_transformer import SE3Transformer, SE3TransformerConfig
from irreps.models.tfn.tfn import TFN, TFNConfig

__all__ = ["TFN", "SE3Transformer", "SE3TransformerConfig", "TFNConfig"]
