"""Weights from TorchMD-Net 3.x's ``TensorNet`` into ours (same layout, so same answers).

Used by the tests and by ``benchmarks/bench_inference.py --check`` to show the two implementations
agree for the same weights.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.models.tensornet.model import TensorNet


def load_torchmd_net_state_dict(model: TensorNet, state: dict[str, Tensor]) -> None:
    """Copy the weights of a TorchMD-Net 3.x ``TensorNet`` with a ``Scalar`` head into ``model``.

    ``state`` is the TorchMD-Net model's state dict; ``model`` must have the same
    ``hidden_dim``, ``num_layers``, ``num_rbf`` and cutoff. Element rows are taken from
    TorchMD-Net's atomic-number table. Forces then agree with TorchMD-Net's; energies differ
    by the per-element isolated-atom value this implementation subtracts (plus E0/shift).
    Raises ``ValueError`` when a parameter has no counterpart.
    """
    rep = {k.removeprefix("representation_model."): v for k, v in state.items() if k.startswith("representation_model.")}
    emb = "tensor_embedding."
    ours = {
        "embedding.distance_proj.weight": torch.cat([rep[f"{emb}distance_proj{p}.weight"] for p in (1, 2, 3)]),
        "embedding.distance_proj.bias": torch.cat([rep[f"{emb}distance_proj{p}.bias"] for p in (1, 2, 3)]),
        "embedding.emb.weight": rep[f"{emb}emb.weight"][list(model.elements)],
        "energy_mlp.0.weight": state["output_model.output_network.layers.0.weight"],
        "energy_mlp.0.bias": state["output_model.output_network.layers.0.bias"],
        "energy_mlp.2.weight": state["output_model.output_network.layers.2.weight"],
        "energy_mlp.2.bias": state["output_model.output_network.layers.2.bias"],
    }
    for key, value in rep.items():
        if key.startswith(emb) and "linears_scalar" in key:  # Sequential with activations between
            layer, rest = key.removeprefix(f"{emb}linears_scalar.").split(".", 1)
            ours[f"embedding.linears_scalar.{2 * int(layer)}.{rest}"] = value
        elif key.startswith(emb) and ("emb2" in key or "linears_tensor" in key or "init_norm" in key):
            ours["embedding." + key.removeprefix(emb)] = value
        elif key.startswith("layers.") and ".linears_scalar." in key:
            head, rest = key.split(".linears_scalar.")
            layer, param = rest.split(".", 1)
            ours[f"{head}.linears_scalar.{2 * int(layer)}.{param}"] = value
        elif key.startswith(("layers.", "linear.", "out_norm.")):
            ours[key] = value
    parameters = dict(model.named_parameters())
    missing = sorted(set(parameters) - set(ours))
    if missing:
        raise ValueError(f"no TorchMD-Net weights for {missing} (heads other than energy cannot be ported)")
    with torch.no_grad():
        for name, value in ours.items():
            if parameters[name].shape != value.shape:
                raise ValueError(f"{name}: TorchMD-Net shape {tuple(value.shape)} != {tuple(parameters[name].shape)}")
            parameters[name].copy_(value)
