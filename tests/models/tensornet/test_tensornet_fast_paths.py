"""TensorNet's fast paths: fused per-channel products (values and derivatives to second order) and
the species-grouped embedding sums, each against the straightforward computation."""

import ase
import numpy as np
import pytest
import torch

from irreps.data import atoms_to_graph
from irreps.models import build_model
from irreps.nn.edges import pair_reverse_edges
from irreps.ops.cartesian import matrix_square, o3_product
from irreps.ops.cutoff import cosine_cutoff


def _batched(t):
    return t.movedim(-1, 1)  # [N, 3, 3, C] -> [N, C, 3, 3] for torch's matmul


def test_anticommutator_and_square_equal_dense_matmuls(generator):
    y, m = torch.randn(2, 4, 3, 3, 5, generator=generator, dtype=torch.float64)
    want = _batched(m) @ _batched(y) + _batched(y) @ _batched(m)
    torch.testing.assert_close(_batched(o3_product(y, m)), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_batched(matrix_square(y)), _batched(y) @ _batched(y), rtol=1e-12, atol=1e-12)


def test_fused_products_have_exact_first_and_second_derivatives(generator):
    y, m = torch.randn(2, 2, 3, 3, 3, generator=generator, dtype=torch.float64)
    y.requires_grad_(True)
    m.requires_grad_(True)
    assert torch.autograd.gradcheck(o3_product, (y, m))
    assert torch.autograd.gradgradcheck(o3_product, (y, m))
    assert torch.autograd.gradcheck(matrix_square, (y,))
    assert torch.autograd.gradgradcheck(matrix_square, (y,))


def test_gradient_of_one_argument_only(generator):
    y = torch.randn(3, 3, 3, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    m = torch.randn(3, 3, 3, 2, generator=generator, dtype=torch.float64)
    cotangent = torch.randn(3, 3, 3, 2, generator=generator, dtype=torch.float64)
    (got,) = torch.autograd.grad(o3_product(y, m), y, cotangent)
    reference = y.detach().clone().requires_grad_(True)
    dense = _batched(m) @ _batched(reference) + _batched(reference) @ _batched(m)
    (want,) = torch.autograd.grad(dense, reference, _batched(cotangent))
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("paired", [True, False])
def test_grouped_embedding_sums_equal_per_edge_sums(paired):
    rng = np.random.default_rng(0)
    atoms = ase.Atoms(numbers=rng.choice([1, 6, 8], size=12), positions=rng.uniform(0, 4, size=(12, 3)))
    model = build_model("tensornet", {"elements": [1, 6, 7, 8], "hidden_dim": 8, "num_rbf": 5}).double()
    with torch.no_grad():  # non-zero biases, so the constant moment matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1), dtype=p.dtype))
    graph = atoms_to_graph(atoms, 5.0, keys=None, dtype=torch.float64)
    species = model.element_index(graph.atomic_numbers)
    positions = graph.positions.clone().requires_grad_(True)
    i, j = graph.edge_index
    vectors = positions[j] - positions[i]
    length = vectors.norm(dim=1)
    pairing = pair_reverse_edges(graph.edge_index, graph.shifts) if paired else None
    half = length if pairing is None else length[pairing.canonical]
    args = (model.embedding.pair_table(), graph.edge_index, vectors / length[:, None], model.radial(half),
            cosine_cutoff(length, 5.0), pairing, graph.num_atoms)
    present, local = torch.unique(species, return_inverse=True)
    assert len(present) * graph.num_atoms <= graph.num_edges  # the forward would pick the grouped sums here
    grouped = model.embedding._grouped_sums(local, present, *args)
    per_edge = model.embedding._edge_sums(species, *args)
    cotangents = [torch.randn(p.shape, generator=torch.Generator().manual_seed(2), dtype=p.dtype) for p in per_edge]
    for got, want in zip(grouped, per_edge):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    grad = lambda parts: torch.autograd.grad(parts, positions, cotangents, retain_graph=True)[0]  # noqa: E731
    torch.testing.assert_close(grad(grouped), grad(per_edge), rtol=1e-12, atol=1e-12)
