"""TensorNet (Simeon & De Fabritiis, NeurIPS 2023): O(3)-equivariant Cartesian tensor messages.

``model`` holds the frozen config and the registered module, ``layers`` the embedding and
interaction blocks, ``torchmd_net`` the import of TorchMD-Net's weights.
"""

from irreps.models.tensornet.model import TensorNet, TensorNetConfig
from irreps.models.tensornet.torchmd_net import load_torchmd_net_state_dict

__all__ = ["TensorNet", "TensorNetConfig", "load_torchmd_net_state_dict"]
