"""``make_loader``: a :class:`torch.utils.data.DataLoader` that fetches whole batches."""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from tabloader._plan import REMAINDERS, BatchIndexSampler, EpochPlan, RowSampler
from tabloader._random import mix_seed
from tabloader.datasets import TabularDataset

__all__ = ["TabularLoader", "make_loader", "iter_batches", "supports_batch_indexing"]

_WORKER_STREAM = 1  # mix_seed tag of the workers' base seed


def _identity(batch: Any) -> Any:
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


def _direct_tensors(dataset: Any) -> tuple[list[torch.Tensor], bool] | None:
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


class _FastIter:
    """The ``num_workers=0`` iterator of the whole-batch path: one gather per tensor."""

    def __init__(
        self,
        batches: Sequence[torch.Tensor],
        fetch: Callable[[torch.Tensor], Any],
    ) -> None:
        self._len = len(batches)
        self._gen = map(fetch, batches)

    def __iter__(self) -> _FastIter:
        return self

    def __next__(self) -> Any:
        return next(self._gen)

    def __len__(self) -> int:
        return self._len


class TabularLoader(DataLoader):
    """A :class:`torch.utils.data.DataLoader` with reproducible epochs; see :func:`make_loader`.

    Each ``iter(loader)`` starts the next epoch (0, 1, 2, ...); :meth:`set_epoch`
    chooses the epoch that the next ``iter(loader)`` starts. Epoch ``k``'s batches
    depend only on ``(seed, k)`` (and ``rank``/``world_size``). ``batch_size`` and
    ``drop_last`` report the values given to :func:`make_loader`, also on the
    whole-batch path where the underlying DataLoader runs with ``batch_size=None``.
    """

    # DataLoader.__init__ assigns batch_size/drop_last; on the whole-batch path it is
    # given batch_size=None, so these report the user's values instead.
    @property
    def batch_size(self) -> int | None:  # type: ignore[override]
        d = self.__dict__
        return d.get("_tl_batch_size", d.get("_dl_batch_size"))

    @batch_size.setter
    def batch_size(self, value: int | None) -> None:
        self.__dict__["_dl_batch_size"] = value

    @property
    def drop_last(self) -> bool:  # type: ignore[override]
        d = self.__dict__
        return d.get("_tl_drop_last", d.get("_dl_drop_last", False))

    @drop_last.setter
    def drop_last(self, value: bool) -> None:
        self.__dict__["_dl_drop_last"] = value

    def __init__(
        self,
        dataset: Dataset,
        *,
        plan: EpochPlan | None,
        batch_size: int,
        drop_last: bool,
        fast: bool,
        fetch: Callable[[torch.Tensor], Any] | None,
        base_seed: int,
        device: torch.device | None,
        **kwargs: Any,
    ) -> None:
        generator = torch.Generator()
        generator.manual_seed(mix_seed(base_seed, 0, _WORKER_STREAM))
        if plan is None:  # IterableDataset: passed through
            sampler = None
            super().__init__(
                dataset, batch_size=batch_size, drop_last=drop_last, generator=generator, **kwargs
            )
        elif fast:
            sampler = BatchIndexSampler(plan)
            super().__init__(
                dataset, batch_size=None, sampler=sampler, generator=generator, **kwargs
            )
        else:
            sampler = RowSampler(plan)
            super().__init__(
                dataset,
                batch_size=batch_size,
                drop_last=drop_last,
                sampler=sampler,
                generator=generator,
                **kwargs,
            )
        d = self.__dict__
        d["_tl_batch_size"] = batch_size
        d["_tl_drop_last"] = drop_last
        self._plan = plan
        self._tl_sampler = sampler
        self._fast = fast
        self._fetch = fetch
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
        return self._fast

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
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"epoch should be a non-negative integer, but got epoch={epoch!r}")
        self._next_epoch = int(epoch)

    def _start_epoch(self) -> int:
        e = self._next_epoch
        self._next_epoch = e + 1
        self._epoch = e
        if self._tl_sampler is not None:
            self._tl_sampler.epoch = e
        elif hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(e)
        self.generator.manual_seed(mix_seed(self._base_seed, e, _WORKER_STREAM))
        return e

    def __iter__(self) -> Iterator[Any]:
        e = self._start_epoch()
        if self._fast and self.num_workers == 0:
            return _FastIter(self._plan.batches(e), self._fetch)
        return super().__iter__()


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} should be a boolean value, but got {name}={value!r}")
    return value


def _check_int(name: str, value: Any, *, low: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} should be a {what} integer, but got {name}={value!r}")
    return int(value)


def _resolve_distributed(rank: Any, world_size: Any) -> tuple[int, int, bool]:
    """``(rank, world_size, explicit)`` from the arguments or ``torch.distributed``."""
    if rank is None and world_size is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size(), False
        return 0, 1, False
    if rank is None or world_size is None:
        raise ValueError(
            f"rank and world_size should be given together, but got rank={rank!r} and "
            f"world_size={world_size!r}"
        )
    world_size = _check_int("world_size", world_size, low=1, what="positive")
    if (
        isinstance(rank, bool)
        or not isinstance(rank, numbers.Integral)
        or not 0 <= rank < world_size
    ):
        raise ValueError(
            f"rank should be an integer in [0, {world_size - 1}] for world_size={world_size}, "
            f"but got rank={rank!r}"
        )
    return int(rank), world_size, True


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
) -> TabularLoader:
    """Build a fast, reproducible :class:`torch.utils.data.DataLoader` over ``dataset``.

    Datasets with batch indexing (see :func:`supports_batch_indexing`) are read one
    whole batch at a time: each batch is one ``index_select`` per tensor over a
    ``torch.randperm`` permutation, with no per-row ``__getitem__`` and no per-row
    collate. Other map-style datasets use the ordinary per-row path with the same
    epoch orders; an :class:`~torch.utils.data.IterableDataset` is passed through.

    Parameters
    ----------
    dataset : Dataset
        A :class:`~tabloader.datasets.TabularDataset`, a
        :class:`~torch.utils.data.TensorDataset`, any map-style dataset, or an
        IterableDataset.
    batch_size : int
        Rows per batch. Required, except for a tabloader stream
        (:class:`~tabloader.datasets.ParquetStream`, :class:`~tabloader.datasets.CsvStream`),
        which builds its own batches: then ``None`` or the stream's ``batch_size``.
        For a stream, ``shuffle=True``, ``seed``, ``drop_last=True``, ``rank`` and
        ``world_size`` override the stream's own settings (its copy's, the stream
        itself is not modified); ``num_workers`` and ``pin_memory`` apply as usual;
        ``remainder`` does not apply (streams give every rank the same number of
        batches, see the streams' documentation).
    shuffle : bool, default=False
        Read the rows in a new random order every epoch.
    drop_last : bool, default=False
        Drop the last, short batch of each epoch (of each rank): every batch then has
        exactly ``batch_size`` rows.
    pin_memory : {"auto", True, False}, default="auto"
        Return batches in page-locked memory, so that
        ``batch.to("cuda", non_blocking=True)`` overlaps with compute. ``"auto"`` pins
        only when CUDA is available.
    num_workers : int, default=0
        Worker processes. Batches are the same as with ``num_workers=0`` for the same
        seed: the order is drawn in the main process, workers only fetch. Each worker
        gets its own seed (``random``, numpy and torch), derived from ``(seed, epoch)``.
    seed : int, optional
        Seed of the epoch orders: the same seed gives the same sequence of epochs in
        any process. ``None`` draws a seed from torch's default generator once, here.
        Global RNG state is never used otherwise.
    device : str or torch.device, optional
        Keep the dataset's tensors on this device (copied there once, the dataset
        itself is not modified) and gather each batch there: no host-to-device copy per
        batch. Needs a TabularDataset or TensorDataset whose ``__getitem__`` is not
        overridden, ``num_workers=0``; pinning is off.
    rank, world_size : int, optional
        Read only this rank's shard of every epoch (round-robin over the epoch's
        order; all ranks use the same seed). Taken from ``torch.distributed`` when it
        is initialised and both are ``None``.
    remainder : {"pad", "drop", "uneven"}, default="pad"
        When the number of rows does not divide by ``world_size``: ``"pad"`` repeats
        rows of the epoch so that every rank gets ``ceil(n / world_size)`` rows (like
        :class:`~torch.utils.data.DistributedSampler`); ``"drop"`` leaves out the
        last ``n % world_size`` rows of the epoch's order; ``"uneven"`` reads every row
        exactly once and ranks may differ by one row, hence by one batch. Use
        ``"uneven"`` for evaluation: it never counts a row twice.
    persistent_workers : bool, default=False
        Keep the workers between epochs (needs ``num_workers > 0``).
    prefetch_factor : int, optional
        Batches loaded in advance by each worker (needs ``num_workers > 0``).
    collate_fn : callable, optional
        On the whole-batch path, applied once to each batch as returned by
        ``dataset[index_tensor]``; on the per-row path, the DataLoader's collate
        function (default :func:`torch.utils.data.default_collate`).
    worker_init_fn : callable, optional
        Passed to the DataLoader.

    Returns
    -------
    TabularLoader
        A :class:`torch.utils.data.DataLoader` subclass with :meth:`~TabularLoader.set_epoch`.
        It yields ``(X, y)`` batches (``X`` for a features-only dataset), as
        ``dataset[index_tensor]`` would return them.

    Raises
    ------
    ValueError
        When an argument is invalid, e.g. ``batch_size should be a positive integer,
        but got batch_size=0``.

    Examples
    --------
    >>> import torch
    >>> from tabloader.datasets import TabularDataset
    >>> from tabloader.loaders import make_loader
    >>> ds = TabularDataset(torch.randn(10, 3), torch.zeros(10), task="regression")
    >>> loader = make_loader(ds, batch_size=4, shuffle=True, seed=0)
    >>> [len(y) for X, y in loader]
    [4, 4, 2]
    """
    stream = _is_stream(dataset)
    if stream:
        if batch_size is not None and batch_size != dataset.batch_size:
            raise ValueError(
                f"batch_size should be None or the stream's batch_size={dataset.batch_size}, "
                f"but got batch_size={batch_size!r}; a stream builds its own batches: "
                "set batch_size when creating the stream"
            )
        batch_size = dataset.batch_size
    batch_size = _check_int("batch_size", batch_size, low=1, what="positive")
    shuffle = _check_bool("shuffle", shuffle)
    drop_last = _check_bool("drop_last", drop_last)
    num_workers = _check_int("num_workers", num_workers, low=0, what="non-negative")
    persistent_workers = _check_bool("persistent_workers", persistent_workers)
    if pin_memory != "auto" and not isinstance(pin_memory, bool):
        raise ValueError(
            f"pin_memory should be 'auto', True or False, but got pin_memory={pin_memory!r}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"seed should be an integer or None, but got seed={seed!r}")
    if remainder not in REMAINDERS:
        raise ValueError(
            f"remainder should be one of {list(REMAINDERS)}, but got remainder={remainder!r}"
        )
    if prefetch_factor is not None:
        prefetch_factor = _check_int("prefetch_factor", prefetch_factor, low=1, what="positive")
        if num_workers == 0:
            raise ValueError(
                "prefetch_factor should be None when num_workers=0, "
                f"but got prefetch_factor={prefetch_factor}"
            )
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers=True needs num_workers > 0, but got num_workers=0")
    if collate_fn is not None and not callable(collate_fn):
        raise ValueError(f"collate_fn should be callable or None, but got {collate_fn!r}")

    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device should be a torch device, but got device={device!r}") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} needs CUDA, but CUDA is not available")
        if num_workers != 0:
            raise ValueError(
                f"num_workers should be 0 when device is set, but got num_workers={num_workers}"
            )
        if pin_memory is True:
            raise ValueError(
                "pin_memory should be False or 'auto' when device is set "
                "(batches are gathered on the device), but got pin_memory=True"
            )
        pin = False
    elif pin_memory == "auto":
        pin = torch.cuda.is_available()
    else:
        pin = pin_memory
        if pin and not torch.cuda.is_available():
            warnings.warn(
                "pin_memory=True but CUDA is not available; batches will not be pinned",
                UserWarning,
                stacklevel=2,
            )
            pin = False

    if seed is None:
        base_seed = int(torch.empty((), dtype=torch.int64).random_().item())
    else:
        base_seed = int(seed)

    kwargs: dict[str, Any] = {
        "num_workers": num_workers,
        "pin_memory": pin,
        "persistent_workers": persistent_workers,
        "prefetch_factor": prefetch_factor,
        "worker_init_fn": worker_init_fn,
    }
    common = {"batch_size": batch_size, "drop_last": drop_last, "base_seed": base_seed}

    if stream:
        return _stream_loader(
            dataset,
            shuffle,
            drop_last,
            seed,
            rank,
            world_size,
            base_seed,
            device,
            kwargs,
            collate_fn,
        )

    if isinstance(dataset, IterableDataset):
        if shuffle:
            raise ValueError(
                "shuffle should be False for an IterableDataset (it sets its own order), "
                "but got shuffle=True"
            )
        if device is not None:
            raise ValueError(
                "device needs a TabularDataset or TensorDataset, but got an IterableDataset "
                f"({type(dataset).__name__})"
            )
        if rank is not None or world_size is not None:
            raise ValueError(
                "rank and world_size should be None for an IterableDataset (it shards "
                f"itself), but got rank={rank!r} and world_size={world_size!r}"
            )
        if collate_fn is not None:
            kwargs["collate_fn"] = collate_fn
        return TabularLoader(
            dataset, plan=None, fast=False, fetch=None, device=None, **common, **kwargs
        )

    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ValueError(
            f"dataset should be a map-style dataset with __len__ or an IterableDataset, "
            f"but got {type(dataset).__name__}"
        ) from exc
    r, ws, _ = _resolve_distributed(rank, world_size)
    plan = EpochPlan(
        n,
        batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        seed=base_seed,
        rank=r,
        world_size=ws,
        remainder=remainder,
    )
    fast = supports_batch_indexing(dataset)
    direct = _direct_tensors(dataset) if fast else None

    if device is not None:
        if direct is None:
            raise ValueError(
                "device needs a TabularDataset or TensorDataset whose __getitem__ is not "
                f"overridden, but got {type(dataset).__name__}"
            )
        direct = ([t.to(device) for t in direct[0]], direct[1])
        plan.device = device
    elif direct is not None and direct[0] and direct[0][0].device.type != "cpu":
        # the dataset already lives on an accelerator: gather there, never pin
        if num_workers != 0:
            raise ValueError(
                f"num_workers should be 0 for a dataset on {direct[0][0].device}, "
                f"but got num_workers={num_workers}"
            )
        plan.device = direct[0][0].device
        pin = False
        kwargs["pin_memory"] = False

    fetch = None
    if fast:
        fetch = _make_fetch(dataset, direct, pin=pin, collate_fn=collate_fn)
        kwargs["collate_fn"] = collate_fn if collate_fn is not None else _identity
    elif collate_fn is not None:
        kwargs["collate_fn"] = collate_fn
    return TabularLoader(
        dataset, plan=plan, fast=fast, fetch=fetch, device=device, **common, **kwargs
    )


def _gather_fn(t: torch.Tensor, *, pin: bool) -> Callable[[torch.Tensor], torch.Tensor]:
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


def _make_fetch(
    dataset: Any,
    direct: tuple[list[torch.Tensor], bool] | None,
    *,
    pin: bool,
    collate_fn: Callable[[Any], Any] | None,
) -> Callable[[torch.Tensor], Any]:
    """The function that turns one index tensor into one batch (main process)."""
    if direct is not None:
        tensors, as_tuple = direct
        gathers = [_gather_fn(t, pin=pin and collate_fn is None) for t in tensors]
        if not as_tuple:
            get = gathers[0]
        elif len(gathers) == 2:
            g0, g1 = gathers
            get = lambda idx: (g0(idx), g1(idx))  # noqa: E731
        else:
            get = lambda idx: tuple(g(idx) for g in gathers)  # noqa: E731
        if collate_fn is None:
            return get
    else:
        get = dataset.__getitem__
        if collate_fn is None and not pin:
            return get
    post = collate_fn if collate_fn is not None else _identity
    if pin:
        return lambda idx: _pin(post(get(idx)))
    return lambda idx: post(get(idx))


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
    batch_size = _check_int("batch_size", batch_size, low=1, what="positive")
    if isinstance(data, TabularDataset):
        tensors = [data.features] + ([] if data.targets is None else [data.targets])
        as_tuple = data.targets is not None
    elif isinstance(data, TensorDataset):
        tensors, as_tuple = list(data.tensors), True
    elif isinstance(data, torch.Tensor):
        tensors, as_tuple = [data], False
    elif isinstance(data, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in data):
        tensors, as_tuple = list(data), True
    else:
        raise ValueError(
            "data should be a TabularDataset, a TensorDataset, a tensor or a tuple of "
            f"tensors, but got {type(data).__name__}"
        )
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


def _is_stream(dataset: Any) -> bool:
    from tabloader.datasets._stream import TabularStream

    return isinstance(dataset, TabularStream)


def _stream_loader(
    dataset: Any,
    shuffle: bool,
    drop_last: bool,
    seed: int | None,
    rank: int | None,
    world_size: int | None,
    base_seed: int,
    device: Any,
    kwargs: dict[str, Any],
    collate_fn: Callable[[Any], Any] | None,
) -> TabularLoader:
    """A loader over a tabloader stream: it yields whole batches, so no collate."""
    if device is not None:
        raise ValueError(
            f"device should be None for a stream (its batches are read from files), but got "
            f"device={str(device)!r}; move each batch with .to(device, non_blocking=True)"
        )
    if kwargs.get("persistent_workers"):
        raise ValueError(
            "persistent_workers should be False for a stream: persistent workers would not "
            "see the next epoch's order"
        )
    options: dict[str, Any] = {}
    if shuffle:
        options["shuffle"] = True
    if seed is not None:
        options["seed"] = seed
    if drop_last:
        options["drop_last"] = True
    if rank is not None or world_size is not None:
        options["rank"], options["world_size"] = rank, world_size
    configured = dataset.configure(**options) if options else dataset
    kwargs = {**kwargs, "collate_fn": collate_fn if collate_fn is not None else _identity}
    loader = TabularLoader(
        configured,
        plan=None,
        batch_size=None,  # type: ignore[arg-type]
        drop_last=False,
        fast=False,
        fetch=None,
        base_seed=base_seed,
        device=None,
        **kwargs,
    )
    loader.__dict__["_tl_batch_size"] = configured.batch_size
    loader.__dict__["_tl_drop_last"] = configured.drop_last
    # carry on from the stream's own epoch (and any resume position loaded into it)
    loader.set_epoch(configured.epoch)
    return loader
