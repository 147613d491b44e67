"""The speed benchmarks' measuring helpers: FLOP counting of matrix products and the per-op profile."""

from __future__ import annotations

import torch

from benchmarks.bench_tp import matmul_flops
from benchmarks.profile_table import op_table


def test_matmul_flops_counts_two_m_n_k_per_product_and_ignores_elementwise_work():
    a, b = torch.randn(7, 5), torch.randn(5, 3)
    batched = torch.randn(4, 7, 5), torch.randn(4, 5, 2)
    assert matmul_flops(lambda: (a @ b).exp() + 1.0) == 2 * 7 * 5 * 3
    assert matmul_flops(lambda: torch.einsum("bij,bjk->bik", *batched)) == 4 * 2 * 7 * 5 * 2
    x = torch.randn(6, 5, requires_grad=True)
    # forward x @ b (2*6*5*3) and the backward's grad @ b^T (2*6*3*5); b needs no gradient
    assert matmul_flops(lambda: (x @ b).sum().backward()) == 2 * (2 * 6 * 5 * 3)


def test_op_table_lists_the_profiled_operators_and_the_rounds():
    a = torch.randn(64, 64)
    table = op_table(lambda: torch.mm(a, a).relu(), rounds=3, row_limit=5, warmup=1)
    assert "aten::mm" in table and "Self CPU" in table
    assert table.rstrip().endswith("(times and calls summed over 3 profiled calls)")
