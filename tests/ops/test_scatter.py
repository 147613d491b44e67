"""scatter_sum: per-row sums, and a program that sums into one row compiles on several threads."""

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from irreps.nn.recording import compile_program
from irreps.ops.scatter import scatter_sum


@pytest.mark.parametrize("dim_size", [1, 3])
def test_rows_sharing_an_index_are_summed(dim_size):
    src = torch.randn(7, 2, dtype=torch.float64)
    index = torch.randint(0, dim_size, (7,))
    want = torch.stack([src[index == k].sum(0) for k in range(dim_size)])
    torch.testing.assert_close(scatter_sum(src, index, dim_size), want, rtol=0, atol=1e-14)


def test_summing_into_one_row_compiles_with_several_threads():
    """One structure's energy is a sum into one row. Inductor (torch 2.13) cannot generate the
    multi-threaded CPU code of an index_add into a single row: the compiled potential of every
    model fell back to eager on machines with more than one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        def energy(x, batch):  # nested inputs, as in every recording here
            return [scatter_sum((x * x).sum(1), batch[0], 1)]

        args = (torch.randn(40, 3, dtype=torch.float64), [torch.zeros(40, dtype=torch.long)])
        program = make_fx(energy, tracing_mode="symbolic")(*args)
        compiled = compile_program(program, "inductor", args)
        for got, want in zip(compiled(*args), energy(*args)):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    finally:
        torch.set_num_threads(threads)
