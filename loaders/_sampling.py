"""Epoch orders: reproducible permutations, sharding over ranks, batching of indices."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from tabloader._seeding import splitmix64 as _splitmix64

__all__ = ["REMAINDERS", "EpochPlan", "BatchIndexSampler", "RowSampler", "epoch_seed"]

REMAINDERS = ("pad", "drop", "uneven")

_MASK64 = (1 << 64) - 1


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 64-bit seed that depends only on ``(seed, epoch, stream)``.

    Distinct inputs give unrelated seeds (unlike ``seed + epoch``, where seed 0 at
    epoch 1 would repeat seed 1 at epoch 0). ``stream`` separates independent uses
    of the same epoch (the permutation, the worker base seed).
    """
    z = _splitmix64(seed & _MASK64)
    z = _splitmix64(z ^ (epoch & _MASK64))
    return _splitmix64(z ^ (stream & _MASK64))


class EpochPlan:
    """Which rows one rank reads in each epoch, and how they are cut into batches.

    Epoch ``k``'s order is ``torch.randperm(n, generator=g)`` with ``g`` seeded from
    ``epoch_seed(seed, k)`` (or ``arange(n)`` without shuffling). With
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
        g = torch.Generator()
        g.manual_seed(epoch_seed(self.seed, epoch))
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
