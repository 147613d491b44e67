"""A list of graphs and a batch iterator over it (no torch_geometric needed).

``GraphDataset`` also works with ``torch.utils.data.DataLoader(dataset, collate_fn=collate)``;
``GraphLoader`` is the small, dependency-free equivalent with an explicit ``torch.Generator`` so
a trainer can save and restore the shuffling state for exact resumption.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from irreps.data.batch import collate
from irreps.data.graph import AtomicGraph


class GraphDataset(Sequence[AtomicGraph]):
    """An indexable collection of single-structure graphs.

    Parameters
    ----------
    graphs : sequence of AtomicGraph
    """

    def __init__(self, graphs: Sequence[AtomicGraph]) -> None:
        self.graphs = list(graphs)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index):  # int -> AtomicGraph, slice -> GraphDataset
        if isinstance(index, slice):
            return GraphDataset(self.graphs[index])
        return self.graphs[index]

    def subset(self, indices: Sequence[int]) -> "GraphDataset":
        """The graphs at ``indices`` (e.g. one part of :func:`~irreps.data.splits.split_indices`)."""
        return GraphDataset([self.graphs[int(i)] for i in indices])

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "GraphDataset":
        """Every graph moved to ``device`` / cast to floating ``dtype``."""
        return GraphDataset([g.to(device=device, dtype=dtype) for g in self.graphs])


class GraphLoader:
    """Iterates over a dataset in collated batches.

    Parameters
    ----------
    dataset : sequence of AtomicGraph
    batch_size : int
        Structures per batch; the last batch may be smaller unless ``drop_last``.
    shuffle : bool
        Draw a new permutation each epoch from ``generator``.
    generator : torch.Generator, optional
        Source of the permutations; defaults to ``torch.Generator().manual_seed(seed)``.
        Save ``loader.generator.get_state()`` to resume shuffling exactly.
    seed : int
        Seed of the default generator.
    drop_last : bool
    share : (int, int), optional
        ``(k, parts)``: yield only the ``k``-th of ``parts`` near-equal slices of each batch
        (data-parallel training; ``None`` when the slice is empty). The shuffling is the same
        in every part, so the parts of one batch are disjoint and cover it.
    """

    def __init__(
        self,
        dataset: Sequence[AtomicGraph],
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        seed: int = 0,
        drop_last: bool = False,
        share: tuple[int, int] | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError("cannot iterate over an empty dataset")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator if generator is not None else torch.Generator().manual_seed(seed)
        self.drop_last = drop_last
        if share is not None and not 0 <= share[0] < share[1]:
            raise ValueError(f"share must be (k, parts) with 0 <= k < parts, got {share}")
        self.share = share

    def __len__(self) -> int:
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def __iter__(self) -> Iterator[AtomicGraph | None]:
        n = len(self.dataset)
        # a tensor, not a list: 8 bytes per structure instead of a Python int each
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = order[start : start + self.batch_size].tolist()
            if self.share is not None:
                k, parts = self.share
                batch = batch[k * len(batch) // parts : (k + 1) * len(batch) // parts]
                if not batch:
                    yield None
                    continue
            yield collate([self.dataset[i] for i in batch])
