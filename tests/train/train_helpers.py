"""Shared by the training tests: the overrides of a tiny run on the bundled acac data."""

# 24 training structures in batches of 6 (4 steps an epoch), a 2.4k-parameter TensorNet.
TINY = [
    "data.train_file=bundled:acac_train",
    "data.isolated_atoms_file=bundled:acac_isolated_atoms",
    "data.max_train=24",
    "data.valid_fraction=0.05",
    "data.batch_size=6",
    "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8}",
    "run.progress=false",
    "run.device=cpu",  # CUDA scatter-adds are non-deterministic: bitwise claims hold on the CPU
]
