"""How a loader turns one planned batch of row indices into one batch of tensors.

Two routes, both through torch's own DataLoader protocols:

* whole-batch fetch (datasets with batch indexing): the DataLoader runs with automatic
  batching disabled (``batch_size=None``) and a sampler of index tensors
  (:class:`BatchIndexSampler`), so each fetch is ``dataset[index_tensor]``, one gather per
  tensor; without workers, :class:`FastIter` calls the same gather directly;
* per-row fetch (other map-style datasets): a batch sampler of index lists
  (:class:`ListBatchSampler`), so torch calls ``dataset.__getitems__(indices)`` when the
  dataset has it and ``dataset[i]`` row by row otherwise, then the collate function.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import IterableDataset, Sampler, TensorDataset

from tabloader._plan import EpochPlan
from tabloader.datasets import TabularDataset

__all__ = [
    "BatchIndexSampler",
    "FastIter",
    "ListBatchSampler",
    "direct_tensors",
    "identity",
    "make_fetch",
    "supports_batch_indexing",
]

Fetch = Callable[[torch.Tensor], Any]


def identity(batch: Any) -> Any:
    """The collate function of whole batches: they are already collated."""
    return batch


def supports_batch_indexing(dataset: Any) -> bool:
    """Whether :func:`make_loader` fetches a whole batch of ``dataset`` in one call.

    True for :class:`~tabloader.datasets.TabularDataset`,
    :class:`torch.utils.data.TensorDataset`, and any map-style dataset that declares
    ``supports_batch_indexing = True`` (a class or instance attribute), promising
    that ``dataset[index_tensor]`` with a 1-D int64 tensor returns the whole batch
    (for example ``(X[idx], y[idx])``), already collated.

    Parameters
    ----------
    dataset : object
        Any dataset.

    Returns
    -------
    bool
    """
    if isinstance(dataset, IterableDataset):
        return False
    declared = getattr(dataset, "supports_batch_indexing", None)
    if declared is not None:
        return bool(declared)
    return isinstance(dataset, (TabularDataset, TensorDataset))


def direct_tensors(dataset: Any) -> tuple[list[torch.Tensor], bool] | None:
    """The tensors to ``index_select`` directly, and whether to return a tuple.

    Only for datasets whose ``__getitem__`` is known to be exactly that: a
    ``TabularDataset`` or ``TensorDataset`` whose ``__getitem__`` is not overridden.
    """
    cls = type(dataset)
    if isinstance(dataset, TabularDataset) and cls.__getitem__ is TabularDataset.__getitem__:
        if dataset.targets is None:
            return [dataset.features], False
        return [dataset.features, dataset.targets], True
    if isinstance(dataset, TensorDataset) and cls.__getitem__ is TensorDataset.__getitem__:
        return list(dataset.tensors), True
    return None


def _pin(data: Any) -> Any:
    if isinstance(data, torch.Tensor):
        return data.pin_memory()
    if isinstance(data, tuple):
        return tuple(_pin(d) for d in data)
    if isinstance(data, list):
        return [_pin(d) for d in data]
    if isinstance(data, Mapping):
        return {k: _pin(v) for k, v in data.items()}
    return data


def _gather_fn(t: torch.Tensor, *, pin: bool) -> Fetch:
    """``idx -> t.index_select(0, idx)``, into pinned memory or by the fastest route."""
    rest = tuple(t.shape[1:])
    if pin:

        def gather_pinned(idx: torch.Tensor) -> torch.Tensor:
            out = torch.empty((idx.shape[0], *rest), dtype=t.dtype, pin_memory=True)
            return torch.index_select(t, 0, idx, out=out)

        return gather_pinned
    if t.ndim > 1 and math.prod(rest) == 1 and t.is_contiguous():
        # a [N, 1] target: gathering from its 1-D view is about twice as fast
        flat, shape = t.reshape(-1), (-1, *rest)
        return lambda idx: flat.index_select(0, idx).view(shape)
    return functools.partial(torch.index_select, t, 0)


def _tensor_fetch(tensors: list[torch.Tensor], as_tuple: bool, pin: bool) -> Fetch:
    gathers = [_gather_fn(t, pin=pin) for t in tensors]
    if not as_tuple:
        return gathers[0]
    if len(gathers) == 2:
        g0, g1 = gathers
        return lambda idx: (g0(idx), g1(idx))
    return lambda idx: tuple(g(idx) for g in gathers)


def make_fetch(
    dataset: Any,
    direct: tuple[list[torch.Tensor], bool] | None,
    *,
    pin: bool,
    collate_fn: Callable[[Any], Any] | None,
) -> Fetch:
    """The function that turns one index tensor into one batch (main process).

    It gives what a DataLoader with ``batch_size=None`` would: ``collate_fn`` applied to
    ``dataset[idx]``, pinned when ``pin``; for ``direct`` tensors, one gather per tensor
    (into pinned memory when there is no ``collate_fn``).
    """
    get: Fetch
    if direct is not None:
        get = _tensor_fetch(*direct, pin=pin and collate_fn is None)
        if collate_fn is None:
            return get
    else:
        get = dataset.__getitem__
        if collate_fn is None and not pin:
            return get
    post = collate_fn if collate_fn is not None else identity
    if pin:
        return lambda idx: _pin(post(get(idx)))
    return lambda idx: post(get(idx))


class BatchIndexSampler(Sampler[torch.Tensor]):
    """One int64 index tensor per batch of the plan, for ``DataLoader(batch_size=None)``."""

    def __init__(self, plan: EpochPlan) -> None:
        self.plan = plan
        self.epoch = 0

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.plan.batches(self.epoch))

    def __len__(self) -> int:
        return len(self.plan)


class ListBatchSampler(Sampler[list[int]]):
    """One list of row indices per batch of the plan, for ``DataLoader(batch_sampler=...)``."""

    def __init__(self, plan: EpochPlan) -> None:
        self.plan = plan
        self.epoch = 0

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.plan.batches(self.epoch))

    def __len__(self) -> int:
        return len(self.plan)


class FastIter:
    """The ``num_workers=0`` iterator of the whole-batch path: ``map(fetch, batches)``.

    torch's ``_SingleProcessDataLoaderIter`` gives the same batches through the same
    sampler (``batch_size=None``, ``dataset[index_tensor]``), but its per-batch bookkeeping
    (profiler scope, fetcher, collate call, the dataset's index check) costs more than a
    small gather: 0.47x of this iterator's rows/s at batch 256 and 0.74x at 4096
    (``benchmarks/bench_loaders.py --protocol``, 1,000,000 x 32 float32, one thread). With
    workers, where the gather is not the bottleneck, batches go through torch's iterator.
    """

    def __init__(self, batches: Sequence[torch.Tensor], fetch: Fetch) -> None:
        self._len = len(batches)
        self._gen = map(fetch, batches)

    def __iter__(self) -> FastIter:
        return self

    def __next__(self) -> Any:
        return next(self._gen)

    def __len__(self) -> int:
        return self._len
