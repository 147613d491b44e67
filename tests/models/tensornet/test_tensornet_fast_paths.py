"""TensorNet's fast paths: fused per-channel products (values and derivatives to second order) and
the species-grouped embedding sums, each against the straightforward computation."""

import contextlib

import ase
import numpy as np
import pytest
import torch

from irreps.capture import capturing
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


def _dense_interaction(layer, x, edge_index, rbf, fcut, rbf_self):
    """TensorNet's interaction as written in the paper: 3x3 matrices per channel, every edge
    evaluated on its own, plain division; ``x`` [N, 9, C] components, edges unpaired."""
    from irreps.ops.cartesian import decompose, rank2_basis

    basis = rank2_basis(torch.float64)
    to_matrix = lambda c: torch.einsum("nkc,kab->ncab", c, basis)  # noqa: E731
    mix = lambda linear, m: torch.einsum("dc,ncab->ndab", linear.weight, m)  # noqa: E731
    norm = lambda m: m.square().sum((-2, -1), keepdim=True) + 1.0  # noqa: E731
    i, j = edge_index
    big_x = to_matrix(x)
    big_x = big_x / norm(big_x)
    y = [mix(lin, part) for lin, part in zip(layer.linears_tensor[:3], decompose(big_x))]
    c = layer.hidden_dim
    w = (layer.linears_scalar(rbf) * fcut[:, None]).view(-1, 3, c)
    w_self = layer.linears_scalar(rbf_self).view(3, c)
    m = sum(torch.zeros_like(big_x).index_add_(0, i, w[:, p, :, None, None] * y[p][j]) for p in range(3))
    m = m + sum(w_self[p, :, None, None] * y[p] for p in range(3))
    y = sum(y)
    z = m @ y + y @ m
    z = z / norm(z)
    dx = sum(mix(lin, part) for lin, part in zip(layer.linears_tensor[3:], decompose(z)))
    out = big_x + dx + dx @ dx
    return torch.einsum("ncab,kab->nkc", out, basis)


@pytest.mark.parametrize("composed", [False, True], ids=["eager", "composed"])
@pytest.mark.parametrize("paired", [True, False])
def test_interaction_equals_the_dense_matrix_form(paired, composed):
    """Guard for every rewrite of the layer's form (components, reciprocal normalisation, fused
    products, chunked message passing, pairing; plain ops while captured): values and gradients
    to 1e-12 in float64."""
    rng = np.random.default_rng(3)
    atoms = ase.Atoms(numbers=rng.choice([1, 6, 8], size=9), positions=rng.uniform(0, 3.5, size=(9, 3)))
    model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 6, "num_rbf": 5}).double()
    layer = model.layers[0]
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(4), dtype=p.dtype))
    graph = atoms_to_graph(atoms, 5.0, keys=None, dtype=torch.float64)
    x = torch.randn(9, 9, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64, requires_grad=True)
    positions = graph.positions.clone().requires_grad_(True)
    i, j = graph.edge_index
    length = (positions[j] - positions[i]).norm(dim=1)
    rbf, fcut, rbf_self = model.radial(length), cosine_cutoff(length, 5.0), model.radial(length.new_zeros(1))
    pairing = pair_reverse_edges(graph.edge_index, graph.shifts) if paired else None
    half = (lambda t: t) if pairing is None else (lambda t: t[pairing.canonical])  # noqa: E731
    with capturing() if composed else contextlib.nullcontext():
        got = layer(x, graph.edge_index, half(rbf), half(fcut), pairing, rbf_self)
    want = _dense_interaction(layer, x, graph.edge_index, rbf, fcut, rbf_self)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    cotangent = torch.randn(got.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    params = [x, positions, *layer.parameters()]
    grads = torch.autograd.grad(got, params, cotangent, retain_graph=True)
    for a, b in zip(grads, torch.autograd.grad(want, params, cotangent)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_recorded_energy_and_forces_use_no_batched_matmul():
    """The compiled path's recording: channel mixing as 2D products and basis conversions as
    elementwise ops (a batched matmul there expanded the weights per atom: 20% of the compiled
    3BPA x32 call); forces equal the eager model's."""
    from irreps.nn.compiled_potential import CompiledPotential

    rng = np.random.default_rng(7)
    atoms = ase.Atoms(numbers=rng.choice([1, 6, 8], size=8), positions=rng.uniform(0, 3.0, size=(8, 3)))
    model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 8, "num_rbf": 4}).double().eval()
    graph = atoms_to_graph(atoms, 5.0, keys=None, dtype=torch.float64)
    compiled = CompiledPotential(model, backend="eager")  # the recording, run as recorded
    forces = compiled(graph)["forces"]
    torch.testing.assert_close(forces, model(graph)["forces"], rtol=1e-10, atol=1e-10)
    (program,) = compiled._programs.values()
    ops = {node.target for node in program.graph.nodes if node.op == "call_function"}
    assert torch.ops.aten.bmm.default not in ops
    assert torch.ops.aten.mm.default in ops or torch.ops.aten.addmm.default in ops
