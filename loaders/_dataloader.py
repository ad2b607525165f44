""":class:`TabularLoader`: a :class:`torch.utils.data.DataLoader` with reproducible epochs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from tabloader._checks import check_int
from tabloader._plan import EpochPlan
from tabloader._random import mix_seed
from tabloader.loaders._fetch import BatchIndexSampler, FastIter, Fetch, ListBatchSampler

__all__ = ["TabularLoader"]

_WORKER_STREAM = 1  # mix_seed tag of the workers' base seed


class TabularLoader(DataLoader):
    """A :class:`torch.utils.data.DataLoader` with reproducible epochs; see :func:`make_loader`.

    Each ``iter(loader)`` starts the next epoch (0, 1, 2, ...); :meth:`set_epoch`
    chooses the epoch that the next ``iter(loader)`` starts. Epoch ``k``'s batches
    depend only on ``(seed, k)`` (and ``rank``/``world_size``). ``batch_size`` and
    ``drop_last`` report the values given to :func:`make_loader` (a stream's own), and
    ``len(loader)`` the batches of one epoch of this rank.

    Parameters
    ----------
    dataset : Dataset
        A map-style dataset (with ``plan``) or an IterableDataset (without).
    batch_size : int
        Rows per batch, as the user gave it (or the stream's).
    drop_last : bool
        As the user gave it (or the stream's).
    base_seed : int
        The seed of the epoch orders and of the workers.
    plan : EpochPlan, optional
        The epochs of a map-style dataset; ``None`` for an IterableDataset.
    whole_batches : bool, default False
        The dataset returns whole batches: ``dataset[index_tensor]`` with a plan, or a
        stream that yields batches. Else torch batches rows (per-row fetch).
    fetch : callable, optional
        ``index tensor -> batch`` in this process, used without workers (with a plan
        and ``whole_batches``).
    device : torch.device, optional
        Where batches are gathered (reported as :attr:`device`).
    **kwargs
        Passed to :class:`~torch.utils.data.DataLoader`.
    """

    # torch's DataLoader stores in ``batch_size``/``drop_last`` what *it* batches with:
    # ``None``/``False`` when the dataset returns whole batches (torch's protocol for
    # that, automatic batching disabled), as on the whole-batch and stream paths. These
    # properties report the user's values instead; the setters, called only by
    # DataLoader.__init__ (DataLoader.__setattr__ refuses later assignments), keep torch's
    # values. torch reads ``batch_size`` back only in ``__len__`` (overridden below) and
    # ``drop_last`` only when it batches an IterableDataset's rows itself, where both agree.
    @property
    def batch_size(self) -> int | None:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int | None) -> None:
        self._torch_batch_size = value

    @property
    def drop_last(self) -> bool:
        return self._drop_last

    @drop_last.setter
    def drop_last(self, value: bool) -> None:
        self._torch_drop_last = value

    def __init__(
        self,
        dataset: Dataset,
        *,
        batch_size: int,
        drop_last: bool,
        base_seed: int,
        plan: EpochPlan | None = None,
        whole_batches: bool = False,
        fetch: Fetch | None = None,
        device: torch.device | None = None,
        **kwargs: Any,
    ) -> None:
        self._batch_size = batch_size
        self._drop_last = drop_last
        generator = torch.Generator()
        generator.manual_seed(mix_seed(base_seed, 0, _WORKER_STREAM))
        sampler: BatchIndexSampler | ListBatchSampler | None = None
        if plan is None:  # an IterableDataset: its batches, or torch's of its rows
            size = None if whole_batches else batch_size
            last = False if whole_batches else drop_last
            super().__init__(
                dataset, batch_size=size, drop_last=last, generator=generator, **kwargs
            )
        elif whole_batches:
            sampler = BatchIndexSampler(plan)
            super().__init__(
                dataset, batch_size=None, sampler=sampler, generator=generator, **kwargs
            )
        else:
            sampler = ListBatchSampler(plan)
            super().__init__(dataset, batch_sampler=sampler, generator=generator, **kwargs)
        self._plan = plan
        self._sampler = sampler
        self._fetch = fetch if plan is not None and whole_batches else None
        self._base_seed = base_seed
        self._next_epoch = 0
        self._epoch = 0
        self.device = device

    # ------------------------------------------------------------------ epochs
    @property
    def epoch(self) -> int:
        """The epoch of the latest ``iter(loader)`` (0 before the first)."""
        return self._epoch

    @property
    def seed(self) -> int:
        """The base seed (drawn from torch's default generator when ``seed=None``)."""
        return self._base_seed

    @property
    def uses_batch_indexing(self) -> bool:
        """Whether batches are fetched whole (one indexing per batch) rather than per row."""
        return isinstance(self._sampler, BatchIndexSampler)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` produce epoch ``epoch``'s batches (to resume).

        Later iterations continue with ``epoch + 1``, ``epoch + 2``, ... Calling it
        before every epoch, as with :class:`~torch.utils.data.DistributedSampler`,
        works too. An IterableDataset with its own ``set_epoch`` is told as well.

        Parameters
        ----------
        epoch : int
            A non-negative epoch number.
        """
        self._next_epoch = check_int("epoch", epoch, low=0)

    def _start_epoch(self) -> int:
        e = self._next_epoch
        self._next_epoch = e + 1
        self._epoch = e
        if self._sampler is not None:
            self._sampler.epoch = e
        elif hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(e)
        self.generator.manual_seed(mix_seed(self._base_seed, e, _WORKER_STREAM))
        return e

    def __len__(self) -> int:
        if self._plan is not None:
            return len(self._plan)
        if self._torch_batch_size is None:  # a stream: its own batches
            return len(self.dataset)  # type: ignore[arg-type]
        return super().__len__()

    # a plain iterator (FastIter) on the whole-batch path without workers: see FastIter
    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        e = self._start_epoch()
        if self._fetch is not None and self._plan is not None and self.num_workers == 0:
            return FastIter(self._plan.batches(e), self._fetch)
        return super().__iter__()
