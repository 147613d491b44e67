"""The eSCN family: models on SO(2)-reduced convolutions of sphere features (:mod:`irreps.ops.sphere`).

``equiformer_v2`` (:mod:`~irreps.models.equiformer.equiformer_v2`).
"""

from irreps.models.equiformer.equiformer_v2 import EquiformerV2, EquiformerV2Config

__all__ = ["EquiformerV2", "EquiformerV2Config"]
