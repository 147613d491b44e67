"""Multi-head attention with invariant logits."""

import math

import pytest
import torch

from irreps.o3 import Irreps
from irreps.ops.attention import InvariantAttention
from irreps.testing import assert_equivariant

KEY, VALUE = "4x0e+2x0o+2x1o+2x1e+2x2e", "2x0e+4x1o+2x2e"
N, RECEIVERS = 5, torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])  # atom 4 receives nothing


def _inputs(generator, key=KEY, value=VALUE):
    e = len(RECEIVERS)
    return (Irreps(key).randn(N, generator=generator, dtype=torch.float64),
            Irreps(key).randn(e, generator=generator, dtype=torch.float64),
            Irreps(value).randn(e, generator=generator, dtype=torch.float64))


def _reference(query, key, value, receivers, num_heads, weights=None):
    """Loops over receivers and heads; each head owns the same slice of every entry's channels."""
    key_irreps, value_irreps = Irreps(KEY), Irreps(VALUE)

    def head_columns(irreps, h):
        cols = []
        for (mul, ir), sl in zip(irreps, irreps.slices()):
            per = mul // num_heads
            cols += list(range(sl.start + h * per * ir.dim, sl.start + (h + 1) * per * ir.dim))
        return torch.tensor(cols)

    out = torch.zeros(query.shape[0], value.shape[1], dtype=query.dtype)
    for i in range(query.shape[0]):
        edges = torch.nonzero(receivers == i).squeeze(1)
        for h in range(num_heads):
            kc, vc = head_columns(key_irreps, h), head_columns(value_irreps, h)
            a = torch.stack([(query[i, kc] * key[e, kc]).sum() / math.sqrt(len(kc)) for e in edges]) if len(edges) else None
            if a is None:
                continue
            w = torch.ones_like(a) if weights is None else weights[edges]
            alpha = w * torch.exp(a) / (w * torch.exp(a)).sum()
            alpha = alpha * w
            for e, al in zip(edges, alpha):
                out[i, vc] += al * value[e, vc]
    return out


@pytest.mark.parametrize("num_heads", [1, 2])
def test_matches_a_loop_reference(num_heads, generator):
    attention = InvariantAttention(KEY, VALUE, num_heads).double()
    query, key, value = _inputs(generator)
    weights = torch.rand(len(RECEIVERS), generator=generator, dtype=torch.float64)
    torch.testing.assert_close(attention(query, key, value, RECEIVERS), _reference(query, key, value, RECEIVERS, num_heads))
    torch.testing.assert_close(attention(query, key, value, RECEIVERS, weights),
                               _reference(query, key, value, RECEIVERS, num_heads, weights))


def test_weights_sum_to_one_and_drop_weightless_edges(generator):
    attention = InvariantAttention(KEY, VALUE, 2).double()
    query, key, value = _inputs(generator)
    alpha = attention.attention_weights(query, key, RECEIVERS)
    sums = torch.zeros(N, 2, dtype=torch.float64).index_add(0, RECEIVERS, alpha)
    torch.testing.assert_close(sums[:4], torch.ones(4, 2, dtype=torch.float64))
    weights = torch.ones(len(RECEIVERS), dtype=torch.float64)
    weights[[1, 6]] = 0.0
    keep = torch.tensor([e for e in range(len(RECEIVERS)) if e not in (1, 6)])
    torch.testing.assert_close(attention(query, key, value, RECEIVERS, weights),
                               attention(query, key[keep], value[keep], RECEIVERS[keep]))


@pytest.mark.parametrize("num_heads", [1, 2])
def test_equivariant(num_heads, generator):
    attention = InvariantAttention(KEY, VALUE, num_heads).double()
    weights = torch.rand(len(RECEIVERS), generator=generator, dtype=torch.float64)
    assert_equivariant(lambda q, k, v: attention(q, k, v, RECEIVERS, weights), [KEY, KEY, VALUE], VALUE,
                       inputs=_inputs(generator), generator=generator)


def test_permuting_atoms_and_edges_permutes_the_output(generator):
    attention = InvariantAttention(KEY, VALUE, 2).double()
    query, key, value = _inputs(generator)
    atoms = torch.randperm(N, generator=generator)
    edges = torch.randperm(len(RECEIVERS), generator=generator)
    new_index = torch.empty_like(atoms)
    new_index[atoms] = torch.arange(N)  # atom atoms[k] becomes atom k
    out = attention(query, key, value, RECEIVERS)
    moved = attention(query[atoms], key[edges], value[edges], new_index[RECEIVERS[edges]])
    torch.testing.assert_close(moved, out[atoms], atol=1e-12, rtol=0)


def test_errors(generator):
    with pytest.raises(ValueError, match="divisible by num_heads=3"):
        InvariantAttention(KEY, VALUE, 3)
    with pytest.raises(ValueError, match="num_heads must be >= 1"):
        InvariantAttention(KEY, VALUE, 0)
    attention = InvariantAttention(KEY, VALUE, 2).double()
    query, key, value = _inputs(generator)
    with pytest.raises(ValueError, match="query and key"):
        attention(query[:, 1:], key, value, RECEIVERS)
    with pytest.raises(ValueError, match="value needs"):
        attention(query, key, value[:, 1:], RECEIVERS)
    with pytest.raises(ValueError, match="one row per edge"):
        attention(query, key[1:], value[1:], RECEIVERS)
