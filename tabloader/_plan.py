"""The one epoch planner: which rows each rank and worker reads, in which order, in which batches.

Pure arithmetic on row counts, the same in every process: all ranks and workers compute
the same plan from ``(seed, epoch)`` and each takes its own part. Map-style loaders plan
over rows (:class:`EpochPlan`); streams plan over units of rows (:class:`EpochLayout`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Sampler

from tabloader._random import generator

__all__ = [
    "REMAINDERS",
    "BatchIndexSampler",
    "EpochLayout",
    "EpochPlan",
    "RowSampler",
    "WorkerPlan",
    "rank_batch_sizes",
    "round_robin_counts",
]

REMAINDERS = ("pad", "drop", "uneven")


def rank_batch_sizes(n_rows: int, batch_size: int, rank_rows: int, k: int) -> list[int]:
    """Split ``rank_rows`` rows into exactly ``k`` non-empty batches of at most ``batch_size``.

    Batches are full (``batch_size`` rows) as long as every later batch can still get one
    row; only the last batch, or the last few batches of a rank that has one row fewer
    than others, are shorter.
    """
    sizes = []
    left = rank_rows
    for i in range(k):
        size = min(batch_size, left - (k - i - 1))
        sizes.append(size)
        left -= size
    return sizes


def round_robin_counts(counts: list[int], start_done: list[int], taken: int) -> list[int]:
    """Per-worker batches done after a DataLoader took ``taken`` more batches.

    The DataLoader asks its workers in turn (0, 1, ..., 0, 1, ...) and skips those that
    have no batch left; ``start_done`` are the batches each worker had already done
    when this iteration started.
    """
    done = list(start_done)
    left = [c - d for c, d in zip(counts, done)]
    if taken > sum(left):
        raise ValueError(
            f"batches_done should be at most the {sum(left)} batches left in this epoch, "
            f"but got {taken} more"
        )
    while taken:
        for w in range(len(counts)):
            if taken and left[w] > 0:
                left[w] -= 1
                done[w] += 1
                taken -= 1
    return done


@dataclass
class WorkerPlan:
    """What one worker of one rank reads in one epoch."""

    start: int  # first row of the epoch sequence
    stop: int  # one past the last row
    batch_sizes: list[int]


class EpochLayout:
    """The order of the units in one epoch and the rows of each rank and worker.

    The epoch's row sequence is the units (row groups, CSV byte ranges) in a seeded
    random order (file order without shuffling), each unit's rows in file order. Rank
    ``r`` of ``W`` reads a contiguous range of that sequence: the ranges differ by at most
    one row and together cover every row once. Every rank yields the same number of
    batches ``k = ceil(ceil(N / W) / batch_size)``: full batches, except at the end of a
    rank, where a rank that has one row fewer than others may split its last rows into
    two shorter batches. With ``drop_last`` every rank yields ``floor(N / W) // batch_size``
    full batches and the rest of its range is not read. A rank's batches are dealt to its
    workers in contiguous groups (worker 0 the first group), so each worker reads a
    contiguous range.
    """

    def __init__(
        self,
        unit_rows: np.ndarray,
        *,
        epoch: int,
        shuffle: bool,
        seed: int,
        batch_size: int,
        drop_last: bool,
        rank: int,
        world_size: int,
    ) -> None:
        unit_rows = np.asarray(unit_rows, dtype=np.int64)
        if shuffle:
            order = torch.randperm(len(unit_rows), generator=generator(seed, epoch, 0)).numpy()
        else:
            order = np.arange(len(unit_rows))
        self.order = order
        rows = unit_rows[order]
        self.ends = np.cumsum(rows)
        self.starts = self.ends - rows
        self.n_rows = int(self.ends[-1]) if len(rows) else 0
        n, ws, b = self.n_rows, world_size, batch_size
        base, extra = divmod(n, ws)
        self.rank_rows = base + (rank < extra)
        self.rank_start = rank * base + min(rank, extra)
        if drop_last:
            self.k = base // b
            self.sizes = [b] * self.k
        else:
            self.k = -(-(base + (extra > 0)) // b)
            if self.rank_rows < self.k:
                raise ValueError(
                    f"every rank should yield the same number of batches ({self.k}) with every "
                    f"row read exactly once, but rank {rank} of world_size={ws} has only "
                    f"{self.rank_rows} of the {n} rows; use a larger batch_size (got "
                    f"batch_size={b}), fewer ranks, or drop_last=True"
                )
            self.sizes = rank_batch_sizes(n, b, self.rank_rows, self.k)

    def worker(self, worker: int, num_workers: int) -> WorkerPlan:
        """The rows and batches of ``worker`` of ``num_workers`` (contiguous groups)."""
        q, e = divmod(self.k, num_workers)
        first = worker * q + min(worker, e)
        count = q + (worker < e)
        start = self.rank_start + sum(self.sizes[:first])
        sizes = self.sizes[first : first + count]
        return WorkerPlan(start, start + sum(sizes), sizes)

    def worker_counts(self, num_workers: int) -> list[int]:
        """How many batches each worker yields."""
        q, e = divmod(self.k, num_workers)
        return [q + (w < e) for w in range(num_workers)]

    def pieces(self, start: int, stop: int):
        """``(unit, lo, hi)`` for the rows ``[start, stop)`` of the sequence, in order.

        ``unit`` is the index into the stream's unit list; ``lo:hi`` the rows of that unit.
        """
        if start >= stop:
            return
        i = int(np.searchsorted(self.ends, start, side="right"))
        while i < len(self.order) and self.starts[i] < stop:
            s = int(self.starts[i])
            lo = max(start, s) - s
            hi = min(stop, int(self.ends[i])) - s
            if hi > lo:
                yield int(self.order[i]), lo, hi
            i += 1


class EpochPlan:
    """Which rows one rank reads in each epoch, and how they are cut into batches.

    Epoch ``k``'s order is ``torch.randperm(n, generator=g)`` with ``g`` seeded from
    ``mix_seed(seed, k)`` (or ``arange(n)`` without shuffling). With
    ``world_size > 1`` the order is dealt out round-robin: rank ``r`` takes positions
    ``r, r + world_size, ...`` after the tail is handled following ``remainder``.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        remainder: str = "pad",
    ) -> None:
        self.n = n
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.remainder = remainder
        self.device: torch.device | None = None

    # ------------------------------------------------------------------ sizes
    @property
    def rows_per_rank(self) -> int:
        """Rows this rank reads per epoch (before ``drop_last`` trims the last batch)."""
        n, ws, r = self.n, self.world_size, self.rank
        if ws == 1:
            return n
        if self.remainder == "pad":
            return -(-n // ws) if n else 0
        if self.remainder == "drop":
            return n // ws
        return (n - r + ws - 1) // ws if n > r else 0

    def __len__(self) -> int:
        m = self.rows_per_rank
        return m // self.batch_size if self.drop_last else -(-m // self.batch_size)

    # ------------------------------------------------------------------ orders
    def permutation(self, epoch: int) -> torch.Tensor:
        """The whole epoch's order of the ``n`` rows (all ranks), int64 on the CPU."""
        if not self.shuffle:
            return torch.arange(self.n, dtype=torch.int64)
        g = generator(self.seed, epoch)
        return torch.randperm(self.n, generator=g)

    def indices(self, epoch: int) -> torch.Tensor:
        """This rank's rows for ``epoch``, in reading order, contiguous int64."""
        perm = self.permutation(epoch)
        ws = self.world_size
        if ws > 1:
            m = self.rows_per_rank
            if self.remainder == "pad":
                extra = m * ws - self.n
                if extra > 0 and self.n > 0:
                    reps = -(-extra // self.n)
                    perm = torch.cat([perm, perm.repeat(reps)[:extra]])
                perm = perm[self.rank : m * ws : ws]
            elif self.remainder == "drop":
                perm = perm[self.rank : m * ws : ws]
            else:
                perm = perm[self.rank :: ws]
            perm = perm.contiguous()
        if self.drop_last:
            perm = perm[: len(self) * self.batch_size]
        if self.device is not None and perm.device != self.device:
            perm = perm.to(self.device)
        return perm

    def batches(self, epoch: int) -> tuple[torch.Tensor, ...]:
        """This rank's batches of row indices for ``epoch`` (views of one tensor)."""
        idx = self.indices(epoch)
        if idx.numel() == 0:
            return ()
        return idx.split(self.batch_size)


class BatchIndexSampler(Sampler[torch.Tensor]):
    """Yields one int64 index tensor per batch, for ``DataLoader(batch_size=None)``."""

    def __init__(self, plan: EpochPlan) -> None:
        self.plan = plan
        self.epoch = 0

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.plan.batches(self.epoch))

    def __len__(self) -> int:
        return len(self.plan)


class RowSampler(Sampler[int]):
    """Yields the rows of one epoch one by one, for the per-row DataLoader path."""

    def __init__(self, plan: EpochPlan) -> None:
        self.plan = plan
        self.epoch = 0

    def __iter__(self) -> Iterator[int]:
        return iter(self.plan.indices(self.epoch).tolist())

    def __len__(self) -> int:
        m = self.plan.rows_per_rank
        if self.plan.drop_last:
            return len(self.plan) * self.plan.batch_size
        return m
