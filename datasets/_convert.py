"""The one converter: any Arrow table (a file, a DataFrame, a stream's chunk) into tensors.

:class:`Converter` applies an :class:`~tabloader.datasets._encoding.Encoding` to a table:
numeric columns and one-hot blocks into one row-major float32 (or float64: ``dtype=``)
matrix, the target into its float or int64 array, with the missing-value policy and the
float32 overflow check. Every
reader, map-style or streaming, goes through it, so every reader has the same column order,
names, dtypes and error messages.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tabloader.datasets._arrow import (
    NotNumeric,
    as_float_column,
    columns_error,
    decode_dictionary,
    is_numeric,
    is_text,
    numeric_or_problem,
)
from tabloader.datasets._encoding import Encoding
from tabloader.datasets._origin import Origin
from tabloader.datasets._precision import caller_stacklevel
from tabloader.errors import MissingValueError, ParseError, SchemaError, TargetError

__all__ = [
    "Converted",
    "Converter",
    "MeanAccumulator",
    "caller_stacklevel",
    "drop_warning",
    "fill_rows_blocked",
    "raise_missing",
]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: bytes of a block of rows written at a time: the block stays in the per-core cache
BLOCK_BYTES = 1 << 20


@dataclass
class Converted:
    """One converted table: ``X`` float32/float64 ``[n, F]``, ``y`` encoded or None.

    ``keep`` holds the rows kept by ``missing="drop"`` (None when every row is kept).
    """

    X: np.ndarray
    y: np.ndarray | None
    keep: np.ndarray | None = None


@dataclass
class Features:
    """A table's features written into ``X``, NaN where a cell is missing."""

    X: np.ndarray
    all_finite: bool
    cat_missing: dict[str, tuple[int, int]]


def fill_rows_blocked(X: np.ndarray, columns: list[tuple[int, np.ndarray]]) -> bool:
    """Copy 1-D ``columns`` ``(j, values)``, one for every column of ``X``, into row-major
    ``X`` a block of rows at a time; whether every value written is finite.

    Each block's columns are copied (contiguously) into a column-major scratch block
    that stays in cache, checked there, then written into ``X`` transposed in one copy:
    3-4x faster than writing each column into 65,536-row blocks with a stride (measured:
    32 and 512 float32 columns, 2 cores; see docs/benchmarks.md).
    """
    n, F = X.shape
    step = max(1024, BLOCK_BYTES // max(F * X.itemsize, 1))
    scratch = np.empty((F, min(step, n)), dtype=X.dtype)
    finite = True
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked, not warned
        for start in range(0, n, step):
            block = scratch[:, : min(step, n - start)]
            for j, a in columns:
                block[j] = a[start : start + step]
            if finite and not _is_finite_sum(block):
                finite = False
            X[start : start + step] = block.T
    return finite


def _is_finite_sum(block: np.ndarray) -> bool:
    """True when every cell is finite (a non-finite cell makes the sum non-finite; an
    overflowing sum only sends the caller to the exact check)."""
    return bool(np.isfinite(np.add.reduce(block, axis=None)))


def overflow_error(name: str, where: str, row: str, value: Any) -> ParseError:
    """The one message for a finite value outside the float32 range."""
    return ParseError(
        f"column {name!r} in {where} has {value!r} at {row}, which is outside the float32 "
        f"range of the tensors (largest magnitude {_FLOAT32_MAX:.4g}); rescale the column, "
        "or leave it out of features="
    )


def column_numpy(col: Any) -> np.ndarray:
    """A numeric Arrow array or chunked array (any number of chunks, none too) as numpy."""
    if isinstance(col, pa.Array):
        return np.asarray(col.to_numpy(zero_copy_only=False))
    if col.num_chunks == 1:
        return np.asarray(col.chunk(0).to_numpy(zero_copy_only=False))
    return np.asarray(col.to_numpy())


def _check_overflow(name: str, source: np.ndarray, out: np.ndarray, origin: Origin) -> None:
    """Raise when a finite ``source`` value became inf in float32 ``out``."""
    if source.dtype.kind != "f" or source.dtype.itemsize <= 4:
        return  # only wider floats (float64, decimals read as float64) can overflow
    over = np.isinf(out) & np.isfinite(source.astype(np.float64, copy=False))
    if over.any():
        row = int(np.argmax(over))
        raise overflow_error(name, origin.name, origin.describe_row(row), source[row].item())


class Converter:
    """Turns Arrow tables into ``(X, y)`` arrays following a fixed :class:`Encoding`."""

    def __init__(self, encoding: Encoding) -> None:
        self.encoding = encoding
        self.names = encoding.names
        self._cast_cache: dict[tuple[str, pa.DataType], pa.Array | None] = {}

    @property
    def missing(self) -> str:
        return self.encoding.missing

    @property
    def target(self) -> str | None:
        return self.encoding.target

    @property
    def task(self) -> str | None:
        return self.encoding.task

    def _value_set(self, key: str, values: pa.Array, t: pa.DataType) -> pa.Array | None:
        """``values`` cast to type ``t`` (cached), or None when they cannot be."""
        k = (key, t)
        if k not in self._cast_cache:
            try:
                vs = values if values.type == t else values.cast(t)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                vs = None
            self._cast_cache[k] = vs
        return self._cast_cache[k]

    def _codes(self, key: str, col: Any, values: pa.Array) -> np.ndarray:
        """Index of each cell of ``col`` in ``values`` (NaN or a negative for none)."""
        vs = self._value_set(key, values, col.type)
        if vs is None:  # e.g. levels 1, 2 learnt from numbers and a column read as text
            col = col.cast(pa.string())
            vs = self._value_set(key, values, pa.string())
        return pc.index_in(col, value_set=vs).to_numpy(zero_copy_only=False)

    # ------------------------------------------------------------------ features
    def _one_hot(self, name: str, col: Any, block: np.ndarray, origin: Origin) -> Any:
        """Write the one-hot block of a categorical column; ``(missing count, first row)``.

        A level outside the encoding's levels is an error, or (``unknown_levels="ignore"``)
        an all-zero row.
        """
        levels = self.encoding.levels[name]
        col = decode_dictionary(col)
        nulls = col.is_null().to_numpy(zero_copy_only=False)
        codes = self._codes(name, col, levels)
        codes = np.where(nulls, -1, np.nan_to_num(codes, nan=-1)).astype(np.int64)
        unseen = (codes < 0) & ~nulls
        if unseen.any() and self.encoding.unknown_levels != "ignore":
            row = int(np.argmax(unseen))
            raise SchemaError(
                f"categorical column {name!r} in {origin.name} has level {col[row].as_py()!r} "
                f"at {origin.describe_row(row)}, which is not one of its {len(levels)} levels "
                f"{levels.to_pylist()[:10]}; add it to categories= (or leave categories= out "
                "to learn the levels from the data), or pass unknown_levels='ignore' to encode "
                "unseen levels as all zeros"
            )
        block[:] = 0.0
        ok = codes >= 0
        block[np.flatnonzero(ok), codes[ok]] = 1.0
        if nulls.any():
            block[nulls] = np.nan
            return int(nulls.sum()), int(np.argmax(nulls))
        return None

    def features(self, table: pa.Table, origin: Origin, out: np.ndarray | None = None) -> Features:
        """Write the features of ``table`` into ``out`` (a C-contiguous ``[n, F]`` view of
        the encoding's dtype, allocated when None), NaN where a cell is missing.

        A finite value outside the float32 range is an error (here, in every reader), and
        so is every feature column that is not numeric (all of them in one error).
        """
        n = table.num_rows
        X = np.empty((n, len(self.names)), dtype=self.encoding.dtype) if out is None else out
        levels = self.encoding.levels
        numeric: list[tuple[int, str, Any]] = []
        bad: list[NotNumeric] = []
        cat_missing: dict[str, tuple[int, int]] = {}
        all_finite = True
        j = 0
        for name in self.encoding.features:
            col = table.column(name)
            if name in levels:
                k = len(levels[name])
                miss = self._one_hot(name, col, X[:, j : j + k], origin)
                if miss is not None:
                    cat_missing[name] = miss
                    all_finite = False
                j += k
            else:
                num = numeric_or_problem(col, name, origin.describe_row)
                if isinstance(num, NotNumeric):
                    bad.append(num)
                else:
                    numeric.append((j, name, num))
                j += 1
        if bad:
            raise columns_error(bad, origin.name)
        if numeric:
            all_finite &= self._write_numeric(X, numeric)
            if not all_finite:
                for jj, name, col in numeric:
                    _check_overflow(name, column_numpy(col), X[:, jj], origin)
        return Features(X, all_finite, cat_missing)

    def _write_numeric(self, X: np.ndarray, numeric: list[tuple[int, str, Any]]) -> bool:
        """Fill the numeric columns chunk-aligned and row-blocked; whether all are finite."""
        finite = True
        bounds = _common_chunks([c for _, _, c in numeric])
        for start, stop, arrays in bounds:
            cols = [(jj, a) for (jj, _, _), a in zip(numeric, arrays)]
            dest = X[start:stop]
            if len(cols) == X.shape[1]:
                finite = fill_rows_blocked(dest, cols) and finite
            else:
                with np.errstate(over="ignore", invalid="ignore"):
                    for jj, a in cols:
                        dest[:, jj] = a
                        finite = finite and (not len(a) or _is_finite_sum(dest[:, jj]))
        return finite

    def target_missing(self, table: pa.Table, origin: Origin) -> np.ndarray:
        """Rows whose target is null, NaN or inf (a regression target beyond float32 is
        an error, found here so that every reader finds it at the same point)."""
        n = table.num_rows
        if self.target is None:
            return np.zeros(n, dtype=bool)
        col = decode_dictionary(table.column(self.target))
        t = col.type
        wider = pa.types.is_floating(t) and t.bit_width > 8 * self.encoding.dtype.itemsize
        if self.task == "regression" and wider:
            self._check_target_range(col, origin)
        if col.null_count == 0 and not pa.types.is_floating(t):
            return np.zeros(n, dtype=bool)
        if col.null_count == 0 and all(
            _is_finite_sum(c.to_numpy(zero_copy_only=False)) for c in col.chunks if len(c)
        ):
            return np.zeros(n, dtype=bool)  # the sum test: no NaN or inf anywhere
        miss = col.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_floating(t):
            miss |= ~pc.is_finite(col).fill_null(True).to_numpy(zero_copy_only=False)
        return miss

    def _check_target_range(self, col: Any, origin: Origin) -> None:
        off = 0
        for chunk in col.chunks:
            a = chunk.to_numpy(zero_copy_only=False)
            if len(a) and not max(float(a.max()), -float(a.min())) <= _FLOAT32_MAX:
                with np.errstate(over="ignore", invalid="ignore"):
                    over = np.isinf(a.astype(np.float32)) & np.isfinite(a)
                if over.any():
                    row = int(np.argmax(over))
                    where = origin.describe_row(off + row)
                    raise overflow_error(self.target or "", origin.name, where, a[row].item())
            off += len(a)

    # ------------------------------------------------------------------ whole tables
    def convert(self, table: pa.Table, origin: Origin, out: np.ndarray | None = None) -> Converted:
        """Convert a table; missing values follow the encoding's policy with its fill values.

        With ``out`` (not for ``missing="drop"``) the features are written there.
        """
        feats = self.features(table, origin, out)
        X = feats.X
        y_missing = self.target_missing(table, origin)
        keep = None
        if not feats.all_finite or y_missing.any():
            bad = ~np.isfinite(X)
            if self.missing == "error" or (self.missing == "mean" and y_missing.any()):
                raise_missing(
                    bad, self.names, y_missing, self.target, origin, feats.cat_missing, self.missing
                )
            if self.missing == "drop":
                keep = np.flatnonzero(~(bad.any(axis=1) | y_missing))
                X = np.ascontiguousarray(X[keep])
            else:
                self.fill(X, bad, origin.name)
        y = None
        if self.target is not None:
            col = table.column(self.target)
            if keep is not None:
                col = col.take(pa.array(keep))
            y = self.encode_target(col, origin, keep)
        return Converted(X, y, keep)

    def fill(self, X: np.ndarray, bad: np.ndarray, where: str) -> None:
        """Fill the missing cells of ``X`` with the encoding's fill values."""
        fills = self.encoding.fill_values
        for jj in np.flatnonzero(bad.any(axis=0)):
            name = self.names[jj]
            if name not in fills:
                raise no_finite_value_error(name, where)
            X[bad[:, jj], jj] = fills[name]

    # ------------------------------------------------------------------ target
    def encode_target(self, col: Any, origin: Origin, keep: np.ndarray | None = None) -> np.ndarray:
        """The encoded target of the rows of ``col`` (``keep``: their rows in ``origin``)."""
        col = decode_dictionary(col)
        name = self.target or ""
        if self.task == "regression":
            if is_text(col.type):
                col = as_float_column(col, name, origin.name, origin.describe_row)
            if not is_numeric(col.type):
                raise TargetError(
                    f"regression target {name!r} in {origin.name} should be numeric, "
                    f"but has type {col.type}"
                )
            src = column_numpy(col)
            with np.errstate(over="ignore", invalid="ignore"):
                y = np.array(src, dtype=self.encoding.dtype).reshape(-1, 1)
            if len(y) and not _is_finite_sum(y):
                over = np.isinf(y[:, 0]) & np.isfinite(src.astype(np.float64, copy=False))
                if over.any():
                    row = int(np.argmax(over))
                    src_row = row if keep is None else int(keep[row])
                    raise overflow_error(
                        name, origin.name, origin.describe_row(src_row), src[row].item()
                    )
            return y
        classes = self.encoding.classes
        assert classes is not None
        codes = self._codes("\0target", col, classes)
        unknown = np.isnan(codes) if codes.dtype.kind == "f" else np.zeros(len(codes), bool)
        if unknown.any():
            row = int(np.argmax(unknown))
            src_row = row if keep is None else int(keep[row])
            raise TargetError(
                f"target {name!r} in {origin.name} has label {col[row].as_py()!r} at "
                f"{origin.describe_row(src_row)}, which is not one of the "
                f"{len(classes)} classes {classes.to_pylist()[:10]}; pass classes= "
                "with every label, or leave classes=None to learn them in a first pass"
            )
        if self.task == "binary":
            return codes.astype(self.encoding.dtype).reshape(-1, 1)
        return codes.astype(np.int64)


def _common_chunks(cols: list[Any]) -> list[tuple[int, int, list[np.ndarray]]]:
    """``(start, stop, arrays)`` for row ranges where no column changes chunk."""
    edges = {0}
    n = len(cols[0])
    for c in cols:
        off = 0
        for ch in c.chunks:
            off += len(ch)
            edges.add(off)
    cuts = sorted(e for e in edges if e <= n)
    if cuts[-1] != n:
        cuts.append(n)
    out = []
    for a, b in itertools.pairwise(cuts):
        arrays = []
        for c in cols:
            piece = c.slice(a, b - a)
            ch = piece.chunks
            arr = ch[0] if len(ch) == 1 else pa.concat_arrays(ch)
            arrays.append(arr.to_numpy(zero_copy_only=False))
        out.append((a, b, arrays))
    return out


# ------------------------------------------------------------------ missing values
def no_finite_value_error(name: str, where: str) -> MissingValueError:
    """The one message for ``missing="mean"`` on a column without a finite value."""
    return MissingValueError(
        f"column {name!r} in {where} has no finite value to take the mean of; "
        "drop the column or use missing='drop'"
    )


class MeanAccumulator:
    """The float64 sums and counts of the finite cells of each feature, chunk by chunk."""

    def __init__(self, n_features: int) -> None:
        self.sums = np.zeros(n_features)
        self.counts = np.zeros(n_features, dtype=np.int64)
        self.any_bad = np.zeros(n_features, dtype=bool)
        self.dtype = np.dtype(np.float32)  # the tensors' dtype: that of the rows added

    def add(self, X: np.ndarray, bad: np.ndarray | None = None) -> None:
        self.dtype = X.dtype
        finite = np.isfinite(X) if bad is None else ~bad
        self.any_bad |= ~finite.all(axis=0)
        self.sums += np.where(finite, X, 0).sum(axis=0, dtype=np.float64)
        self.counts += finite.sum(axis=0)

    def fill_values(
        self, names: list[str], given: dict[str, float], where: str
    ) -> dict[str, float]:
        """The value each column with a missing cell is filled with (as the tensors hold it)."""
        out: dict[str, float] = {}
        for jj in np.flatnonzero(self.any_bad):
            name = names[jj]
            if name in given:
                out[name] = float(given[name])
                continue
            if self.counts[jj] == 0:
                raise no_finite_value_error(name, where)
            out[name] = float(self.dtype.type(self.sums[jj] / self.counts[jj]))
        return out


def drop_warning(dropped: int, total: int, where: str) -> None:
    """Warn about the rows ``missing="drop"`` dropped (an error when nothing is left)."""
    if dropped == 0:
        return
    if dropped == total:
        raise MissingValueError(
            f"every one of the {total} rows of {where} has a missing value, "
            "so missing='drop' leaves nothing"
        )
    warnings.warn(
        f"missing='drop' dropped {dropped} of {total} rows of {where} that had missing values",
        UserWarning,
        stacklevel=caller_stacklevel(),
    )


def raise_missing(
    bad: np.ndarray,
    names: list[str],
    y_missing: np.ndarray,
    target: str | None,
    origin: Origin,
    cat_missing: dict[str, tuple[int, int]],
    policy: str,
) -> None:
    """Raise the one missing-value error: each column's count and first row."""
    per_col: list[tuple[str, int, int]] = []
    seen_cat: set[str] = set()
    for jj in np.flatnonzero(bad.any(axis=0)):
        base = names[jj].split("=", 1)[0]
        if base in cat_missing:
            if base not in seen_cat:
                seen_cat.add(base)
                cnt, first = cat_missing[base]
                per_col.append((base, cnt, first))
            continue
        colbad = bad[:, jj]
        per_col.append((names[jj], int(colbad.sum()), int(np.argmax(colbad))))
    if y_missing.any() and target is not None:
        per_col.append((target, int(y_missing.sum()), int(np.argmax(y_missing))))
    details = "; ".join(
        f"column {c!r}: {cnt} missing (null, NaN or inf), first at {origin.describe_row(first)}"
        for c, cnt, first in per_col
    )
    if policy == "mean":
        raise MissingValueError(
            f"missing values in {origin.name}: {details}; missing='mean' cannot fill the target "
            f"{target!r}: use missing='drop' to drop those rows"
        )
    raise MissingValueError(
        f"missing values in {origin.name}: {details}; pass missing='drop' to drop those rows "
        "or missing='mean' to fill features with the column mean"
    )
