"""Streaming datasets over CSV and Parquet files larger than memory.

A stream reads its files in *units* (a Parquet row group, a CSV byte range aligned to a
line start), converts each chunk of rows to tensors, and yields whole batches ``(X, y)``.
Units are shared out exactly over DataLoader workers and distributed ranks; see
:class:`~tabloader._plan.EpochLayout` for the arithmetic.
"""

from __future__ import annotations

import copy
import itertools
import numbers
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from tabloader._plan import EpochLayout, round_robin_counts
from tabloader._random import mix_seed
from tabloader._stats import FeatureStats
from tabloader.datasets._convert import (
    MAX_INFERRED_CLASSES,
    ColumnRef,
    ColumnSpec,
    _encode_target,
    _first_non_numeric,
    _is_numeric,
    _raise_missing,
    _sorted_unique,
    infer_task,
)
from tabloader.datasets._csv import (
    _COLUMN_RE,
    CsvOptions,
    _column_names,
    _csv_input,
    _line_of_row,
    check_same_columns,
    is_ragged_message,
    ragged_row_error,
)
from tabloader.datasets._origin import Origin
from tabloader.datasets._parquet import parquet_schema
from tabloader.datasets._source import COMPRESSED_SUFFIXES, Source, resolve_files
from tabloader.datasets._stream_convert import ChunkOrigin, Converter
from tabloader.errors import (
    EmptyDataError,
    MissingValueError,
    ParseError,
    SchemaError,
    TargetError,
)

__all__ = ["CsvStream", "ParquetStream", "TabularStream"]

_STATE_VERSION = 1


# --------------------------------------------------------------------------- units
@dataclass
class _Unit:
    file: int
    index: int  # row group (Parquet) or byte-range number (CSV)
    raw_rows: int  # data rows in the file
    rows: int  # rows after missing="drop"
    first_row: int  # data row of the file where the unit starts
    start: int = 0  # CSV: first byte; -1: the whole (compressed) file, streamed
    stop: int = 0


def _check_pos_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} should be a positive integer, but got {name}={value!r}")
    return int(value)


def _cut(chunks: Iterator[tuple[torch.Tensor, torch.Tensor | None]], sizes: list[int]):
    """Cut a stream of row chunks into batches of the given sizes (views when possible)."""
    xs: list[torch.Tensor] = []
    ys: list[torch.Tensor | None] = []
    have = 0
    for size in sizes:
        while have < size:
            X, y = next(chunks)
            if X.shape[0]:
                xs.append(X)
                ys.append(y)
                have += X.shape[0]
        if xs[0].shape[0] >= size:
            bx = xs[0][:size]
            by = None if ys[0] is None else ys[0][:size]
        else:
            take, tx, ty = size, [], []
            while take:
                m = min(take, xs[0].shape[0])
                tx.append(xs[0][:m])
                ty.append(None if ys[0] is None else ys[0][:m])
                take -= m
                if m == xs[0].shape[0]:
                    xs.pop(0)
                    ys.pop(0)
                else:
                    xs[0] = xs[0][m:]
                    ys[0] = None if ys[0] is None else ys[0][m:]
            bx = torch.cat(tx)
            by = None if ty[0] is None else torch.cat(ty)
            have -= size
            yield bx, by
            continue
        if xs[0].shape[0] == size:
            xs.pop(0)
            ys.pop(0)
        else:
            xs[0] = xs[0][size:]
            ys[0] = None if ys[0] is None else ys[0][size:]
        have -= size
        yield bx, by


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class TabularStream(IterableDataset):
    """Base class of :class:`ParquetStream` and :class:`CsvStream` (see those).

    A stream is an :class:`~torch.utils.data.IterableDataset` that yields whole batches:
    wrap it in a DataLoader with ``batch_size=None``.
    """

    #: streams yield whole batches: a DataLoader over them needs ``batch_size=None``
    yields_batches = True

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
        self.batch_size = _check_pos_int("batch_size", batch_size)
        self.shuffle_buffer = _check_pos_int("shuffle_buffer", shuffle_buffer)
        if not isinstance(shuffle, bool):
            raise ValueError(f"shuffle should be True or False, but got shuffle={shuffle!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be True or False, but got drop_last={drop_last!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"seed should be an integer or None, but got seed={seed!r}")
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
            world_size = _check_pos_int("world_size", world_size)
            if isinstance(rank, bool) or not isinstance(rank, numbers.Integral):
                rank = -1
            if not 0 <= rank < world_size:
                raise ValueError(
                    f"rank should be an integer in [0, {world_size - 1}] for "
                    f"world_size={world_size}, but got rank={rank!r}"
                )
            rank = int(rank)
        self._rank = rank
        self._world_size = world_size
        self._next_epoch = 0
        self._resume: dict | None = None
        self._pos: dict | None = None
        self._stats: FeatureStats | None = None
        # set by subclasses
        self._units: list[_Unit] = []
        self._converter: Converter
        self._columns: list[str] = []
        self.source = ""
        self.feature_names: list[str] = []
        self.target_name: str | None = None
        self.task: str | None = None
        self.classes_: np.ndarray | None = None
        self.categories_: dict[str, list] = {}
        self.fill_values_: dict[str, float] = {}
        self.n_dropped_ = 0

    # ------------------------------------------------------------------ subclass hooks
    def _read_unit(self, unit: _Unit, columns: list[str]) -> Iterator[tuple[pa.Table, int]]:
        """Raw chunks of ``unit``: ``(table, data row of the file of its first row)``."""
        raise NotImplementedError

    def _path(self, unit: _Unit) -> str:
        return self._files[unit.file]

    def _line_of(self) -> Any:
        return None

    def _origin(self, unit: _Unit, offset: int) -> ChunkOrigin:
        return ChunkOrigin(self.source, [], self._line_of(), self._path(unit), offset)

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
        if self._world_size is not None:
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
        return new

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
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"epoch should be a non-negative integer, but got epoch={epoch!r}")
        self._next_epoch = int(epoch)
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
        if info is None:
            self._next_epoch = epoch + 1
        layout = self.layout(epoch)
        counts = layout.worker_counts(nw)
        done = [0] * nw
        if self._resume is not None and self._resume["epoch"] == epoch:
            saved = list(self._resume["batches_done"])
            if any(saved):
                if len(saved) != nw:
                    raise ValueError(
                        f"the state was saved with num_workers={len(saved) if len(saved) > 1 else 0}"
                        f", so it should be resumed with the same num_workers, but got "
                        f"num_workers={nw if nw > 1 else 0}"
                    )
                done = saved
            if info is None:
                self._resume = None
        self._pos = {"epoch": epoch, "batches_done": list(done), "start": list(done)}
        return self._iterate(layout, layout.worker(w, nw), done[w], epoch, w, counts, self._pos)

    def _iterate(self, layout, plan, skip, epoch, w, counts, pos):
        sizes = plan.batch_sizes[skip:]
        skip_rows = sum(plan.batch_sizes[:skip])
        if sizes:
            if self.shuffle:
                chunks = self._shuffled_rows(layout, plan, skip_rows, epoch)
            else:
                chunks = self._rows(layout, plan.start + skip_rows, plan.stop)
            for bx, by in _cut(chunks, sizes):
                pos["batches_done"][w] += 1
                yield bx if by is None else (bx, by)
        if self._pos is pos and (pos["batches_done"] == counts or len(counts) == 1):
            # the epoch is over (in this process): a state saved now resumes the next one
            self._pos = {"epoch": epoch + 1, "batches_done": [0] * len(counts), "start": None}

    def _rows(self, layout: EpochLayout, start: int, stop: int):
        for ui, lo, hi in layout.pieces(start, stop):
            yield from self._unit_chunks(ui, lo, hi)

    def _shuffled_rows(self, layout: EpochLayout, plan, skip_rows: int, epoch: int):
        """Fill a buffer of ``shuffle_buffer`` consecutive rows, permute it, drain it.

        The rows are read in one pass over the worker's range (no unit is decoded twice);
        each buffer's permutation depends only on ``(seed, epoch, its first row)``.
        Without ``missing="drop"`` the chunks are converted straight into the buffer.
        """
        S = self.shuffle_buffer
        n_seg = plan.stop - plan.start
        i0 = skip_rows // S
        direct = self._converter.missing != "drop"
        if direct:
            source = self._raw_pieces(layout, plan.start + i0 * S, plan.stop)
        else:
            source = self._rows(layout, plan.start + i0 * S, plan.stop)
        carry = None
        for i in range(i0, -(-n_seg // S)):
            ws = plan.start + i * S
            n = min(ws + S, plan.stop) - ws
            rng = np.random.Generator(np.random.PCG64(mix_seed(self.seed, epoch, 1, ws)))
            perm = rng.permutation(n)
            X, Y = self._fill_buffer(source, carry, n, direct)
            carry = self._carry
            # np.take gathers whole rows (much faster than torch's index_select/index_copy_
            # on CPU); one gather per buffer, then the batches are views
            X = torch.from_numpy(np.take(X, perm, axis=0))
            Y = None if Y is None else torch.from_numpy(np.take(Y, perm, axis=0))
            first = skip_rows - i * S if i == i0 else 0
            yield X[first:], None if Y is None else Y[first:]

    def _fill_buffer(self, source, carry, n: int, direct: bool):
        """``n`` rows from ``source`` (raw pieces or converted chunks) as one array each."""
        conv = self._converter
        X = np.empty((n, self.n_features), dtype=np.float32) if direct else None
        Y = None
        if direct and conv.target is not None:
            Y = np.empty(n, np.int64) if conv.task == "multiclass" else np.empty((n, 1), np.float32)
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        off = 0
        while off < n:
            item = carry if carry is not None else next(source)
            carry = None
            if direct:
                table, unit, foff = item
                m = table.num_rows
                if off + m > n:
                    k = n - off
                    carry = (table.slice(k), unit, foff + k)
                    table, m = table.slice(0, k), k
                c = conv.convert(table, self._origin(unit, foff), out=X[off : off + m])
                if Y is not None:
                    Y[off : off + m] = c.y
            else:
                cx, cy = item
                m = cx.shape[0]
                if off + m > n:
                    k = n - off
                    carry = (cx[k:], None if cy is None else cy[k:])
                    cx, cy, m = cx[:k], None if cy is None else cy[:k], k
                xs.append(cx.numpy())
                if cy is not None:
                    ys.append(cy.numpy())
            off += m
        self._carry = carry
        if not direct:
            X = _concat(xs)
            Y = _concat(ys) if ys else None
        return X, Y

    def _raw_pieces(self, layout: EpochLayout, start: int, stop: int):
        """``(table, unit, data row of the file)`` for rows ``[start, stop)`` (no "drop")."""
        for ui, lo, hi in layout.pieces(start, stop):
            unit = self._units[ui]
            pos = 0
            for table, off in self._read_unit(unit, self._columns):
                n = table.num_rows
                if pos + n > lo:
                    a = max(lo - pos, 0)
                    b = min(hi - pos, n)
                    yield table.slice(a, b - a), unit, off + a
                pos += n
                if pos >= hi:
                    break

    def _unit_chunks(self, ui: int, lo: int, hi: int):
        """Converted tensors of the rows ``[lo, hi)`` (after missing="drop") of unit ``ui``."""
        unit = self._units[ui]
        conv = self._converter
        pos = 0
        if conv.missing != "drop":
            for table, off in self._read_unit(unit, self._columns):
                n = table.num_rows
                if pos + n > lo:
                    a = max(lo - pos, 0)
                    b = min(hi - pos, n)
                    c = conv.convert(table.slice(a, b - a), self._origin(unit, off + a))
                    yield torch.from_numpy(c.X), None if c.y is None else torch.from_numpy(c.y)
                pos += n
                if pos >= hi:
                    return
            return
        for table, off in self._read_unit(unit, self._columns):
            c = conv.convert(table, self._origin(unit, off))
            m = c.X.shape[0]
            if pos + m > lo:
                a = max(lo - pos, 0)
                b = min(hi - pos, m)
                X = torch.from_numpy(c.X)[a:b]
                y = None if c.y is None else torch.from_numpy(c.y)[a:b]
                yield X, y
            pos += m
            if pos >= hi:
                return

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The position within the epoch, to resume without repeating or skipping rows.

        In the process that iterates (``num_workers=0``, or inside a worker, as
        torchdata's ``StatefulDataLoader`` calls it) it counts the batches yielded so far.
        Through a DataLoader with workers, use :meth:`position` with the number of
        batches the training loop has consumed.

        Returns
        -------
        dict
            ``epoch``, ``batches_done`` (per worker) and the settings that the position
            depends on (``seed``, ``batch_size``, ``rank``, ``world_size``, ``n_rows``).
        """
        pos = {"epoch": self._next_epoch, "batches_done": [0]} if self._pos is None else self._pos
        return self._state(pos["epoch"], list(pos["batches_done"]))

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
        }

    def position(self, epoch: int, batches_done: int, num_workers: int = 0) -> dict[str, Any]:
        """The state after a DataLoader with ``num_workers`` yielded ``batches_done`` batches.

        For checkpoints of a training loop that reads the stream through worker
        processes: the loop counts the batches of the current epoch and saves
        ``stream.position(epoch, count, loader.num_workers)``; after
        ``load_state_dict`` the next iteration of that epoch yields exactly the
        remaining rows. The DataLoader must take batches from its workers in turn
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
        nw = max(int(num_workers), 1)
        layout = self.layout(epoch)
        counts = layout.worker_counts(nw)
        start = [0] * nw
        resume = self._resume
        if resume is not None and resume["epoch"] == epoch and any(resume["batches_done"]):
            start = list(resume["batches_done"])
        if len(start) != nw:
            raise ValueError(
                f"num_workers should be the one the state was saved with ({len(start)}), "
                f"but got num_workers={num_workers}"
            )
        if batches_done < 0:
            raise ValueError(
                f"batches_done should be a non-negative integer, but got {batches_done}"
            )
        done = round_robin_counts(counts, start, int(batches_done))
        if done == counts:
            return self._state(epoch + 1, [0] * nw)
        return self._state(epoch, done)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict` or :meth:`position`: the next iteration of that
        epoch yields exactly the rows not yet yielded.

        Parameters
        ----------
        state : dict
            A state saved by a stream with the same files, seed, batch size, shuffle
            settings and ranks.
        """
        if not isinstance(state, Mapping) or "epoch" not in state:
            raise ValueError(f"state should be a stream state_dict, but got {state!r}")
        mine = self._state(0, [])
        for key in (
            "seed",
            "shuffle",
            "batch_size",
            "shuffle_buffer",
            "drop_last",
            "rank",
            "world_size",
            "n_rows",
        ):
            if key in state and state[key] != mine[key]:
                raise ValueError(
                    f"state should come from a stream with the same {key}, but it has "
                    f"{key}={state[key]!r} and this stream has {key}={mine[key]!r}"
                )
        self._next_epoch = int(state["epoch"])
        self._resume = {"epoch": int(state["epoch"]), "batches_done": list(state["batches_done"])}
        self._pos = {
            "epoch": int(state["epoch"]),
            "batches_done": list(state["batches_done"]) or [0],
            "start": None,
        }

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

    # ------------------------------------------------------------------ first pass
    def _learn(
        self,
        spec: ColumnSpec,
        classes: Any,
        categories: Mapping[str, Sequence] | None,
        counted: bool,
    ) -> None:
        """Learn the encoding: classes, levels, fill values, row counts (first passes)."""
        target, features, categorical = spec.target, list(spec.features), list(spec.categorical)
        task = spec.task
        origin = Origin(self.source)
        categories = dict(categories or {})
        for c in categories:
            if c not in categorical:
                raise ValueError(
                    f"categories should only name categorical columns {categorical}, "
                    f"but got levels for {c!r}"
                )
        levels: dict[str, pa.Array] = {}
        for c, lv in categories.items():
            arr = pa.array(list(lv))
            levels[c] = arr.take(pc.sort_indices(arr))
        if target is not None and task is None and classes is not None:
            task = "binary" if len(classes) == 2 else "multiclass"
        classes_pa = None
        if classes is not None:
            if target is None:
                raise ValueError("classes should be None when target is None")
            if task == "regression":
                raise ValueError("classes should be None for task='regression'")
            arr = pa.array(list(classes))
            classes_pa = arr.take(pc.sort_indices(arr))
            if task == "binary" and len(classes_pa) != 2:
                raise TargetError(
                    f"binary target {target!r} should have exactly 2 classes, but classes= has "
                    f"{len(classes_pa)}: {classes_pa.to_pylist()[:10]}"
                )
        need_classes = target is not None and task != "regression" and classes_pa is None
        need_levels = [c for c in categorical if c not in levels]

        if need_classes or need_levels or not counted:
            cols = ([target] if need_classes else []) + need_levels
            if not cols:
                cols = [self._count_column()]
            uniq: dict[str, list[pa.Array]] = {c: [] for c in cols}
            capped = False
            per_file: dict[int, int] = {}
            for unit in self._units:
                n = 0
                unit.first_row = per_file.get(unit.file, 0)
                for table, _ in self._read_unit(unit, cols):
                    n += table.num_rows
                    for c in need_levels + ([target] if need_classes and not capped else []):
                        col = table.column(c)
                        if pa.types.is_dictionary(col.type):
                            col = col.cast(col.type.value_type)
                        col = col.drop_null()
                        if c == target and pa.types.is_floating(col.type):
                            col = col.filter(pc.is_finite(col))
                        u = pc.unique(col)
                        uniq[c].append(u.combine_chunks() if hasattr(u, "combine_chunks") else u)
                        if len(uniq[c]) > 32:
                            uniq[c] = [_merge_unique(uniq[c])]
                    if need_classes and task is None and not capped:
                        uniq[target] = [_merge_unique(uniq[target])]
                        capped = _surely_regression(uniq[target][0])
                if not counted:
                    unit.raw_rows = unit.rows = n
                per_file[unit.file] = unit.first_row + (unit.raw_rows if counted else n)
            self._check_files_nonempty(per_file)
            for c in need_levels:
                levels[c] = _sorted_unique(pa.chunked_array([_merge_unique(uniq[c])]))
            if need_classes:
                if capped:
                    task = "regression"
                else:
                    values = _merge_unique(uniq[target])
                    if task is None:
                        task = infer_task(values)
                    if task != "regression":
                        _, task, _ = _encode_target(
                            pa.chunked_array([values]), target, task, origin
                        )
                        classes_pa = _sorted_unique(pa.chunked_array([values]))
        else:
            self._check_files_nonempty(None)
        if target is not None and task is None:
            task = "regression"
        self._fix_target_type(target, task)
        n_total = sum(u.raw_rows for u in self._units)
        if n_total == 0:
            raise EmptyDataError(f"{self.source} has no data rows; expected at least one row")

        conv = Converter(features, levels, target, task, classes_pa, spec.missing)
        self._converter = conv
        self._columns = [c for c in self._all_columns if c in set(features) | {target}]
        if spec.missing in ("drop", "mean"):
            self._missing_pass(conv, spec.missing, n_total)
        self.feature_names = conv.names
        self.target_name = target
        self.task = task
        self.classes_ = (
            None if classes_pa is None else np.asarray(classes_pa.to_numpy(zero_copy_only=False))
        )
        self.categories_ = {c: levels[c].to_pylist() for c in categorical}
        self.fill_values_ = dict(conv.fill_values)

    def _missing_pass(self, conv: Converter, missing: str, n_total: int) -> None:
        F = len(conv.names)
        sums = np.zeros(F)
        counts = np.zeros(F, dtype=np.int64)
        any_bad = np.zeros(F, dtype=bool)
        dropped = 0
        for unit in self._units:
            kept = 0
            for table, off in self._read_unit(unit, self._columns):
                origin = self._origin(unit, off)
                X, cat_missing = conv.features_only(table, origin)
                y_missing = conv.target_missing(table)
                finite = np.isfinite(X)
                bad = ~finite
                if missing == "mean":
                    if y_missing.any():
                        _raise_missing(
                            bad, conv.names, y_missing, conv.target, origin, cat_missing, "mean"
                        )
                    any_bad |= bad.any(axis=0)
                    sums += np.where(finite, X, 0).sum(axis=0, dtype=np.float64)
                    counts += finite.sum(axis=0)
                    kept += table.num_rows
                else:
                    drop = bad.any(axis=1) | y_missing
                    kept += table.num_rows - int(drop.sum())
            dropped += unit.raw_rows - kept
            unit.rows = kept
        if missing == "mean":
            for jj in np.flatnonzero(any_bad):
                if counts[jj] == 0:
                    raise MissingValueError(
                        f"column {conv.names[jj]!r} in {self.source} has no finite value to "
                        "take the mean of; drop the column or use missing='drop'"
                    )
                conv.fill_values[conv.names[jj]] = float(sums[jj] / counts[jj])
        elif dropped:
            if dropped == n_total:
                raise MissingValueError(
                    f"every one of the {n_total} rows of {self.source} has a missing value, "
                    "so missing='drop' leaves nothing"
                )
            warnings.warn(
                f"missing='drop' dropped {dropped} of {n_total} rows of {self.source} "
                "that had missing values",
                UserWarning,
                stacklevel=4,
            )
        self.n_dropped_ = dropped

    def _count_column(self) -> str:
        return self._columns_needed[0]

    def _check_files_nonempty(self, per_file: dict[int, int] | None) -> None:
        return None

    def _fix_target_type(self, target: str | None, task: str | None) -> None:
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pf_cache"] = {}
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


def _merge_unique(arrays: list[pa.Array]) -> pa.Array:
    if not arrays:
        return pa.array([])
    types = {a.type for a in arrays}
    if len(types) > 1:
        arrays = [a.cast(_unify_types(types)) for a in arrays]
    u = pc.unique(pa.concat_arrays(arrays))
    return u


def _unify_types(types: set[pa.DataType]) -> pa.DataType:
    """One type for labels read with different inferred types (CSV byte ranges)."""
    if any(not _is_numeric(t) for t in types):
        return pa.string()
    if any(pa.types.is_floating(t) for t in types):
        return pa.float64()
    return pa.int64()


def _surely_regression(values: pa.Array) -> bool:
    """Whether :func:`infer_task` must say regression whatever values come later."""
    t = values.type
    if not _is_numeric(t) or pa.types.is_boolean(t):
        return False
    if len(values) > MAX_INFERRED_CLASSES:
        return True
    if pa.types.is_floating(t) and len(values):
        return not pc.all(pc.equal(pc.floor(values), values)).as_py()
    return False


_STREAM_DOC_COMMON = """
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


# --------------------------------------------------------------------------- Parquet
class ParquetStream(TabularStream):
    """Stream Parquet files larger than memory, row group by row group, as batches.

    An :class:`~torch.utils.data.IterableDataset` that yields ``(X, y)`` batches with
    the same dtypes, shapes, feature names and encodings as
    :class:`~tabloader.datasets.ParquetDataset` (``X`` alone without a target). Over
    one epoch every row is yielded exactly once across all DataLoader workers and
    distributed ranks, and every rank yields the same number of batches.

    Parameters
    ----------
    source : path, list of paths, directory or glob pattern
        Parquet files with the same columns (read in sorted path order for a directory
        or glob). Hive partition keys are not read as columns.
    target, features, categorical, task, missing
        As for :class:`~tabloader.datasets.ParquetDataset`.
    classes : sequence, optional
        The class labels of a classification target; learned in a first pass over the
        target column when omitted (so a class that first appears late is known).
    categories : dict, optional
        Levels of categorical columns (column name to labels); learned in the first pass
        for the columns not given.
    {common}
    chunk_rows : int, default 65536
        Rows decoded at a time within a row group.

    Notes
    -----
    Row counts come from the files' metadata. A first pass reads only the columns it
    needs: the target (for its classes), the categorical columns (for their levels) and,
    with ``missing="drop"`` or ``"mean"``, every feature (for the row counts and fill
    values). With ``missing="error"``, a missing value is reported when the batch that
    holds it is read, with the map-style message.
    """

    def __init__(
        self,
        source: Source,
        *,
        target: ColumnRef | None = None,
        features: Sequence[ColumnRef] | None = None,
        categorical: Sequence[ColumnRef] = (),
        task: str | None = None,
        missing: str = "error",
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        shuffle_buffer: int = 1 << 18,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        classes: Sequence | None = None,
        categories: Mapping[str, Sequence] | None = None,
        chunk_rows: int = 1 << 16,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
        )
        self.chunk_rows = _check_pos_int("chunk_rows", chunk_rows)
        spec = ColumnSpec(target, features, list(categorical or []), task, missing)
        spec.validate()
        files, base_dir, name = resolve_files(source, fmt="parquet")
        self._files = files
        self.source = name
        self._pf_cache: dict[int, tuple[int, pq.ParquetFile]] = {}
        schema = parquet_schema(files)
        self._file_columns = set(schema.names)
        # hive partition keys (key=value folders) become columns, as in ParquetDataset
        self._partitions, part_fields = _hive_partitions(files, base_dir, name)
        schema = pa.schema(list(schema) + part_fields)
        self._schema = schema
        self._all_columns = schema.names
        t, feats, cats = spec.resolve(schema.names, name)
        resolved = ColumnSpec(t, feats, cats, spec.task, spec.missing)
        self._columns_needed = resolved.needed(schema.names, name)
        units = []
        for fi in range(len(files)):
            md = self._file(fi).metadata
            first = 0
            for rg in range(md.num_row_groups):
                n = md.row_group(rg).num_rows
                units.append(_Unit(fi, rg, n, n, first))
                first += n
        self._units = units
        self._learn(resolved, classes, categories, counted=True)

    def _file(self, fi: int) -> pq.ParquetFile:
        cache = self.__dict__.setdefault("_pf_cache", {})
        hit = cache.get(fi)
        if hit is not None and hit[0] == os.getpid():
            return hit[1]
        path = self._files[fi]
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ParseError(
                f"{path} is not a readable Parquet file (corrupt or truncated: {exc}); "
                "re-write it, or remove it from the source"
            ) from exc
        cache[fi] = (os.getpid(), pf)
        return pf

    def _read_unit(self, unit: _Unit, columns: list[str]) -> Iterator[tuple[pa.Table, int]]:
        pf = self._file(unit.file)
        target_schema = pa.schema([self._schema.field(c) for c in columns])
        in_file = [c for c in columns if c in self._file_columns]
        keys = self._partitions[unit.file] if self._partitions else {}
        off = unit.first_row
        try:
            for rb in pf.iter_batches(
                batch_size=self.chunk_rows,
                row_groups=[unit.index],
                columns=in_file,
                use_threads=True,
            ):
                table = pa.Table.from_batches([rb])
                for c in columns:
                    if c in keys:
                        value = pa.scalar(keys[c], type=self._schema.field(c).type)
                        table = table.append_column(c, pa.repeat(value, rb.num_rows))
                if table.schema != target_schema:
                    table = table.select(columns).cast(target_schema)
                yield table, off
                off += rb.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise ParseError(
                f"{self._files[unit.file]} is not a readable Parquet file (corrupt data: "
                f"{exc}); re-write it, or remove it from the source"
            ) from exc


def _hive_partitions(
    files: list[str], base_dir: str | None, name: str
) -> tuple[list[dict[str, Any]], list[pa.Field]]:
    """Per file, its ``key=value`` folder values; and the key columns' fields.

    Types follow ``ParquetDataset`` (pyarrow's hive discovery): int32 when every value of
    a key is an integer, else text. Values are URI-decoded, as pyarrow does.
    """
    if base_dir is None:
        return [], []
    raw: list[dict[str, str]] = []
    for f in files:
        rel = os.path.relpath(os.path.dirname(f), base_dir)
        parts = [] if rel == "." else rel.split(os.sep)
        raw.append(dict(p.split("=", 1) for p in parts if "=" in p))
    keys = list(raw[0]) if raw else []
    if not keys:
        return [], []
    for f, kv in zip(files, raw):
        if list(kv) != keys:
            raise SchemaError(
                f"the partition folders of {name} differ: {files[0]} has keys {keys}, "
                f"{f} has {list(kv)}; every file must sit under the same key=value folders"
            )
    fields, typed = [], [dict() for _ in files]
    for k in keys:
        values = [unquote(kv[k]) for kv in raw]
        as_int = all(v.lstrip("-").isdigit() for v in values)
        fields.append(pa.field(k, pa.int32() if as_int else pa.string()))
        for d, v in zip(typed, values):
            d[k] = int(v) if as_int else v
    return typed, fields


ParquetStream.__doc__ = ParquetStream.__doc__.replace("{common}", _STREAM_DOC_COMMON.strip("\n"))


# --------------------------------------------------------------------------- CSV
def _data_start(path: str, opts: CsvOptions) -> int:
    """Byte offset of the first data line (after skipped rows, comments and the header)."""
    with open(path, "rb") as fh:
        for _ in range(opts.skip_rows):
            if not fh.readline():
                return fh.tell()
        if not opts.header:
            return fh.tell()
        c = opts.comment.encode() if opts.comment else None
        while True:
            line = fh.readline()
            if not line:
                return fh.tell()
            s = line.strip()
            if s and not (c is not None and s.startswith(c)):
                return fh.tell()


def _byte_ranges(path: str, start: int, block: int) -> list[tuple[int, int]]:
    """Split ``[start, size)`` at line starts into ranges of about ``block`` bytes."""
    size = os.path.getsize(path)
    bounds = [start]
    with open(path, "rb") as fh:
        pos = start
        while pos + block < size:
            fh.seek(pos + block - 1)
            # the next line starts after the first newline at or after pos + block - 1
            while True:
                buf = fh.read(1 << 16)
                if not buf:
                    nxt = size
                    break
                i = buf.find(b"\n")
                if i >= 0:
                    nxt = fh.tell() - len(buf) + i + 1
                    break
            if nxt >= size:
                break
            bounds.append(nxt)
            pos = nxt
    bounds.append(size)
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


class _BadCell(Exception):
    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


class CsvStream(TabularStream):
    """Stream CSV files larger than memory, byte range by byte range, as batches.

    An :class:`~torch.utils.data.IterableDataset` with the column spec, encodings and
    error messages of :class:`~tabloader.datasets.CsvDataset`; see
    :class:`ParquetStream` for the sharding and shuffling guarantees. Each file is split
    into byte ranges of about ``block_size`` bytes that start at line starts (so one
    large file is shared out among workers and ranks); compressed files are one unit each.
    Quoted fields must not contain line breaks (as for ``CsvDataset``).

    Parameters
    ----------
    source : path, list of paths, directory or glob pattern
    target, features, categorical, task, missing
        As for :class:`~tabloader.datasets.CsvDataset`.
    header, delimiter, comment, skip_rows, encoding
        As for :class:`~tabloader.datasets.CsvDataset`.
    classes, categories
        As for :class:`ParquetStream`.
    {common}
    block_size : int, default 32 MiB
        Bytes per unit.

    Notes
    -----
    The constructor parses the files once to count the rows of every byte range (and
    learn the classes and categorical levels, reading only those columns).
    """

    def __init__(
        self,
        source: Source,
        *,
        target: ColumnRef | None = None,
        features: Sequence[ColumnRef] | None = None,
        categorical: Sequence[ColumnRef] = (),
        task: str | None = None,
        missing: str = "error",
        header: bool = True,
        delimiter: str | None = None,
        comment: str | None = None,
        skip_rows: int = 0,
        encoding: str = "utf8",
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        shuffle_buffer: int = 1 << 18,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        classes: Sequence | None = None,
        categories: Mapping[str, Sequence] | None = None,
        block_size: int = 32 << 20,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
        )
        self.block_size = _check_pos_int("block_size", block_size)
        spec = ColumnSpec(target, features, list(categorical or []), task, missing)
        spec.validate()
        opts = CsvOptions(header, delimiter, comment, skip_rows, encoding)
        self.csv_options = opts
        files, _, name = resolve_files(source, fmt="csv")
        self._files = files
        self.source = name
        names = _column_names(files[0], opts)
        self._names = names
        self._all_columns = names
        t, feats, cats = spec.resolve(names, files[0])
        resolved = ColumnSpec(t, feats, cats, spec.task, spec.missing)
        self._columns_needed = resolved.needed(names, files[0])
        types: dict[str, pa.DataType] = {c: pa.float32() for c in feats if c not in cats}
        types.update({c: pa.string() for c in cats})
        if t is not None and spec.task == "regression":
            types[t] = pa.float32()
        self._types = types
        self._target = t
        units = []
        for fi, path in enumerate(files):
            these = names if fi == 0 else _column_names(path, opts)
            check_same_columns(files[0], names, path, these)
            if path.lower().endswith(COMPRESSED_SUFFIXES):
                units.append(_Unit(fi, 0, 0, 0, 0, -1, -1))
                continue
            ranges = _byte_ranges(path, _data_start(path, opts), self.block_size)
            if not ranges:
                ranges = [(0, 0)]
            for i, (a, b) in enumerate(ranges):
                units.append(_Unit(fi, i, 0, 0, 0, a, b))
        self._units = units
        self._learn(resolved, classes, categories, counted=False)

    def _line_of(self) -> Any:
        opts = self.csv_options

        def line_of(path: str, row: int) -> int | None:
            return _line_of_row(path, row, opts)

        return line_of

    def _check_files_nonempty(self, per_file: dict[int, int] | None) -> None:
        opts = self.csv_options
        for fi, path in enumerate(self._files):
            if per_file is not None and per_file.get(fi, 0) == 0:
                raise EmptyDataError(
                    f"{path} has "
                    + ("a header but " if opts.header else "")
                    + "no data rows; expected at least one row"
                )

    def _fix_target_type(self, target: str | None, task: str | None) -> None:
        if target is None or target in self._types:
            return
        if task == "regression":
            self._types[target] = pa.float32()
        elif getattr(self, "_target_types", None):
            self._types[target] = _unify_types(self._target_types)

    def _read_unit(self, unit: _Unit, columns: list[str]) -> Iterator[tuple[pa.Table, int]]:
        path = self._files[unit.file]
        opts = self.csv_options
        types = {c: t for c, t in self._types.items() if c in columns}
        if unit.start < 0:
            yield from self._read_whole(path, columns, types)
            return
        if unit.stop <= unit.start:
            return
        with pa.OSFile(path) as fh:
            data = fh.read_at(unit.stop - unit.start, unit.start)
        if opts.comment is not None:
            c = opts.comment.encode()
            data = b"".join(
                ln for ln in data.splitlines(keepends=True) if not ln.lstrip().startswith(c)
            )
        if len(data) == 0 or (len(data) < 4096 and bytes(data).isspace()):
            return
        table = self._parse(data, path, unit, columns, types)
        if self._target in columns and self._target not in self._types:
            self.__dict__.setdefault("_target_types", set()).add(table.column(self._target).type)
        yield table, unit.first_row

    def _options(self, path: str, columns: list[str], types: dict, whole: bool):
        opts = self.csv_options
        read = pacsv.ReadOptions(
            column_names=self._names,
            skip_rows=opts.skip_rows if whole else 0,
            skip_rows_after_names=1 if (whole and opts.header) else 0,
            encoding=opts.encoding,
            block_size=1 << 22,
        )
        parse = pacsv.ParseOptions(delimiter=opts.delimiter_for(path))
        convert = pacsv.ConvertOptions(
            include_columns=list(columns), column_types=types, strings_can_be_null=True
        )
        return read, parse, convert

    def _parse(self, data: bytes, path: str, unit: _Unit, columns, types) -> pa.Table:
        types = dict(types)
        for _ in range(2):
            try:
                return self._parse_once(data, path, columns, types)
            except _BadCell as bad:
                col = bad.column
                if col == self._target and types.get(col) != pa.string():
                    types[col] = pa.string()  # labels whose inferred type broke: read as text
                    continue
                if types.get(col) == pa.float32():
                    text = self._parse_once(data, path, [col], {col: pa.string()}).column(col)
                    row, value = _first_non_numeric(text)
                    row += unit.first_row
                    line = _line_of_row(path, row, self.csv_options)
                    raise ParseError(
                        f"column {col!r} in {path} should be numeric, but row {row}"
                        + (f" (line {line})" if line else "")
                        + f" has {value!r}; pass categorical=[{col!r}] to one-hot encode it, "
                        "or fix the cell"
                    ) from bad.__cause__
                raise ParseError(
                    f"could not parse column {col!r} of {path}: {bad.__cause__}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse_once(self, data: Any, path: str, columns, types) -> pa.Table:
        read, parse, convert = self._options(path, columns, types, whole=False)
        try:
            return pacsv.read_csv(
                pa.BufferReader(data),
                read_options=read,
                parse_options=parse,
                convert_options=convert,
            )
        except pa.ArrowInvalid as exc:
            raise self._explain(exc, path) from exc

    def _explain(self, exc: Exception, path: str) -> Exception:
        opts = self.csv_options
        names = self._names
        msg = str(exc)
        if is_ragged_message(msg):
            return ragged_row_error(path, opts, len(names))
        m = _COLUMN_RE.search(msg)
        if m is not None and int(m.group(1)) < len(names):
            return _BadCell(names[int(m.group(1))])
        return ParseError(f"could not parse {path} as CSV: {msg}")

    def _read_whole(self, path: str, columns, types) -> Iterator[tuple[pa.Table, int]]:
        """A compressed file, streamed block by block with ``pyarrow.csv.open_csv``."""
        read, parse, convert = self._options(path, columns, types, whole=True)
        src = _csv_input(path, self.csv_options)
        if isinstance(src, str):
            src = pa.input_stream(src, compression="detect")
        off = 0
        try:
            reader = pacsv.open_csv(
                src, read_options=read, parse_options=parse, convert_options=convert
            )
            for rb in reader:
                table = pa.Table.from_batches([rb])
                if self._target in columns and self._target not in self._types:
                    self.__dict__.setdefault("_target_types", set()).add(
                        table.column(self._target).type
                    )
                yield table, off
                off += rb.num_rows
        except pa.ArrowInvalid as exc:
            err = self._explain(exc, path)
            if isinstance(err, _BadCell):
                col = err.column
                whole = pacsv.read_csv(
                    _csv_input(path, self.csv_options),
                    read_options=read,
                    parse_options=parse,
                    convert_options=pacsv.ConvertOptions(
                        include_columns=[col], column_types={col: pa.string()}
                    ),
                ).column(col)
                row, value = _first_non_numeric(whole)
                raise ParseError(
                    f"column {col!r} in {path} should be numeric, but row {row} has {value!r}; "
                    f"pass categorical=[{col!r}] to one-hot encode it, or fix the cell"
                ) from exc
            raise err from exc


CsvStream.__doc__ = CsvStream.__doc__.replace("{common}", _STREAM_DOC_COMMON.strip("\n"))
