"""Tensor-product engines: Clebsch-Gordan (e3nn-compatible) and SO(2) (eSCN)."""

from irreps.ops.tensor_product.cg import CGConvolution, Instruction, TensorProduct, channelwise_instructions
from irreps.ops.tensor_product.so2 import SO2Convolution, wigner_D_stack

__all__ = ["CGConvolution", "Instruction", "SO2Convolution", "TensorProduct", "channelwise_instructions", "wigner_D_stack"]
