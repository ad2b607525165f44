"""Epoch plans of the streams: unit order, exact sharding over ranks and workers, batch sizes.

Everything here is pure arithmetic on row counts, so it is cheap and the same in every
process: all ranks and workers compute the same plan from ``(seed, epoch)`` and each
takes its own part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tabloader._seeding import splitmix64 as _splitmix64

__all__ = ["EpochLayout", "WorkerPlan", "mix_seed", "rank_batch_sizes", "round_robin_counts"]

_MASK64 = (1 << 64) - 1


def mix_seed(*parts: int) -> int:
    """A 63-bit seed that depends only on ``parts`` (distinct inputs, unrelated seeds)."""
    z = 0x5EED
    for p in parts:
        z = _splitmix64(z ^ (int(p) & _MASK64))
    return z & ((1 << 63) - 1)


def generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``parts`` (never the global RNG)."""
    g = torch.Generator()
    g.manual_seed(mix_seed(*parts))
    return g


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
