"""How a stream turns its units into row chunks: in order, or through the shuffle buffer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from tabloader._plan import EpochLayout
from tabloader._random import numpy_generator
from tabloader.datasets._convert import Converter
from tabloader.datasets._origin import ChunkOrigin

__all__ = ["StreamRows", "Unit", "cut"]

Chunk = tuple[torch.Tensor, torch.Tensor | None]


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
            by = None if ty[0] is None else torch.cat([t for t in ty if t is not None])
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


def concat(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class StreamRows:
    """The row readers of :class:`~tabloader.datasets.TabularStream` (a mixin).

    Subclasses provide ``_read_unit`` (raw Arrow chunks of a unit), ``_origin`` (how a
    chunk's rows are named in messages), ``_units``, ``_columns``, ``_converter``,
    ``shuffle_buffer``, ``seed`` and ``n_features``.
    """

    _units: list[Unit]
    _columns: list[str]
    _converter: Converter
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

    def _rows(self, layout: EpochLayout, start: int, stop: int) -> Iterator[Chunk]:
        for ui, lo, hi in layout.pieces(start, stop):
            yield from self._unit_chunks(ui, lo, hi)

    def _shuffled_rows(
        self, layout: EpochLayout, plan: Any, skip_rows: int, epoch: int
    ) -> Iterator[Chunk]:
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
            rng = numpy_generator(self.seed, epoch, 1, ws)
            perm = rng.permutation(n)
            X, Y = self._fill_buffer(source, carry, n, direct)
            carry = self._carry
            # np.take gathers whole rows (much faster than torch's index_select/index_copy_
            # on CPU); one gather per buffer, then the batches are views
            X = torch.from_numpy(np.take(X, perm, axis=0))
            Y = None if Y is None else torch.from_numpy(np.take(Y, perm, axis=0))
            first = skip_rows - i * S if i == i0 else 0
            yield X[first:], None if Y is None else Y[first:]

    def _fill_buffer(
        self, source: Iterator[Any], carry: Any, n: int, direct: bool
    ) -> tuple[Any, Any]:
        """``n`` rows from ``source`` (raw pieces or converted chunks) as one array each."""
        conv = self._converter
        X: Any = np.empty((n, self.n_features), dtype=np.float32) if direct else None
        Y: Any = None
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
            X = concat(xs)
            Y = concat(ys) if ys else None
        return X, Y

    def _raw_pieces(self, layout: EpochLayout, start: int, stop: int) -> Iterator[Any]:
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

    def _unit_chunks(self, ui: int, lo: int, hi: int) -> Iterator[Chunk]:
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
