"""The column encoding: everything learned once (from a whole table or a stream's first pass).

An :class:`Encoding` fixes the feature columns and their output names, the one-hot levels of
the categorical columns, the task, the target's classes and the ``missing="mean"`` fill
values. :class:`EncodingLearner` learns it from chunks of a table: the map-style readers
show it their tables, a stream its first pass; both then convert with the one
:class:`~tabloader.datasets._convert.Converter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tabloader.datasets._arrow import (
    decode_dictionary,
    is_numeric,
    is_text,
    merge_unique,
    sorted_unique,
)
from tabloader.datasets._columns import ColumnSpec
from tabloader.datasets._precision import PrecisionCheck
from tabloader.errors import ParseError, TargetError

__all__ = ["MAX_INFERRED_CLASSES", "Encoding", "EncodingLearner", "infer_task", "sorted_levels"]

#: integer targets with more distinct values than this are never inferred as multiclass
MAX_INFERRED_CLASSES = 100


@dataclass
class Encoding:
    """What a converter needs to turn any batch of a table into tensors.

    Parameters
    ----------
    features : list of str
        Feature columns in output order.
    levels : dict
        Sorted levels (a pyarrow array) of each one-hot encoded feature column.
    target : str or None
    task : str or None
    classes : pyarrow.Array or None
        Sorted class labels of a classification task.
    missing : {"error", "drop", "mean"}
    fill_values : dict
        Output feature name to its fill value (``missing="mean"``).
    dtype : numpy.dtype
        The float dtype of the features (and of a float target): float32 or float64.
    unknown_levels : {"error", "ignore"}
        A categorical level outside ``levels``: an error, or an all-zero one-hot row.
    """

    features: list[str]
    levels: dict[str, pa.Array]
    target: str | None
    task: str | None
    classes: pa.Array | None
    missing: str = "error"
    fill_values: dict[str, float] = field(default_factory=dict)
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float32))
    unknown_levels: str = "error"

    @property
    def names(self) -> list[str]:
        """Output feature names (``"col=level"`` for one-hot columns)."""
        names: list[str] = []
        for c in self.features:
            if c in self.levels:
                names.extend(f"{c}={v}" for v in self.levels[c].to_pylist())
            else:
                names.append(c)
        return names

    @property
    def categories(self) -> dict[str, list[Any]]:
        """The levels of each one-hot column as Python lists."""
        return {c: self.levels[c].to_pylist() for c in self.features if c in self.levels}

    def classes_array(self) -> np.ndarray | None:
        """The class labels as a NumPy array (``classes_`` of a dataset or stream)."""
        if self.classes is None:
            return None
        return np.asarray(self.classes.to_numpy(zero_copy_only=False))


def sorted_levels(values: Sequence[Any]) -> pa.Array:
    """User-given levels or classes as a sorted pyarrow array."""
    arr = pa.array(list(values))
    return arr.take(pc.sort_indices(arr))


def infer_task(values: Any) -> str:
    """The task a target column implies when ``task=`` is not given.

    The rule, in order:

    1. text, boolean or categorical (dictionary) labels: ``"binary"`` when there are exactly
       two distinct labels, else ``"multiclass"``;
    2. numbers with any non-integer value: ``"regression"``;
    3. integer values with exactly two distinct values: ``"binary"``;
    4. integer values whose distinct values are exactly ``0..K-1`` or ``1..K`` with
       ``3 <= K <= 100`` (label-encoded classes, like ``0..6``): ``"multiclass"``;
    5. anything else (for example scores ``101..196``): ``"regression"``.

    Pass ``task=`` explicitly whenever the rule could guess wrong (small integer counts,
    say).

    Parameters
    ----------
    values : array-like or pyarrow array
        The target column.

    Returns
    -------
    str
        ``"regression"``, ``"binary"`` or ``"multiclass"``.
    """
    col = (
        values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(np.asarray(values))
    )
    col = col.drop_null()
    t = col.type
    if pa.types.is_dictionary(t) or is_text(t) or pa.types.is_boolean(t):
        n = len(pc.unique(col))
        return "binary" if n == 2 else "multiclass"
    if not is_numeric(t):
        return "multiclass"
    if pa.types.is_floating(t):
        col = pc.filter(col, pc.is_finite(col))
        if len(col) and not pc.all(pc.equal(pc.floor(col), col)).as_py():
            return "regression"
    uniq = np.sort(pc.unique(col).to_numpy(zero_copy_only=False))
    k = len(uniq)
    if k == 2:
        return "binary"
    if 3 <= k <= MAX_INFERRED_CLASSES and (
        np.array_equal(uniq, np.arange(k)) or np.array_equal(uniq, np.arange(1, k + 1))
    ):
        return "multiclass"
    return "regression"


def _surely_regression(values: pa.Array) -> bool:
    """Whether :func:`infer_task` must say regression whatever values come later."""
    t = values.type
    if not is_numeric(t) or pa.types.is_boolean(t):
        return False
    if len(values) > MAX_INFERRED_CLASSES:
        return True
    if pa.types.is_floating(t) and len(values):
        return not pc.all(pc.equal(pc.floor(values), values)).as_py()
    return False


def _label_values(col: Any) -> Any:
    """The labels of a target chunk: no nulls, no NaN or inf (those rows are missing)."""
    col = decode_dictionary(col).drop_null()
    if pa.types.is_floating(col.type):
        col = col.filter(pc.is_finite(col))
    return col


def binary_classes_error(target: str, where: str, classes: pa.Array, given: bool) -> TargetError:
    """The one message for a binary target without exactly two classes."""
    shown = classes.to_pylist()[:10]
    if given:
        return TargetError(
            f"binary target {target!r} should have exactly 2 classes, but classes= has "
            f"{len(classes)}: {shown}"
        )
    return TargetError(
        f"binary target {target!r} in {where} should have exactly 2 classes, "
        f"but found {len(classes)}: {shown}"
        + ("; use task='multiclass'" if len(classes) > 2 else "")
    )


class EncodingLearner:
    """Learns an :class:`Encoding` from the chunks of a table shown to :meth:`observe`.

    Parameters
    ----------
    spec : ColumnSpec
        The resolved column spec (names, not positions).
    classes : sequence, optional
        Class labels given by the caller (then they are not learned).
    """

    def __init__(self, spec: ColumnSpec, classes: Sequence[Any] | None = None) -> None:
        self.spec = spec
        self.target = spec.target_name
        self.features = spec.feature_names
        self.categorical = spec.categorical_names
        self.task = spec.task
        self.levels = {c: sorted_levels(v) for c, v in (spec.categories or {}).items()}
        if self.target is not None and self.task is None and classes is not None:
            self.task = "binary" if len(classes) == 2 else "multiclass"
        self.classes: pa.Array | None = None
        if classes is not None:
            if self.target is None:
                raise ValueError("classes should be None when target is None")
            if self.task == "regression":
                raise ValueError("classes should be None for task='regression'")
            self.classes = sorted_levels(classes)
            if self.task == "binary" and len(self.classes) != 2:
                raise binary_classes_error(self.target, "", self.classes, given=True)
        self._uniq: dict[str, list[pa.Array]] = {c: [] for c in self._value_columns}
        self._capped = False
        #: integers the tensors' dtype rounds, counted in the numeric features (a stream
        #: may narrow ``precision.columns`` to those its file statistics cannot rule out)
        numeric = [c for c in self.features if c not in self.categorical]
        self.precision = PrecisionCheck(numeric, spec.np_dtype)

    @property
    def need_classes(self) -> bool:
        return self.target is not None and self.task != "regression" and self.classes is None

    @property
    def _value_columns(self) -> list[str]:
        cols = [c for c in self.categorical if c not in self.levels]
        if self.need_classes and self.target is not None:
            cols.append(self.target)
        return cols

    @property
    def columns(self) -> list[str]:
        """The columns still to be learned (levels, classes) or checked (precision)."""
        return self._value_columns + list(self.precision.columns)

    def observe(self, table: pa.Table) -> None:
        """Collect the distinct values of a chunk's categorical and target columns, and
        count the integers of its numeric features that the tensors' dtype rounds."""
        self.precision.observe(table)
        for c in self._uniq:
            if c == self.target:
                if self._capped:
                    continue
                col = _label_values(table.column(c))
            else:
                col = decode_dictionary(table.column(c)).drop_null()
            u = pc.unique(col)
            self._uniq[c].append(u.combine_chunks() if isinstance(u, pa.ChunkedArray) else u)
            if len(self._uniq[c]) > 32 or (c == self.target and self.task is None):
                self._uniq[c] = [merge_unique(self._uniq[c])]
            if c == self.target and self.task is None:
                self._capped = _surely_regression(self._uniq[c][0])

    def encoding(self, where: str) -> Encoding:
        """The learned encoding (``where`` names the data in messages and warnings)."""
        levels = dict(self.levels)
        for c in self.categorical:
            if c not in levels:
                levels[c] = _valid_text(sorted_unique(merge_unique(self._uniq[c])), c, where)
        task, classes = self.task, self.classes
        if self.need_classes and self.target is not None:
            if self._capped:
                task = "regression"
            else:
                values = merge_unique(self._uniq[self.target])
                if task is None:
                    task = infer_task(values)
                if task != "regression":
                    classes = _valid_text(sorted_unique(values), self.target, where)
                    if task == "binary" and len(classes) != 2:
                        raise binary_classes_error(self.target, where, classes, given=False)
        if self.target is not None and task is None:
            task = "regression"
        self.precision.warn(where)
        return Encoding(
            features=self.features,
            levels=levels,
            target=self.target,
            task=task,
            classes=classes,
            missing=self.spec.missing,
            dtype=self.spec.np_dtype,
            unknown_levels=self.spec.unknown_levels,
        )


def given_fill_values(spec: ColumnSpec) -> dict[str, float]:
    """The fill values the caller gave (``fill_values=``), as floats."""
    return {str(k): float(v) for k, v in (spec.fill_values or {}).items()}


def _valid_text(values: pa.Array, column: str, where: str) -> pa.Array:
    """``values`` (the levels or classes of ``column``), checked to be valid UTF-8 text."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        try:
            values.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise ParseError(
                f"column {column!r} of {where} holds text that is not valid UTF-8 ({exc}); "
                "the file is corrupt or in another encoding: re-write it, or read it with "
                "encoding= (CSV)"
            ) from exc
    return values
