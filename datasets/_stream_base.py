"""The streaming dataset's common part: options, epochs, resumable state, statistics.

A stream reads its files in *units* (a Parquet row group, a CSV byte range aligned to a
line start), converts each chunk of rows with the one converter, and yields whole batches
``(X, y)``. Units are shared out exactly over DataLoader workers and distributed ranks; see
:class:`~tabloader._plan.EpochLayout` for the arithmetic.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from tabloader._checks import check_bool, check_int, type_error
from tabloader._plan import EpochLayout
from tabloader._stats import FeatureStats
from tabloader.datasets._convert import Converter
from tabloader.datasets._encoding import Encoding
from tabloader.datasets._fingerprint import check_unchanged, same_files
from tabloader.datasets._origin import ChunkOrigin
from tabloader.datasets._stream_rows import StreamRows, Unit, cut
from tabloader.datasets._stream_state import (
    CONFIGURABLE,
    check_settings,
    next_worker,
    read_state,
    rotated_round_robin,
)

__all__ = ["STREAM_DOC_COMMON", "TabularStream"]

_STATE_VERSION = 2  # 2: with the files' fingerprints


class TabularStream(StreamRows, IterableDataset):
    """Base class of :class:`ParquetStream` and :class:`CsvStream` (see those).

    A stream is an :class:`~torch.utils.data.IterableDataset` that yields whole batches:
    wrap it in a DataLoader with ``batch_size=None``.
    """

    #: streams yield whole batches: a DataLoader over them needs ``batch_size=None``
    yields_batches = True
    #: whether the files' fingerprints include the Parquet footer
    _parquet_footer = False

    def __init__(
        self,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int | None,
        shuffle_buffer: int,
        drop_last: bool,
        rank: int | None,
        world_size: int | None,
    ) -> None:
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.shuffle_buffer = check_int("shuffle_buffer", shuffle_buffer, low=1)
        check_bool("shuffle", shuffle)
        check_bool("drop_last", drop_last)
        seed = check_int("seed", seed, none_ok=True)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self._seed_given = seed is not None
        self.seed = (
            int(seed) if seed is not None else int(torch.empty((), dtype=torch.int64).random_())
        )
        if (rank is None) != (world_size is None):
            raise ValueError(
                f"rank and world_size should be given together, but got rank={rank!r} and "
                f"world_size={world_size!r}"
            )
        if world_size is not None:
            world_size = check_int("world_size", world_size, low=1)
            what = f"an integer in [0, {world_size - 1}] for world_size={world_size}"
            rank = check_int("rank", rank, low=0, high=world_size - 1, expected=what)
        self._rank = rank
        self._world_size = world_size
        self._next_epoch = 0
        self._resume: dict | None = None
        self._pos: dict | None = None
        # the loader whose position is this stream's (see _follow), and the fingerprints
        # of the files, taken when the units are planned (see first_pass)
        self._loader: Any = None
        self._fingerprints: list[dict[str, Any]] = []
        self._stats: FeatureStats | None = None
        # set by subclasses
        self._units: list[Unit] = []
        self._columns: list[str] = []
        self._all_columns: list[str] = []
        self._columns_needed: list[str] = []
        self._files: list[str] = []
        self.source = ""
        self.feature_names: list[str] = []
        self.target_name: str | None = None
        self.task: str | None = None
        self.classes_: np.ndarray | None = None
        self.categories_: dict[str, list] = {}
        self.fill_values_: dict[str, float] = {}
        self.n_dropped_ = 0

    # ------------------------------------------------------------------ properties
    @property
    def n_features(self) -> int:
        """Number of feature columns ``F`` (after one-hot encoding)."""
        return len(self.feature_names)

    @property
    def n_classes(self) -> int | None:
        """Number of classes of a classification task, else ``None``."""
        return None if self.classes_ is None else len(self.classes_)

    @property
    def n_rows(self) -> int:
        """Rows per epoch over all ranks (after ``missing="drop"``)."""
        return sum(u.rows for u in self._units)

    @property
    def n_units(self) -> int:
        """Units of work (row groups or CSV byte ranges) that are shared out."""
        return len(self._units)

    @property
    def epoch(self) -> int:
        """The epoch the next iteration produces."""
        return self._next_epoch

    def distributed(self) -> tuple[int, int]:
        """``(rank, world_size)``: as given, else from an initialised ``torch.distributed``."""
        if self._world_size is not None and self._rank is not None:
            return self._rank, self._world_size
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def configure(self, **options: Any) -> TabularStream:
        """A shallow copy with other iteration options (for :func:`make_loader`).

        The files, encodings and first-pass results are shared; the epoch counter and
        any resume position are kept.

        Parameters
        ----------
        **options
            Any of ``batch_size``, ``shuffle``, ``seed``, ``shuffle_buffer``,
            ``drop_last``, ``rank`` with ``world_size``.

        Returns
        -------
        TabularStream
        """
        allowed = (
            "batch_size",
            "shuffle",
            "seed",
            "shuffle_buffer",
            "drop_last",
            "rank",
            "world_size",
        )
        bad = sorted(set(options) - set(allowed))
        if bad:
            raise ValueError(f"options should be among {list(allowed)}, but got {bad}")
        args = {
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "seed": self.seed if self._seed_given else None,
            "shuffle_buffer": self.shuffle_buffer,
            "drop_last": self.drop_last,
            "rank": self._rank,
            "world_size": self._world_size,
        }
        args.update(options)
        probe = TabularStream(**args)
        new = copy.copy(self)
        for k in ("batch_size", "shuffle", "shuffle_buffer", "drop_last", "_rank", "_world_size"):
            setattr(new, k, getattr(probe, k))
        if "seed" in options:
            new.seed, new._seed_given = probe.seed, probe._seed_given
        new._pos = None  # the copy has not yielded anything yet
        new._loader = None
        return new

    def _follow(self, loader: Any) -> None:
        """Make ``loader.state_dict()`` this stream's state (``None``: its own again).

        :func:`~tabloader.loaders.make_loader` calls it when the loader reads a configured
        copy of this stream, or reads it in worker processes: then the position is the
        loader's, not what this object yielded.
        """
        self._loader = loader

    # ------------------------------------------------------------------ epochs
    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce epoch ``epoch`` (its own seeded order).

        A resume position loaded with :meth:`load_state_dict` stays in force when
        ``epoch`` is the epoch it was saved in.

        Parameters
        ----------
        epoch : int
            A non-negative epoch number.
        """
        epoch = check_int("epoch", epoch, low=0)
        self._next_epoch = epoch
        if self._resume is not None and self._resume["epoch"] != epoch:
            self._resume = None

    def layout(self, epoch: int | None = None) -> EpochLayout:
        """The plan of one epoch for this rank (see :class:`EpochLayout`)."""
        rank, ws = self.distributed()
        if self.shuffle and ws > 1 and not self._seed_given:
            raise ValueError(
                "seed should be an integer when shuffle=True and world_size > 1 (every rank "
                "must draw the same order), but got seed=None"
            )
        return EpochLayout(
            np.array([u.rows for u in self._units], dtype=np.int64),
            epoch=self._next_epoch if epoch is None else epoch,
            shuffle=self.shuffle,
            seed=self.seed,
            batch_size=self.batch_size,
            drop_last=self.drop_last,
            rank=rank,
            world_size=ws,
        )

    def __len__(self) -> int:
        """Batches this rank yields per epoch (the same on every rank)."""
        return self.layout(0).k

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        w, nw = (0, 1) if info is None else (info.id, info.num_workers)
        epoch = self._next_epoch
        layout = self.layout(epoch)
        counts = layout.worker_counts(nw)
        done = self._start(epoch, nw)  # (a refused state stays loaded)
        self._check_files(f", noticed at the start of epoch {epoch}")
        if info is None:
            self._next_epoch = epoch + 1
            self._loader = None  # iterated here: its own position from now on
            self._resume = None
        # after a resume, DataLoader worker w reads the range of worker (w + r) % nw, so
        # that the turns go on where the interrupted run stopped (see _stream_state)
        lw = (w + next_worker(counts, done)) % nw
        self._pos = {"epoch": epoch, "batches_done": list(done), "start": list(done)}
        return self._iterate(layout, layout.worker(lw, nw), done[lw], epoch, lw, counts, self._pos)

    def _start(self, epoch: int, nw: int) -> list[int]:
        """Batches done per worker when epoch ``epoch`` starts (from a loaded state)."""
        resume = self._resume
        if resume is None or resume["epoch"] != epoch or not any(resume["batches_done"]):
            return [0] * nw
        check_settings(resume["settings"], self._state(0, []), CONFIGURABLE)
        saved = list(resume["batches_done"])
        if len(saved) != nw:
            raise ValueError(
                f"the state was saved with num_workers={len(saved) if len(saved) > 1 else 0}"
                f", so it should be resumed with the same num_workers, but got "
                f"num_workers={nw if nw > 1 else 0}"
            )
        return saved

    def _check_files(self, during: str = "") -> None:
        """Raise :class:`DataChangedError` when a file changed since the stream planned."""
        for fp in self._fingerprints:
            check_unchanged(fp, during=during)

    def _iterate(
        self,
        layout: EpochLayout,
        plan: Any,
        skip: int,
        epoch: int,
        w: int,
        counts: list[int],
        pos: dict[str, Any],
    ) -> Iterator[Any]:
        sizes = plan.batch_sizes[skip:]
        skip_rows = sum(plan.batch_sizes[:skip])
        if sizes:
            if self.shuffle:
                chunks = self._shuffled_rows(layout, plan, skip_rows, epoch)
            else:
                chunks = self._rows(layout, plan.start + skip_rows, plan.stop)
            for bx, by in cut(chunks, sizes):
                pos["batches_done"][w] += 1
                yield bx if by is None else (bx, by)
        if self._pos is pos and (pos["batches_done"] == counts or len(counts) == 1):
            # the epoch is over (in this process): a state saved now resumes the next one
            self._pos = {"epoch": epoch + 1, "batches_done": [0] * len(counts), "start": None}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The position within the epoch, to resume without repeating or skipping rows.

        It is the position of what this stream yielded in this process (``num_workers=0``,
        or inside a worker, as torchdata's ``StatefulDataLoader`` calls it), or, after
        :func:`~tabloader.loaders.make_loader` built a loader over a configured copy of it
        (``shuffle=``, ``seed=``, ``rank=``, ...) or with ``num_workers > 0``, the
        position of that loader (the batches its iterator handed out). Taken on an
        epoch's last batch, it is the start of the next epoch.

        Returns
        -------
        dict
            JSON-safe: ``epoch``, ``batches_done`` (per worker), the settings that the
            position depends on (``seed``, ``shuffle``, ``batch_size``, ``shuffle_buffer``,
            ``drop_last``, ``rank``, ``world_size``, ``n_rows``) and ``files`` (each
            file's path, size, modification time and, for Parquet, footer).
        """
        if self._loader is not None:
            return dict(self._loader.state_dict())
        pos: dict[str, Any] = self._pos or {"epoch": self._next_epoch, "batches_done": [0]}
        epoch, done = pos["epoch"], list(pos["batches_done"])
        if any(done) and done == self.layout(epoch).worker_counts(len(done)):
            epoch, done = epoch + 1, [0] * len(done)  # on the last batch: the next epoch
        return self._state(epoch, done)

    def _state(self, epoch: int, done: list[int]) -> dict[str, Any]:
        rank, ws = self.distributed()
        return {
            "version": _STATE_VERSION,
            "epoch": int(epoch),
            "batches_done": [int(d) for d in done],
            "seed": self.seed,
            "shuffle": self.shuffle,
            "batch_size": self.batch_size,
            "shuffle_buffer": self.shuffle_buffer,
            "drop_last": self.drop_last,
            "rank": rank,
            "world_size": ws,
            "n_rows": self.n_rows,
            "files": [dict(fp) for fp in self._fingerprints],
        }

    def position(self, epoch: int, batches_done: int, num_workers: int = 0) -> dict[str, Any]:
        """The state after a DataLoader with ``num_workers`` yielded ``batches_done`` batches.

        For checkpoints of a training loop that reads the stream through worker
        processes: the loop counts the batches of the current epoch and saves
        ``stream.position(epoch, count, loader.num_workers)`` (a loader from
        :func:`~tabloader.loaders.make_loader` does this count itself:
        ``loader.state_dict()``); after ``load_state_dict`` the next iteration of that
        epoch yields exactly the remaining rows, in the order the interrupted run would
        have yielded them. The DataLoader must take batches from its workers in turn
        (the default ``in_order=True``).

        Parameters
        ----------
        epoch : int
            The epoch being read.
        batches_done : int
            Batches consumed in this epoch, counted from the (possibly resumed) start.
        num_workers : int, default 0

        Returns
        -------
        dict
            A state for :meth:`load_state_dict`.
        """
        check_int("epoch", epoch, low=0)
        batches_done = check_int("batches_done", batches_done, low=0)
        nw = max(check_int("num_workers", num_workers, low=0), 1)
        counts = self.layout(epoch).worker_counts(nw)
        start = self._start(epoch, nw)  # from a loaded state, else zeros
        done = rotated_round_robin(counts, start, batches_done)
        if done == counts:
            return self._state(epoch + 1, [0] * nw)
        return self._state(epoch, done)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict` or :meth:`position`: the next iteration of that
        epoch yields exactly the rows not yet yielded.

        Parameters
        ----------
        state : dict
            A state saved by a stream over the same files (the same paths, in the same
            order, with the same sizes, modification times and Parquet footers) with the
            same batch size and shuffle buffer. Its ``seed``, ``shuffle``, ``drop_last``,
            ``rank`` and ``world_size`` must be those of the stream that reads it (this
            one, or the copy that ``make_loader`` configures), checked when it is read.

        Raises
        ------
        ValueError
            A malformed state (``epoch`` negative, ``batches_done`` not one count per
            worker within the epoch's batches) or other fixed settings.
        DataChangedError
            The state was saved over other files or other contents of them.
        """
        if isinstance(state, Mapping) and "files" in state:  # first: it names what differs
            files = state["files"]
            if not isinstance(files, list) or not all(isinstance(f, Mapping) for f in files):
                raise type_error("state['files']", "a list of file fingerprints (dicts)", files)
            same_files(files, self._fingerprints)
        mine = self._state(0, [])
        epoch, done = read_state(state, np.array([u.rows for u in self._units]), mine)
        settings = {k: state[k] for k in CONFIGURABLE if k in state}
        self._next_epoch = epoch
        self._resume = {"epoch": epoch, "batches_done": done, "settings": settings}
        self._pos = {"epoch": epoch, "batches_done": list(done), "start": None}
        self._loader = None

    # ------------------------------------------------------------------ statistics
    def feature_stats(self) -> FeatureStats:
        """Exact mean and variance of every feature over all rows, in one streaming pass.

        Computed once (then cached) over every row of every file, whatever the rank;
        chunk statistics are merged in float64 with Chan et al.'s parallel algorithm.

        Returns
        -------
        FeatureStats
            ``count``, ``mean``, ``var`` (``ddof=0``) and ``std``, float64 ``[F]``.
        """
        if self._stats is None:
            stats = FeatureStats.empty(self.n_features)
            for ui, unit in enumerate(self._units):
                for X, _ in self._unit_chunks(ui, 0, unit.rows):
                    stats = stats.merge(FeatureStats.of(X))
            self._stats = stats
        return self._stats

    # ------------------------------------------------------------------ first pass hooks
    def _check_files_nonempty(self, per_file: dict[int, int] | None) -> None:
        """Raise for a file without data rows (``per_file``: rows per file, when counted)."""
        return None

    def _precision_columns(self, columns: list[str], dtype: np.dtype) -> list[str]:
        """The numeric features whose integers the first pass counts (``_precision.py``):
        all of them, unless the files' statistics rule some out."""
        return columns

    def _fix_types(self, enc: Encoding) -> None:
        """Fix the types the target and categorical columns are read with from now on."""
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pf_cache"] = {}
        state["_loader"] = None  # a worker's copy counts its own batches
        return state

    def __repr__(self) -> str:
        parts = [f"n_rows={self.n_rows}", f"n_features={self.n_features}"]
        if self.task is not None:
            parts.append(f"task={self.task!r}")
        if self.target_name is not None:
            parts.append(f"target={self.target_name!r}")
        parts += [f"batch_size={self.batch_size}", f"shuffle={self.shuffle}"]
        parts.append(f"source={self.source!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ------------------------------------------------------------------ encoding
    def _set_encoding(self, enc: Encoding, n_dropped: int) -> None:
        """Adopt the encoding learned by the first pass (and its converter)."""
        self._converter = Converter(enc)
        self.feature_names = self._converter.names
        self.target_name = enc.target
        self.task = enc.task
        self.classes_ = enc.classes_array()
        self.categories_ = enc.categories
        self.fill_values_ = dict(enc.fill_values)
        self.n_dropped_ = n_dropped

    def _path(self, unit: Unit) -> str:
        return self._files[unit.file]

    def _line_of(self) -> Any:
        return None

    def _origin(self, unit: Unit, offset: int) -> ChunkOrigin:
        return ChunkOrigin(self.source, [], self._line_of(), self._path(unit), offset)


STREAM_DOC_COMMON = """
    batch_size : int
        Rows per batch. The stream yields whole batches: a DataLoader over it needs
        ``batch_size=None`` (``make_loader`` does that).
    shuffle : bool, default False
        A new seeded order every epoch: the units (row groups, byte ranges) in a random
        order, then rows mixed through a buffer of ``shuffle_buffer`` rows.
    seed : int, optional
        Seed of the epoch orders; needed when several ranks shuffle. ``None`` draws one.
    shuffle_buffer : int, default 262144
        Rows permuted together: the buffer is filled with that many consecutive rows of
        the epoch's unit order, permuted uniformly and drained. Memory is about
        ``shuffle_buffer * n_features * 4`` bytes.
    drop_last : bool, default False
        Yield only full batches (``floor(N / world_size) // batch_size`` per rank) and
        leave the rest of each epoch unread.
    rank, world_size : int, optional
        This process's share of the rows; from ``torch.distributed`` when it is
        initialised and both are None.
"""
