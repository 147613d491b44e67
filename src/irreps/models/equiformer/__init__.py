"""The eSCN family: models on SO(2)-reduced convolutions of sphere features (:mod:`irreps.ops.sphere`).

``escn`` (:mod:`~irreps.models.equiformer.escn`) and ``equiformer_v2``
(:mod:`~irreps.models.equiformer.equiformer_v2`), which adds graph attention to eSCN's convolutions.
"""

from irreps.models.equiformer.equiformer_v2 import EquiformerV2, EquiformerV2Config
from irreps.models.equiformer.escn import ESCN, ESCNConfig

__all__ = ["ESCN", "ESCNConfig", "EquiformerV2", "EquiformerV2Config"]
