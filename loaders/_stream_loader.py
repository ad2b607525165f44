"""The loader of a tabloader stream: the stream plans and builds its own batches."""

from __future__ import annotations

from typing import Any

from tabloader.datasets import TabularStream
from tabloader.loaders._dataloader import TabularLoader
from tabloader.loaders._fetch import identity
from tabloader.loaders._options import LoaderOptions

__all__ = ["stream_batch_size", "stream_loader"]


def stream_batch_size(stream: TabularStream, batch_size: Any) -> int:
    """The stream's ``batch_size``; ``ValueError`` if ``batch_size`` is another one."""
    if batch_size is not None and batch_size != stream.batch_size:
        raise ValueError(
            f"batch_size should be None or the stream's batch_size={stream.batch_size}, "
            f"but got batch_size={batch_size!r}; a stream builds its own batches: "
            "set batch_size when creating the stream"
        )
    return stream.batch_size


def stream_loader(stream: TabularStream, opts: LoaderOptions) -> TabularLoader:
    """A loader over a copy of ``stream`` configured by ``opts``; it yields whole batches.

    ``shuffle=True``, ``seed``, ``drop_last=True``, ``rank`` and ``world_size`` override
    the stream's own settings (in the copy); the loader starts at the stream's epoch.
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
    loader = TabularLoader(
        configured,
        batch_size=configured.batch_size,
        drop_last=configured.drop_last,
        base_seed=opts.base_seed,
        whole_batches=True,
        collate_fn=collate,
        **opts.dataloader_kwargs(),
    )
    # carry on from the stream's own epoch (and any resume position loaded into it)
    loader.set_epoch(_resume_epoch(configured, opts.num_workers))
    return loader


def _resume_epoch(stream: TabularStream, num_workers: int) -> int:
    """The epoch the loader starts: the stream's, or the next one when a position loaded
    into the stream is at the end of its epoch (a state saved on the epoch's last batch),
    so that resuming does not start with an empty iteration."""
    epoch = stream.epoch
    try:
        # the position after 0 more batches: the next epoch's start when none are left
        after = stream.position(epoch, 0, num_workers)
    except ValueError:
        return epoch  # saved with other num_workers: the iteration says so
    if after["epoch"] > epoch and stream.layout(epoch).k > 0:  # not an empty epoch
        stream.set_epoch(after["epoch"])  # drops the finished position
    return stream.epoch
