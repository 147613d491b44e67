"""General groups: exact equivariant layers from partition and Brauer diagrams, frame averaging
and deep weight-space layers. Imports nothing else from irreps (torch, numpy, stdlib only).

- `hom_basis`, `spanning_set`, `hom_dimension`: diagram bases of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l})
  for G in S_n, A_n, O(n), SO(n), Sp(n), and their dimensions.
- `EquivariantLinear`: the layer with one coefficient per basis element, applied by the fast
  diagram algorithm (never the dense n^(k+l) weight).
- `FrameAveraging`, `pca_frames`: exact O(d)/SO(d) invariance or equivariance for any backbone.
- `Canonicalized`, `PointCloudCanonicalizer`, `polar_frame`, `orbit_distance`: the same through one
  learned frame per input (learned canonicalisation), for O(d), SO(d) and O(p, q).
- `irreps.groups.clifford`: the Clifford algebra Cl(p, q, r) and CGENN/GLGENN layers.
- `DWSLayer`, `DWSNet`, `dws_dimension`: hidden-neuron permutation-equivariant layers on MLP
  weights; `make_sine_inrs`, `fit_omega_regressor`: the sine-INR frequency task.
- `WeightSpace` (+ `mlp_space`, `cnn_space`, `residual_mlp_space`, `sequential_space`),
  `UNFLayer`, `UNFNet`: universal neural functionals for any weight space.
- `neural_graph`, `module_neural_graph`, `NeuralGraphNet`, `NeuralGraphTransformer`: networks as
  graphs of neurons (biases on nodes, weights on edges) and graph models over them.
- Subpackages: `irreps.groups.fno` (G-FNO for p4 / p4m), `irreps.groups.lie` (GL+(n) / SL(n)
  layers by Monte Carlo over the polar decomposition).
"""

from .basis import HomBasis, hom_basis, spanning_set
from .counting import hom_dimension
from .diagrams import Diagram
from .frame_averaging import FrameAveraging, pca_frames
from .layer import EquivariantLinear
from .symmetrize import Canonicalized, PointCloudCanonicalizer, orbit_distance, polar_frame
from .sine_inr import SineINRDataset, fit_omega_regressor, make_sine_inrs
from .weight_space import DWSLayer, DWSNet, dws_dimension, flatten_params, permute_hidden, unflatten_params
from .neural_graph import NeuralGraph, chain_layers, module_neural_graph, neural_graph
from .neural_graph_net import NeuralGraphNet, NeuralGraphTransformer
from .unf import UNFLayer, UNFNet, unf_dimension
from .weight_space_baselines import DeepSetsRegressor, FlatMLPRegressor
from .weight_space_spec import (WeightSpace, cnn_space, mlp_space, residual_mlp_space, sequential_space,
                                sequential_tensors)

__all__ = [
    "DWSLayer", "DWSNet", "DeepSetsRegressor", "Diagram", "EquivariantLinear", "FlatMLPRegressor", "FrameAveraging",
    "HomBasis", "SineINRDataset", "dws_dimension", "fit_omega_regressor", "flatten_params", "hom_basis",
    "hom_dimension", "make_sine_inrs", "pca_frames", "permute_hidden", "spanning_set", "unflatten_params",
    "UNFLayer", "UNFNet", "WeightSpace", "cnn_space", "mlp_space", "residual_mlp_space", "sequential_space",
    "sequential_tensors", "unf_dimension", "NeuralGraph", "NeuralGraphNet", "NeuralGraphTransformer", "chain_layers",
    "module_neural_graph", "neural_graph",
    "Canonicalized", "PointCloudCanonicalizer", "orbit_distance", "polar_frame",
]
