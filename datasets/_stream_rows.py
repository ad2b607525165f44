"""How a stream turns its units into batches: in order, or through the shuffle buffer.

The pipeline of one epoch (of one worker): a reader thread reads the raw Arrow chunks of
the worker's units (pyarrow decodes without the GIL) at most ``READ_AHEAD_CHUNKS`` chunks
ahead, while the iterating thread converts the chunk before (the one converter) and cuts
it into batches: views of the converted chunk (one ``split`` per chunk), a batch across two
chunks copied once. Shuffled, the converted rows fill a buffer that is reused for the
whole epoch, and each group of batches is gathered from it with its slice of the
buffer's permutation (one gather per row, no copy of the whole buffer).
"""

from __future__ import annotations

import itertools
import queue
import threading
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from tabloader._plan import EpochLayout
from tabloader._random import numpy_generator
from tabloader.datasets._convert import Converter
from tabloader.datasets._fingerprint import check_unchanged, read_checked
from tabloader.datasets._origin import ChunkOrigin
from tabloader.errors import DataChangedError

__all__ = ["READ_AHEAD_CHUNKS", "Prefetch", "StreamRows", "Unit", "cut"]

Chunk = tuple[torch.Tensor, torch.Tensor | None]
#: ``(unit index, lo, hi, table, data row of the file of its first row)``: a raw chunk of
#: the rows ``lo:hi`` of a unit; ``table`` None marks the end of a unit (``missing="drop"``)
Raw = tuple[int, int, int, pa.Table | None, int]

#: raw chunks the reader thread may hold beyond the one being converted
READ_AHEAD_CHUNKS = 3
#: bytes of rows gathered from the shuffle buffer at a time (cache-sized)
GATHER_BYTES = 1 << 20

_FEWER = (
    "the stream's files gave fewer rows than it planned: a data file changed since the "
    "stream was planned; create the stream again"
)


@dataclass
class Unit:
    file: int
    index: int  # row group (Parquet) or byte-range number (CSV)
    raw_rows: int  # data rows in the file
    rows: int  # rows after missing="drop"
    first_row: int  # data row of the file where the unit starts
    start: int = 0  # CSV: first byte; -1: the whole (compressed) file, streamed
    stop: int = 0


def cut(chunks: Iterator[Chunk], sizes: list[int]) -> Iterator[Chunk]:
    """Cut a stream of row chunks into batches of the given sizes.

    The batches that lie within one chunk are views of it (one ``split`` per chunk); a
    batch across chunks is copied once into its own tensors. ``chunks`` is closed at the
    end (so a reader thread behind it stops).
    """
    ends = list(itertools.accumulate(sizes))
    i = pos = fill = 0  # next batch, rows taken, rows of the batch being assembled
    px: torch.Tensor | None = None
    py: torch.Tensor | None = None
    try:
        while i < len(sizes):
            item = next(chunks, None)
            if item is None:  # (a unit reports its own short read first)
                raise DataChangedError(_FEWER)
            X, y = item
            m, a = X.shape[0], 0
            if px is not None:  # finish the batch across chunks
                a = min(ends[i] - pos, m)
                px[fill : fill + a] = X[:a]
                if py is not None and y is not None:
                    py[fill : fill + a] = y[:a]
                fill, pos = fill + a, pos + a
                if pos == ends[i]:
                    yield px, py
                    px = py = None
                    i += 1
            j = bisect_right(ends, pos + m - a, lo=i)  # the batches that end in this chunk
            if j > i:
                span, part = ends[j - 1] - pos, sizes[i:j]
                xs = X[a : a + span].split(part)
                if y is None:
                    yield from zip(xs, itertools.repeat(None))
                else:
                    yield from zip(xs, y[a : a + span].split(part))
                a, pos, i = a + span, pos + span, j
            if a < m and i < len(sizes):  # the start of a batch across chunks
                px = X.new_empty((sizes[i], *X.shape[1:]))
                py = None if y is None else y.new_empty((sizes[i], *y.shape[1:]))
                fill = m - a
                px[:fill] = X[a:]
                if py is not None and y is not None:
                    py[:fill] = y[a:]
                pos += fill
    finally:
        _close(chunks)


def _close(items: Iterator[Any]) -> None:
    """Close ``items`` if it can be (a generator: its ``finally`` blocks run now)."""
    close = getattr(items, "close", None)
    if close is not None:
        close()


class Prefetch:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead.

    The items, and an exception that ends them, come out in order where they are
    iterated; :meth:`close` (or the end of the items) stops the thread, which then
    closes ``items`` itself (a generator's ``finally`` runs in the thread that runs it).
    """

    def __init__(self, items: Iterator[Any], depth: int = READ_AHEAD_CHUNKS) -> None:
        self._items = items
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(max(1, depth))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="tabloader-stream-reader")
        self._thread.daemon = True
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._offer(("item", item)):
                    return
            self._offer(("end", None))
        except BaseException as exc:  # raised where the items are iterated
            self._offer(("error", exc))
        finally:
            _close(self._items)

    def _offer(self, message: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Prefetch:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        kind, payload = self._queue.get()
        if kind == "item":
            return payload
        self._done = True
        if kind == "error":
            raise payload
        raise StopIteration

    def close(self) -> None:
        """Stop the thread and drop what it read ahead."""
        self._done = True
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


def _gather_rows(row_bytes: int, batch: int) -> int:
    """Rows per gather from the shuffle buffer: whole batches, about ``GATHER_BYTES``."""
    return max(batch, GATHER_BYTES // max(row_bytes, 1) // batch * batch)


def gathered(
    X: np.ndarray,
    Y: np.ndarray | None,
    perm: np.ndarray,
    first: int,
    phase: int,
    group: int,
    batch: int,
) -> Iterator[Chunk]:
    """The rows ``perm[first:]`` of a filled shuffle buffer, gathered ``group`` rows at a
    time; group ends fall on batch boundaries (at ``phase`` modulo ``batch``), so that
    batches are views of one gathered group."""
    n = len(perm)
    a = first
    while a < n:
        e = min(n, phase + -(-(a + group - phase) // batch) * batch)
        idx = perm[a:e]
        # np.take gathers whole rows (much faster than torch's index_select on CPU)
        gx = torch.from_numpy(np.take(X, idx, axis=0))
        yield gx, None if Y is None else torch.from_numpy(np.take(Y, idx, axis=0))
        a = e


class StreamRows:
    """The row readers of :class:`~tabloader.datasets.TabularStream` (a mixin).

    Subclasses provide ``_read_unit`` (raw Arrow chunks of a unit), ``_origin`` (how a
    chunk's rows are named in messages), ``_units``, ``_columns``, ``_converter``,
    ``shuffle_buffer``, ``seed`` and ``n_features``.
    """

    _units: list[Unit]
    _columns: list[str]
    _converter: Converter
    _files: list[str]
    _fingerprints: list[dict[str, Any]]
    shuffle_buffer: int
    seed: int

    @property
    def n_features(self) -> int:
        raise NotImplementedError

    def _read_unit(self, unit: Unit, columns: list[str]) -> Iterator[tuple[pa.Table, int]]:
        """Raw chunks of ``unit``: ``(table, data row of the file of its first row)``."""
        raise NotImplementedError

    def _origin(self, unit: Unit, offset: int) -> ChunkOrigin:
        raise NotImplementedError

    def _read(self, unit: Unit, columns: list[str]) -> Iterator[tuple[pa.Table, int]]:
        """:meth:`_read_unit`, after checking the file's size and time; a read error of a
        file that changed meanwhile is a :class:`DataChangedError`."""
        fp = self._fingerprints[unit.file] if self._fingerprints else None
        name = self._unit_name(unit)
        yield from read_checked(fp, name, name, lambda: self._read_unit(unit, columns))

    def _unit_name(self, unit: Unit) -> str:
        if unit.start < 0:
            return "the whole file"
        if unit.stop > unit.start:
            return f"its bytes {unit.start}-{unit.stop}"
        return f"its row group {unit.index}"

    def _short_read(self, unit: Unit, got: int, want: int) -> None:
        """Raise :class:`DataChangedError`: ``unit`` gave ``got`` of its ``want`` rows."""
        where = f"{self._unit_name(unit)} of data file {self._files[unit.file]}"
        if self._fingerprints:
            check_unchanged(self._fingerprints[unit.file], during=f", noticed reading {where}")
        raise DataChangedError(
            f"{where} gave {got} rows where the stream planned {want}: the file changed "
            "since the stream was planned; create the stream again"
        )

    # ------------------------------------------------------------------ raw chunks
    def _raw(self, pieces: Iterable[tuple[int, int, int]]) -> Iterator[Raw]:
        """The raw chunks of ``pieces`` (``(unit, lo, hi)``) as :data:`Raw` items.

        Without ``missing="drop"`` each chunk is cut to the rows ``lo:hi`` and a unit is
        read no further than ``hi``; with it, the kept rows are known only after the
        conversion, so whole chunks come, each unit followed by an end marker.
        """
        whole = self._converter.missing == "drop"
        for ui, lo, hi in pieces:
            unit = self._units[ui]
            pos = 0
            for table, off in self._read(unit, self._columns):
                n = table.num_rows
                if whole:
                    yield ui, lo, hi, table, off
                elif pos + n > lo:
                    a, b = max(lo - pos, 0), min(hi - pos, n)
                    yield ui, lo, hi, table.slice(a, b - a), off + a
                pos += n
                if pos >= hi and not whole:
                    break
            if whole:
                yield ui, lo, hi, None, 0
            elif pos < hi:
                self._short_read(unit, pos, hi)

    def _raw_pieces(self, layout: EpochLayout, start: int, stop: int) -> Iterator[Raw]:
        """The raw chunks of the rows ``[start, stop)`` of the epoch, read in a reader
        thread up to :data:`READ_AHEAD_CHUNKS` chunks ahead."""
        ahead = Prefetch(self._raw(layout.pieces(start, stop)))
        try:
            yield from ahead
        finally:
            ahead.close()

    def _converted(self, raw: Iterable[Raw]) -> Iterator[Chunk]:
        """Convert raw chunks into tensors (``missing="drop"``: only the kept rows
        ``lo:hi`` of each unit)."""
        conv = self._converter
        drop = conv.missing == "drop"
        pos = 0  # kept rows of the unit so far (missing="drop")
        for ui, lo, hi, table, off in raw:
            unit = self._units[ui]
            if table is None:  # the end of a unit
                if pos < hi:
                    self._short_read(unit, pos, hi)
                pos = 0
                continue
            c = conv.convert(table, self._origin(unit, off))
            X = torch.from_numpy(c.X)
            y = None if c.y is None else torch.from_numpy(c.y)
            if drop:
                m = X.shape[0]
                a, b = max(lo - pos, 0), min(hi - pos, m)
                pos += m
                if b <= a:
                    continue
                if b - a < m:
                    X, y = X[a:b], None if y is None else y[a:b]
            yield X, y

    def _rows(self, layout: EpochLayout, start: int, stop: int) -> Iterator[Chunk]:
        """Converted chunks of the rows ``[start, stop)`` of the epoch, in order."""
        ahead = Prefetch(self._raw(layout.pieces(start, stop)))
        try:
            yield from self._converted(ahead)
        finally:
            ahead.close()

    def _unit_chunks(self, ui: int, lo: int, hi: int) -> Iterator[Chunk]:
        """Converted tensors of the rows ``[lo, hi)`` (after missing="drop") of unit ``ui``."""
        return self._converted(self._raw([(ui, lo, hi)]))

    # ------------------------------------------------------------------ shuffling
    def _shuffled_rows(
        self, layout: EpochLayout, plan: Any, skip_rows: int, epoch: int
    ) -> Iterator[Chunk]:
        """Fill a buffer of ``shuffle_buffer`` consecutive rows, permute it, drain it.

        The rows are read in one pass over the worker's range (no unit is decoded twice);
        each buffer's permutation depends only on ``(seed, epoch, its first row)``.
        Without ``missing="drop"`` the chunks are converted straight into the buffer,
        which is allocated once per epoch; the batches are gathered from it group by
        group with their slice of the permutation (``perm[a:b]``: the rows ``a:b`` of
        the permuted buffer).
        """
        S = self.shuffle_buffer
        B = plan.batch_sizes[0] if plan.batch_sizes else 1  # the batch grid (full batches)
        n_seg = plan.stop - plan.start
        i0 = skip_rows // S
        direct = self._converter.missing != "drop"
        raw = self._raw_pieces(layout, plan.start + i0 * S, plan.stop)
        source: Iterator[Any] = raw if direct else self._converted(raw)
        fill = _Fill(self, source, direct, min(S, n_seg))
        group = _gather_rows(fill.X.shape[1] * fill.X.itemsize, B)
        try:
            for i in range(i0, -(-n_seg // S)):
                ws = plan.start + i * S
                n = min(ws + S, plan.stop) - ws
                perm = numpy_generator(self.seed, epoch, 1, ws).permutation(n)
                X, Y = fill.next(n)
                first = skip_rows - i * S if i == i0 else 0
                yield from gathered(X, Y, perm, first, (skip_rows - i * S) % B, group, B)
        finally:
            _close(raw)  # stops the reader thread


class _Fill:
    """Fills the one shuffle buffer of an epoch from raw chunks (converted straight
    into it) or from converted chunks (``missing="drop"``), carrying the rows of a chunk
    beyond the buffer over to the next fill."""

    def __init__(self, rows: StreamRows, source: Iterator[Any], direct: bool, size: int) -> None:
        conv = rows._converter
        dtype = conv.encoding.dtype
        self._rows = rows
        self._source = source
        self._direct = direct
        self._carry: Any = None
        self.X = np.empty((size, rows.n_features), dtype=dtype)
        self.Y: np.ndarray | None = None
        if conv.target is not None:
            multi = conv.task == "multiclass"
            self.Y = np.empty(size, np.int64) if multi else np.empty((size, 1), dtype)

    def next(self, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The next ``n`` rows (at most the buffer's size), in the buffer."""
        X = self.X[:n]
        Y = None if self.Y is None else self.Y[:n]
        conv = self._rows._converter
        off = 0
        while off < n:
            item = self._carry if self._carry is not None else next(self._source, None)
            if item is None:
                raise DataChangedError(_FEWER)
            self._carry = None
            if self._direct:
                ui, lo, hi, table, foff = item
                m = table.num_rows
                if off + m > n:
                    k = n - off
                    self._carry = (ui, lo, hi, table.slice(k), foff + k)
                    table, m = table.slice(0, k), k
                unit = self._rows._units[ui]
                c = conv.convert(table, self._rows._origin(unit, foff), out=X[off : off + m])
                if Y is not None:
                    Y[off : off + m] = c.y
            else:
                cx, cy = item
                m = cx.shape[0]
                if off + m > n:
                    k = n - off
                    self._carry = (cx[k:], None if cy is None else cy[k:])
                    cx, cy, m = cx[:k], None if cy is None else cy[:k], k
                X[off : off + m] = cx.numpy()
                if Y is not None and cy is not None:
                    Y[off : off + m] = cy.numpy()
            off += m
        return X, Y
