"""Tensor-product engines: Clebsch-Gordan (e3nn-compatible)."""

from irreps.ops.tensor_product.cg import CGConvolution, Instruction, TensorProduct, channelwise_instructions

__all__ = ["CGConvolution", "Instruction", "TensorProduct", "channelwise_instructions"]
