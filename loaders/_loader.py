"""``make_loader``: a :class:`torch.utils.data.DataLoader` that fetches whole batches."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from multiprocessing.context import BaseContext
from typing import Any

import torch
from torch.utils.data import Dataset, IterableDataset, TensorDataset

from tabloader._checks import check_int, type_error
from tabloader._plan import EpochPlan
from tabloader.datasets import TabularDataset, TabularStream
from tabloader.loaders._dataloader import TabularLoader
from tabloader.loaders._fetch import direct_tensors, identity, make_fetch, supports_batch_indexing
from tabloader.loaders._options import LoaderOptions, check_options, resolve_distributed
from tabloader.loaders._stream_loader import stream_batch_size, stream_loader

__all__ = ["iter_batches", "make_loader"]


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int | None = None,
    shuffle: bool = False,
    drop_last: bool = False,
    pin_memory: bool | str = "auto",
    num_workers: int = 0,
    seed: int | None = None,
    device: str | torch.device | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    remainder: str = "pad",
    persistent_workers: bool = False,
    prefetch_factor: int | None = None,
    collate_fn: Callable[[Any], Any] | None = None,
    worker_init_fn: Callable[[int], None] | None = None,
    timeout: float = 0,
    multiprocessing_context: str | BaseContext | None = None,
) -> TabularLoader:
    """Build a fast, reproducible :class:`torch.utils.data.DataLoader` over ``dataset``.

    Whole batches when the dataset has batch indexing, rows otherwise, a stream's own
    batches, other IterableDatasets passed through: see :mod:`tabloader.loaders`.

    Parameters
    ----------
    dataset : Dataset
        A TabularDataset, TensorDataset, map-style dataset, stream or IterableDataset.
    batch_size : int
        Rows per batch. Required, except for a stream: ``None`` or its ``batch_size``.
    shuffle, drop_last : bool, default=False
        A new order every epoch; leave out each epoch's last, short batch.
    pin_memory : {"auto", True, False}, default="auto"
        Return batches in page-locked memory (``"auto"``: when CUDA is available).
    num_workers : int, default=0
        Worker processes (the batches of ``num_workers=0`` from a map-style dataset).
    seed : int, optional
        Seed of the epoch orders; ``None`` draws one from torch's default generator.
    device : str or torch.device, optional
        Gather batches on this device from a copy of the tensors made there once
        (a TabularDataset or TensorDataset, ``num_workers=0``).
    rank, world_size : int, optional
        This rank's share of every epoch (default: from an initialised torch.distributed).
    remainder : {"pad", "drop", "uneven"}, default="pad"
        When the rows do not divide by ``world_size``: repeat rows, leave rows out, or
        read every row once with ranks one batch apart (for evaluation).
    persistent_workers, prefetch_factor, collate_fn, worker_init_fn, timeout : optional
        Passed to the DataLoader (``timeout``: seconds to wait for a batch, 0: no limit);
        ``collate_fn`` is applied to each whole batch (or is torch's per-row collate).
    multiprocessing_context : {"forkserver", "spawn", "fork"} or context, optional
        How workers start; by default never ``"fork"`` (it can deadlock, CPython
        gh-112275), so the dataset and functions must pickle. Start-up: 1.3 s once, then
        0.03 s per epoch (``"spawn"``: 1.2 s per epoch); see :mod:`tabloader.loaders`.

    Returns
    -------
    TabularLoader
        A DataLoader yielding ``(X, y)`` (``X`` without targets) as ``dataset[idx]`` does.

    Raises
    ------
    TypeError, ValueError
        A wrong type, a bad value: ``batch_size should be a positive integer, but...``.

    Examples
    --------
    >>> import torch
    >>> from tabloader.datasets import TabularDataset
    >>> ds = TabularDataset(torch.randn(10, 3), torch.zeros(10), task="regression")
    >>> loader = make_loader(ds, batch_size=4, shuffle=True, seed=0)
    >>> [len(y) for X, y in loader]
    [4, 4, 2]
    """
    args = {k: v for k, v in locals().items() if k != "dataset"}  # the arguments only
    if isinstance(dataset, TabularStream):
        args["batch_size"] = stream_batch_size(dataset, batch_size)
        return stream_loader(dataset, check_options(**args))
    build = _iterable_loader if isinstance(dataset, IterableDataset) else _map_loader
    return build(dataset, check_options(**args))


def _iterable_loader(dataset: Dataset, opts: LoaderOptions) -> TabularLoader:
    """An IterableDataset passed through: torch batches its rows."""
    if opts.shuffle:
        raise ValueError(
            "shuffle should be False for an IterableDataset (it sets its own order), "
            "but got shuffle=True"
        )
    if opts.device is not None:
        raise ValueError(
            "device needs a TabularDataset or TensorDataset, but got an IterableDataset "
            f"({type(dataset).__name__})"
        )
    if opts.rank is not None:
        raise ValueError(
            "rank and world_size should be None for an IterableDataset (it shards "
            f"itself), but got rank={opts.rank!r} and world_size={opts.world_size!r}"
        )
    kwargs = opts.dataloader_kwargs()
    if opts.collate_fn is not None:
        kwargs["collate_fn"] = opts.collate_fn
    return TabularLoader(
        dataset,
        batch_size=opts.batch_size,
        drop_last=opts.drop_last,
        base_seed=opts.base_seed,
        **kwargs,
    )


def _gather_tensors(
    dataset: Any, opts: LoaderOptions
) -> tuple[tuple[list[torch.Tensor], bool] | None, torch.device | None, LoaderOptions]:
    """The tensors to gather from directly, the device the plan's indices go to, and the
    options (pinning off for data that lives on an accelerator)."""
    direct = direct_tensors(dataset) if supports_batch_indexing(dataset) else None
    if opts.device is not None:
        if direct is None:
            raise ValueError(
                "device needs a TabularDataset or TensorDataset whose __getitem__ is not "
                f"overridden, but got {type(dataset).__name__}"
            )
        return ([t.to(opts.device) for t in direct[0]], direct[1]), opts.device, opts
    if direct is not None and direct[0] and direct[0][0].device.type != "cpu":
        # the dataset already lives on an accelerator: gather there, never pin
        on = direct[0][0].device
        if opts.num_workers != 0:
            raise ValueError(
                f"num_workers should be 0 for a dataset on {on}, "
                f"but got num_workers={opts.num_workers}"
            )
        return direct, on, dataclasses.replace(opts, pin=False)
    return direct, None, opts


def _map_loader(dataset: Dataset, opts: LoaderOptions) -> TabularLoader:
    """A map-style dataset read through an :class:`EpochPlan`, whole batches when it can."""
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError as exc:
        raise type_error(
            "dataset", "a map-style dataset with __len__ or an IterableDataset", dataset
        ) from exc
    rank, world_size = resolve_distributed(opts.rank, opts.world_size)
    direct, index_device, opts = _gather_tensors(dataset, opts)
    plan = EpochPlan(
        n,
        opts.batch_size,
        shuffle=opts.shuffle,
        drop_last=opts.drop_last,
        seed=opts.base_seed,
        rank=rank,
        world_size=world_size,
        remainder=opts.remainder,
        device=index_device,
    )
    whole = supports_batch_indexing(dataset)
    kwargs = opts.dataloader_kwargs()
    fetch = None
    if whole:
        fetch = make_fetch(dataset, direct, pin=opts.pin, collate_fn=opts.collate_fn)
        kwargs["collate_fn"] = opts.collate_fn if opts.collate_fn is not None else identity
    elif opts.collate_fn is not None:
        kwargs["collate_fn"] = opts.collate_fn
    return TabularLoader(
        dataset,
        batch_size=opts.batch_size,
        drop_last=opts.drop_last,
        base_seed=opts.base_seed,
        plan=plan,
        whole_batches=whole,
        fetch=fetch,
        device=opts.device,
        **kwargs,
    )


def _tensors_of(data: Any) -> tuple[list[torch.Tensor], bool]:
    """The tensors of ``data`` for :func:`iter_batches`, and whether batches are tuples."""
    if isinstance(data, TabularDataset):
        tensors = [data.features] + ([] if data.targets is None else [data.targets])
        return tensors, data.targets is not None
    if isinstance(data, TensorDataset):
        return list(data.tensors), True
    if isinstance(data, torch.Tensor):
        return [data], False
    if isinstance(data, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in data):
        return list(data), True
    raise type_error(
        "data", "a TabularDataset, a TensorDataset, a tensor or a tuple of tensors", data
    )


def iter_batches(
    data: Any,
    batch_size: int,
    *,
    device: str | torch.device | None = None,
) -> Iterator[Any]:
    """Read ``data`` in order, in consecutive batches, without copying on the host.

    For evaluation and prediction: every row exactly once, in order; each batch is a
    view (a slice) of the tensors.

    Parameters
    ----------
    data : TabularDataset, TensorDataset, torch.Tensor or tuple of torch.Tensor
        What to read. A TabularDataset yields ``(X, y)`` (``X`` without targets), a
        TensorDataset or tuple yields tuples, a tensor yields tensors.
    batch_size : int
        Rows per batch (the last batch may be shorter).
    device : str or torch.device, optional
        Move each batch there (``non_blocking`` when the source is pinned).

    Yields
    ------
    torch.Tensor or tuple of torch.Tensor
    """
    batch_size = check_int("batch_size", batch_size, low=1)
    tensors, as_tuple = _tensors_of(data)
    n = tensors[0].shape[0] if tensors else 0
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(
            f"tensors should have the same number of rows, but got {[t.shape[0] for t in tensors]}"
        )
    dev = None if device is None else torch.device(device)
    for start in range(0, n, batch_size):
        parts = [t[start : start + batch_size] for t in tensors]
        if dev is not None:
            parts = [p.to(dev, non_blocking=p.is_pinned()) for p in parts]
        yield tuple(parts) if as_tuple else parts[0]
