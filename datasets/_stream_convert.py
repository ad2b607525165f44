"""Chunk-by-chunk conversion of Arrow tables with classes, levels and fill values fixed in advance.

It mirrors :func:`tabloader.datasets._convert.build_dataset` (same column order, names,
dtypes and error messages) but never learns anything from the chunk itself: the target's
classes, the categorical levels and the ``missing="mean"`` fill values come from a first
pass over the whole stream or from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tabloader.datasets._convert import (
    _as_float_column,
    _is_text,
    _raise_missing,
    encode_levels,
)
from tabloader.datasets._origin import Origin
from tabloader.errors import MissingValueError, TargetError

__all__ = ["ChunkOrigin", "Converter", "Converted"]


@dataclass
class ChunkOrigin(Origin):
    """An origin whose row 0 is row ``offset`` of ``path`` (messages name file rows)."""

    path: str = ""
    offset: int = 0

    def locate(self, row: int) -> tuple[str | None, int]:
        return self.path, self.offset + row


@dataclass
class Converted:
    """One converted chunk: ``X`` float32 ``[n, F]``, ``y`` encoded or None."""

    X: np.ndarray
    y: np.ndarray | None
    n_raw: int  # rows before missing="drop"


class Converter:
    """Turns Arrow tables into ``(X, y)`` arrays following a fixed encoding.

    Parameters
    ----------
    features : list of str
        Feature columns in output order.
    categories : dict
        Levels (a pyarrow array, sorted) of each one-hot encoded feature.
    target : str or None
    task : str or None
    classes : pyarrow.Array or None
        Sorted class labels of a classification task.
    missing : {"error", "drop", "mean"}
    fill_values : dict
        Output column name to fill value (``missing="mean"``).
    """

    def __init__(
        self,
        features: list[str],
        categories: dict[str, pa.Array],
        target: str | None,
        task: str | None,
        classes: pa.Array | None,
        missing: str,
        fill_values: dict[str, float] | None = None,
    ) -> None:
        self.features = features
        self.categories = categories
        self.target = target
        self.task = task
        self.classes = classes
        self.missing = missing
        self.fill_values = dict(fill_values or {})
        names: list[str] = []
        for c in features:
            if c in categories:
                names.extend(f"{c}={v}" for v in categories[c].to_pylist())
            else:
                names.append(c)
        self.names = names
        self.all_finite = True
        self._cast_cache: dict[tuple[str, pa.DataType], pa.Array] = {}

    def _value_set(self, key: str, values: pa.Array, t: pa.DataType) -> pa.Array:
        k = (key, t)
        vs = self._cast_cache.get(k)
        if vs is None:
            vs = values if values.type == t else values.cast(t)
            self._cast_cache[k] = vs
        return vs

    def features_only(
        self, table: pa.Table, origin: Origin, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict]:
        """``X`` (with NaN where cells are missing) and the missing categorical cells.

        ``X`` is written into ``out`` (a C-contiguous ``[n, F]`` float32 view) when given.
        """
        n = table.num_rows
        X = np.empty((n, len(self.names)), dtype=np.float32) if out is None else out
        self.all_finite = True  # cleared when a column may hold a non-finite cell
        cat_missing: dict[str, tuple[int, int]] = {}
        j = 0
        for name in self.features:
            col = table.column(name)
            levels = self.categories.get(name)
            if levels is not None:
                if pa.types.is_dictionary(col.type):
                    col = col.cast(col.type.value_type)
                k = len(levels)
                nulls = col.is_null().to_numpy(zero_copy_only=False)
                value_set = self._value_set(name, levels, col.type)
                codes = encode_levels(col, value_set, levels, nulls, name, origin)
                if nulls.any():
                    cat_missing[name] = (int(nulls.sum()), int(np.argmax(nulls)))
                block = X[:, j : j + k]
                block[:] = 0.0
                ok = codes >= 0
                block[np.flatnonzero(ok), codes[ok]] = 1.0
                block[~ok] = np.nan
                if not ok.all():
                    self.all_finite = False
                j += k
            else:
                fc = _as_float_column(col, name, origin)
                off = 0
                for chunk in fc.chunks:
                    a = chunk.to_numpy(zero_copy_only=False)
                    X[off : off + len(a), j] = a
                    off += len(a)
                    # while the column is in cache: a non-finite cell makes the sum
                    # non-finite (an overflowing sum only sends us to the exact check)
                    if self.all_finite and len(a) and not np.isfinite(np.add.reduce(a)):
                        self.all_finite = False
                j += 1
        return X, cat_missing

    def target_missing(self, table: pa.Table) -> np.ndarray:
        n = table.num_rows
        if self.target is None:
            return np.zeros(n, dtype=bool)
        col = table.column(self.target)
        miss = col.is_null().to_numpy(zero_copy_only=False)
        t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
        if pa.types.is_floating(t):
            miss |= ~pc.is_finite(col.cast(t)).fill_null(True).to_numpy(zero_copy_only=False)
        return miss

    def convert(self, table: pa.Table, origin: Origin, out: np.ndarray | None = None) -> Converted:
        """Convert a table; missing values follow ``missing`` (errors as the map-style path).

        With ``out`` (not for ``missing="drop"``) the features are written there.
        """
        n = table.num_rows
        X, cat_missing = self.features_only(table, origin, out)
        y_missing = self.target_missing(table)
        all_finite = self.all_finite or bool(np.isfinite(X).all())
        keep = None
        if not all_finite or y_missing.any():
            bad = ~np.isfinite(X)
            if self.missing == "error" or (self.missing == "mean" and y_missing.any()):
                _raise_missing(
                    bad, self.names, y_missing, self.target, origin, cat_missing, self.missing
                )
            if self.missing == "drop":
                drop = bad.any(axis=1) | y_missing
                keep = np.flatnonzero(~drop)
                X = np.ascontiguousarray(X[keep])
            else:  # mean
                for jj in np.flatnonzero(bad.any(axis=0)):
                    name = self.names[jj]
                    if name not in self.fill_values:
                        raise MissingValueError(
                            f"column {name!r} in {origin.name} has no finite value to take "
                            "the mean of; drop the column or use missing='drop'"
                        )
                    X[bad[:, jj], jj] = self.fill_values[name]
        y = None
        if self.target is not None:
            col = table.column(self.target)
            if keep is not None:
                col = col.take(pa.array(keep))
            y = self.encode_target(col, origin, keep)
        return Converted(X, y, n)

    def encode_target(
        self, col: pa.ChunkedArray, origin: Origin, keep: np.ndarray | None
    ) -> np.ndarray:
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if self.task == "regression":
            if _is_text(col.type):
                col = _as_float_column(col, self.target, origin)
            try:
                y = np.asarray(col.to_numpy(), dtype=np.float32).reshape(-1, 1)
                return y if y.flags.writeable else y.copy()
            except (pa.ArrowInvalid, TypeError, ValueError) as exc:
                raise TargetError(
                    f"regression target {self.target!r} in {origin.name} should be numeric, "
                    f"but has type {col.type}"
                ) from exc
        codes = pc.index_in(col, value_set=self._value_set("\0target", self.classes, col.type))
        codes = codes.to_numpy(zero_copy_only=False)
        unknown = np.isnan(codes) if codes.dtype.kind == "f" else np.zeros(len(codes), bool)
        if unknown.any():
            row = int(np.argmax(unknown))
            src_row = row if keep is None else int(keep[row])
            raise TargetError(
                f"target {self.target!r} in {origin.name} has label {col[row].as_py()!r} at "
                f"{origin.describe_row(src_row)}, which is not one of the "
                f"{len(self.classes)} classes {self.classes.to_pylist()[:10]}; pass classes= "
                "with every label, or leave classes=None to learn them in a first pass"
            )
        if self.task == "binary":
            return codes.astype(np.float32).reshape(-1, 1)
        return codes.astype(np.int64)
