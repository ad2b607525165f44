"""The one epoch planner: which rows each rank and worker reads, in which order, in which batches.

Pure arithmetic on row counts, the same in every process: every rank and worker computes
the same plan from ``(seed, epoch)`` and takes its own part of it. Map-style loaders
(:class:`EpochPlan`) and streams (:class:`EpochLayout`) are planned by the same three
rules.

**The epoch sequence.** An epoch is a sequence of ``N`` rows in the order of
:func:`epoch_order`: ``torch.randperm`` drawn from ``generator(seed, epoch)`` (``arange``
without shuffling). A map-style loader orders the dataset's rows. A stream orders its
*units* (Parquet row groups, CSV byte ranges) and reads each unit's rows in file order,
so its sequence is the rows of the units in that order; a stream whose units hold one row
each has exactly the map-style sequence.

**The sharding rule** (:func:`share`), for ranks and then for workers: a sequence of ``n``
items is cut into consecutive blocks whose sizes differ by at most one, and block ``j``
goes to part ``j mod P``. Ranks share the epoch's rows; a rank's workers share its
batches. Only the number of blocks depends on how the data is read:

* map-style data is gathered from memory, so the blocks are as fine as they go: one row
  per block for ranks, one batch per block for workers (round-robin). Step ``t`` of ``W``
  ranks with batch ``B`` then reads exactly the rows of step ``t`` of one process with
  batch ``W * B``, positions ``[t*W*B, (t+1)*W*B)`` of the sequence (every step with
  ``remainder="uneven"``, the distributed trainer's; all but the last otherwise);
  unshuffled shares are those of :class:`~torch.utils.data.DistributedSampler`; and
  batch ``i`` goes to worker ``i mod num_workers``, as the DataLoader dispatches them;
* streams read files, so the blocks are as coarse as they go: one per rank and one per
  worker (``contiguous=True``). A rank reads one contiguous range of the sequence and
  opens only the units that overlap it (about ``1/W`` of them, a unit at either end
  shared with a neighbour): no rank reads the whole epoch. A worker reads a contiguous
  part of its rank's range. Every row is read once, by one worker of one rank.

**Batches.** Each rank cuts its share, in sequence order, into batches of ``batch_size``
rows; ``drop_last`` leaves out a last short batch. When ``N`` does not divide by ``W`` the
shares differ by one row. A map-style loader then follows ``remainder``: ``"pad"`` appends
the first rows of the sequence again until it divides (as ``DistributedSampler`` does),
``"drop"`` leaves out its last ``N mod W`` rows, ``"uneven"`` keeps every row once and
ranks may differ by one batch. A stream reads every row once and gives every rank the same
number of batches, ``k = ceil(ceil(N / W) / B)``: a rank with one row fewer splits its last
rows into two shorter batches (:func:`rank_batch_sizes`); with ``drop_last`` every rank
yields ``floor(N / W) // B`` full batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from tabloader._random import generator

__all__ = [
    "REMAINDERS",
    "EpochLayout",
    "EpochPlan",
    "WorkerPlan",
    "epoch_order",
    "rank_batch_sizes",
    "round_robin_counts",
    "share",
]

REMAINDERS = ("pad", "drop", "uneven")


def epoch_order(n: int, *, seed: int, epoch: int, shuffle: bool) -> torch.Tensor:
    """The order of ``n`` items (rows or units) in epoch ``epoch``: int64 on the CPU.

    Parameters
    ----------
    n : int
        Number of items.
    seed, epoch : int
        The order depends on these only (through :func:`tabloader._random.generator`).
    shuffle : bool
        ``False`` gives ``arange(n)``.

    Returns
    -------
    torch.Tensor
    """
    if not shuffle:
        return torch.arange(n, dtype=torch.int64)
    return torch.randperm(n, generator=generator(seed, epoch))


def share(n: int, parts: int, part: int, *, contiguous: bool) -> range:
    """The positions of ``part`` when ``n`` items are dealt to ``parts`` parts.

    The one sharding rule: the items are cut into consecutive blocks whose sizes differ by
    at most one, and block ``j`` goes to part ``j mod parts``. ``contiguous=False`` cuts
    them into ``n`` blocks of one item (round-robin: ``range(part, n, parts)``);
    ``contiguous=True`` into ``parts`` blocks (one range each, sizes differing by at most
    one, earlier parts larger).

    Parameters
    ----------
    n : int
        Number of items (rows for ranks, batches for workers).
    parts : int
        Number of parts (ranks or workers).
    part : int
        Which part, in ``[0, parts)``.
    contiguous : bool
        One block per part (streams) rather than one item per block (map-style).

    Returns
    -------
    range
    """
    if contiguous:
        q, e = divmod(n, parts)
        start = part * q + min(part, e)
        return range(start, start + q + (part < e))
    return range(part, n, parts)


def rank_batch_sizes(n_rows: int, batch_size: int, rank_rows: int, k: int) -> list[int]:
    """Split ``rank_rows`` rows into exactly ``k`` non-empty batches of at most ``batch_size``.

    Batches are full (``batch_size`` rows) as long as every later batch can still get one
    row; only the last batch, or the last few batches of a rank that has one row fewer
    than others, are shorter. ``n_rows`` (the epoch's rows) is not needed; it is kept for
    callers that pass it.
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
    """One epoch of a stream for one rank: its units' order, its rows, its batches.

    The sequence is the units in :func:`epoch_order`, each unit's rows in file order; the
    rank's rows are its :func:`share` with ``contiguous=True`` (``rank_start``,
    ``rank_rows``), cut into ``k`` batches of ``sizes`` rows, the same ``k`` on every rank
    (see the module docstring). :meth:`worker` deals the batches to workers by the same
    rule, in contiguous groups (worker 0 the first group).

    Parameters
    ----------
    unit_rows : array of int
        Rows of each unit, in the stream's unit order.
    epoch, seed : int
        The epoch and the base seed of the order.
    shuffle : bool
        Units in a seeded random order (else in file order).
    batch_size : int
        Rows per batch.
    drop_last : bool
        Every rank yields ``floor(N / W) // batch_size`` full batches.
    rank, world_size : int
        This rank and the number of ranks.
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
        self.order = epoch_order(len(unit_rows), seed=seed, epoch=epoch, shuffle=shuffle).numpy()
        rows = unit_rows[self.order]
        self.ends = np.cumsum(rows)
        self.starts = self.ends - rows
        self.n_rows = int(self.ends[-1]) if len(rows) else 0
        n, ws, b = self.n_rows, world_size, batch_size
        mine = share(n, ws, rank, contiguous=True)
        self.rank_rows = len(mine)
        self.rank_start = mine.start
        if drop_last:
            self.k = (n // ws) // b
            self.sizes = [b] * self.k
            return
        self.k = -(-len(share(n, ws, 0, contiguous=True)) // b)  # rank 0 has the most rows
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
        mine = share(self.k, num_workers, worker, contiguous=True)
        start = self.rank_start + sum(self.sizes[: mine.start])
        sizes = self.sizes[mine.start : mine.stop]
        return WorkerPlan(start, start + sum(sizes), sizes)

    def worker_counts(self, num_workers: int) -> list[int]:
        """How many batches each worker yields."""
        return [len(share(self.k, num_workers, w, contiguous=True)) for w in range(num_workers)]

    def pieces(self, start: int, stop: int) -> Iterator[tuple[int, int, int]]:
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
    """The rows one rank of a map-style loader reads in each epoch, and its batches.

    The sequence is :func:`epoch_order` of the ``n`` rows, extended or cut to
    :attr:`sequence_rows` following ``remainder``; the rank's rows are its :func:`share`
    with ``contiguous=False`` (positions ``rank, rank + world_size, ...``), cut into
    batches of ``batch_size`` (see the module docstring).

    Parameters
    ----------
    n : int
        Rows of the dataset.
    batch_size : int
        Rows per batch.
    shuffle, drop_last : bool
        A new seeded order each epoch; leave out each rank's last short batch.
    seed : int
        The base seed of the orders.
    rank, world_size : int, default 0 and 1
        This rank and the number of ranks.
    remainder : {"pad", "drop", "uneven"}, default "pad"
        What to do when ``n`` does not divide by ``world_size``.
    device : torch.device, optional
        Where the index tensors are returned.
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
        device: torch.device | None = None,
    ) -> None:
        self.n = n
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.remainder = remainder
        self.device = device

    @property
    def sequence_rows(self) -> int:
        """Length of the epoch sequence after ``remainder``: padded, cut, or ``n``."""
        n, ws = self.n, self.world_size
        if self.remainder == "pad":
            return -(-n // ws) * ws
        if self.remainder == "drop":
            return n // ws * ws
        return n

    @property
    def rows_per_rank(self) -> int:
        """Rows this rank reads per epoch (before ``drop_last`` trims the last batch)."""
        return len(share(self.sequence_rows, self.world_size, self.rank, contiguous=False))

    def __len__(self) -> int:
        m = self.rows_per_rank
        return m // self.batch_size if self.drop_last else -(-m // self.batch_size)

    def permutation(self, epoch: int) -> torch.Tensor:
        """The whole epoch's order of the ``n`` rows (all ranks), int64 on the CPU."""
        return epoch_order(self.n, seed=self.seed, epoch=epoch, shuffle=self.shuffle)

    def indices(self, epoch: int) -> torch.Tensor:
        """This rank's rows for ``epoch``, in reading order, contiguous int64."""
        seq = self.permutation(epoch)
        m = self.sequence_rows
        if m > self.n > 0:  # "pad": the first rows of the sequence again
            seq = torch.cat([seq, seq.repeat(-(-(m - self.n) // self.n))[: m - self.n]])
        mine = share(m, self.world_size, self.rank, contiguous=False)
        idx = seq[mine.start : mine.stop : mine.step]
        if self.drop_last:
            idx = idx[: len(self) * self.batch_size]
        idx = idx.contiguous()
        if self.device is not None and idx.device != self.device:
            idx = idx.to(self.device)
        return idx

    def batches(self, epoch: int) -> tuple[torch.Tensor, ...]:
        """This rank's batches of row indices for ``epoch`` (views of one tensor)."""
        idx = self.indices(epoch)
        if idx.numel() == 0:
            return ()
        return idx.split(self.batch_size)
