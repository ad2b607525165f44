"""The loader of a tabloader stream: the stream plans and builds its own batches.

:class:`StreamLoader` counts the batches its iterator hands out, so that its position
(``loader.state_dict()``, and the ``state_dict()`` of the stream given to
:func:`make_loader`) is exact with worker processes and with a configured copy of the
stream (``shuffle=``, ``seed=``, ``rank=``, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tabloader.datasets import TabularStream
from tabloader.loaders._dataloader import TabularLoader
from tabloader.loaders._fetch import identity
from tabloader.loaders._options import LoaderOptions

__all__ = ["StreamLoader", "stream_batch_size", "stream_loader"]


def stream_batch_size(stream: TabularStream, batch_size: Any) -> int:
    """The stream's ``batch_size``; ``ValueError`` if ``batch_size`` is another one."""
    if batch_size is not None and batch_size != stream.batch_size:
        raise ValueError(
            f"batch_size should be None or the stream's batch_size={stream.batch_size}, "
            f"but got batch_size={batch_size!r}; a stream builds its own batches: "
            "set batch_size when creating the stream"
        )
    return stream.batch_size


class _Counted:
    """A DataLoader iterator that counts the batches it hands out into its loader."""

    def __init__(self, it: Iterator[Any], loader: StreamLoader) -> None:
        self._it, self._loader = it, loader

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> Any:
        batch = next(self._it)
        self._loader._taken += 1
        return batch

    def __len__(self) -> int:
        return len(self._it)  # type: ignore[arg-type]


class StreamLoader(TabularLoader):
    """A :class:`TabularLoader` over a stream that knows its position in the epoch.

    :meth:`state_dict` is the position after the batches its latest iterator handed out
    (whatever ``num_workers``), and the ``state_dict()`` of the stream given to
    :func:`make_loader` returns it too.
    """

    _taken = 0  # batches handed out in the current epoch (None before the first iter)
    _iterated = False

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        it = super().__iter__()  # starts the epoch (and, in-process, the stream's read)
        self._taken, self._iterated = 0, True
        return _Counted(it, self)

    def state_dict(self) -> dict[str, Any]:
        """The position: the state to resume from after the batches handed out so far.

        Returns
        -------
        dict
            A stream state (see :meth:`TabularStream.state_dict`), for
            ``stream.load_state_dict`` or :meth:`load_state_dict`.
        """
        stream: TabularStream = self.dataset  # type: ignore[assignment]
        if not self._iterated:  # the position the next iteration starts from
            return stream.position(self._next_epoch, 0, self.num_workers)
        if self.num_workers == 0:  # the stream counted what it yielded here
            return stream.state_dict()
        return stream.position(self.epoch, self._taken, self.num_workers)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume: the next iteration yields the rest of the state's epoch.

        Parameters
        ----------
        state : dict
            From :meth:`state_dict` (or a stream's), saved with the same ``num_workers``.
        """
        stream: TabularStream = self.dataset  # type: ignore[assignment]
        stream.load_state_dict(state)
        self.set_epoch(stream.epoch)
        self._iterated = False


def stream_loader(stream: TabularStream, opts: LoaderOptions) -> StreamLoader:
    """A loader over ``stream`` (or a copy configured by ``opts``); it yields whole batches.

    ``shuffle=True``, ``seed``, ``drop_last=True``, ``rank`` and ``world_size`` override
    the stream's own settings (in the copy); the loader starts at the stream's epoch (and
    any position loaded into it). When the loader reads a copy, or reads in worker
    processes, the stream's ``state_dict()`` is the loader's position from then on
    (until the stream is iterated itself or loads a state).
    """
    if opts.device is not None:
        raise ValueError(
            f"device should be None for a stream (its batches are read from files), but got "
            f"device={str(opts.device)!r}; move each batch with .to(device, non_blocking=True)"
        )
    if opts.persistent_workers:
        raise ValueError(
            "persistent_workers should be False for a stream (persistent workers would not "
            "see the next epoch's order), but got persistent_workers=True"
        )
    options: dict[str, Any] = {}
    if opts.shuffle:
        options["shuffle"] = True
    if opts.seed is not None:
        options["seed"] = opts.seed
    if opts.drop_last:
        options["drop_last"] = True
    if opts.rank is not None:
        options["rank"], options["world_size"] = opts.rank, opts.world_size
    configured = stream.configure(**options) if options else stream
    collate = opts.collate_fn if opts.collate_fn is not None else identity
    loader = StreamLoader(
        configured,
        batch_size=configured.batch_size,
        drop_last=configured.drop_last,
        base_seed=opts.base_seed,
        whole_batches=True,
        collate_fn=collate,
        **opts.dataloader_kwargs(),
    )
    # carry on from the stream's own epoch (and any resume position loaded into it; one
    # saved on an epoch's last batch is already the next epoch's start)
    loader.set_epoch(configured.epoch)
    # the stream's position is the loader's, unless the loader reads the stream itself
    # in this process (then the stream counts its own batches exactly)
    follows = configured is not stream or opts.num_workers > 0
    stream._follow(loader if follows else None)
    return loader
