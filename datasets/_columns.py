"""The column spec shared by every reader: which columns, which task, which missing policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tabloader._checks import check_choice, type_error, value_error
from tabloader.errors import ColumnNotFoundError, SchemaError

__all__ = [
    "DTYPES",
    "MISSING_POLICIES",
    "TASKS",
    "UNKNOWN_LEVELS",
    "ColumnRef",
    "ColumnSpec",
    "check_dtype",
    "resolve_column",
]

TASKS = ("regression", "binary", "multiclass")
MISSING_POLICIES = ("error", "drop", "mean")
#: what a categorical level outside ``categories=`` becomes: an error, or an all-zero row
UNKNOWN_LEVELS = ("error", "ignore")
#: the float dtypes of feature (and float target) tensors
DTYPES = ("float32", "float64")

ColumnRef = str | int


def check_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of ``dtype`` (``torch.float32``/``torch.float64``, their NumPy
    equivalents or the strings ``"float32"``/``"float64"``), checked without importing torch."""
    what = "torch.float32 or torch.float64"
    name: str | None = None
    if type(dtype).__module__ == "torch" and type(dtype).__name__ == "dtype":
        name = str(dtype).removeprefix("torch.")
    elif isinstance(dtype, str):
        name = dtype
    elif isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic)):
        name = np.dtype(dtype).name
    if name is None:
        raise type_error("dtype", what, dtype)
    if name not in DTYPES:
        raise value_error("dtype", what, dtype)
    return np.dtype(name)


def _check_list(name: str, value: Any) -> None:
    if isinstance(value, (str, int)):
        raise TypeError(
            f"{name} should be a list of column names or positions, "
            f"but got {name}={value!r}; wrap it in a list: [{value!r}]"
        )


@dataclass
class ColumnSpec:
    """Which columns are used and how (the part of a reader's arguments shared by all)."""

    target: ColumnRef | None = None
    features: Sequence[ColumnRef] | None = None
    categorical: Sequence[ColumnRef] = field(default_factory=list)
    task: str | None = None
    missing: str = "error"
    #: fixed one-hot levels per categorical column (e.g. those learnt on the training data)
    categories: Mapping[str, Sequence[Any]] | None = None
    #: fill values per output feature name for ``missing="mean"`` (e.g. the training means)
    fill_values: Mapping[str, float] | None = None
    #: the float dtype of the feature tensor (and of a float target): float32 or float64
    dtype: Any = "float32"
    #: a categorical level outside ``categories``: ``"error"``, or ``"ignore"`` (all zeros)
    unknown_levels: str = "error"

    @property
    def np_dtype(self) -> np.dtype:
        """The tensors' float dtype as a NumPy dtype."""
        return check_dtype(self.dtype)

    def validate(self) -> ColumnSpec:
        """Check the argument values (not the columns, which need a table); returns ``self``."""
        if self.task is not None:
            check_choice("task", self.task, TASKS)
        check_choice("missing", self.missing, MISSING_POLICIES)
        check_choice("unknown_levels", self.unknown_levels, UNKNOWN_LEVELS)
        check_dtype(self.dtype)
        if self.target is not None and not isinstance(self.target, (str, int, np.integer)):
            raise type_error(
                "target", "a column name (str) or a position (int) or None", self.target
            )
        _check_list("features", self.features)
        _check_list("categorical", self.categorical)
        if self.features is not None:
            self.features = list(self.features)
        self.categorical = list(self.categorical or [])
        if self.categories is not None and not isinstance(self.categories, Mapping):
            raise type_error("categories", "a dict {column: levels} or None", self.categories)
        if self.fill_values is not None and not isinstance(self.fill_values, Mapping):
            raise type_error(
                "fill_values", "a dict {feature name: value} or None", self.fill_values
            )
        return self

    def resolve(
        self, columns: Sequence[str], where: str
    ) -> tuple[str | None, list[str], list[str]]:
        """Resolve names and positions against ``columns``: ``(target, features, categorical)``."""
        columns = list(columns)
        target = None
        if self.target is not None:
            target = resolve_column(self.target, columns, where, "target")
        if self.features is None:
            features = [c for c in columns if c != target]
        else:
            features = [resolve_column(c, columns, where, "feature") for c in self.features]
            dupes = sorted({c for c in features if features.count(c) > 1})
            if dupes:
                raise SchemaError(f"features lists column(s) {dupes} more than once")
            if target is not None and target in features:
                raise SchemaError(
                    f"column {target!r} is both the target and a feature; remove it from features="
                )
        categorical = [resolve_column(c, columns, where, "categorical") for c in self.categorical]
        for c in categorical:
            if c not in features:
                raise SchemaError(
                    f"categorical column {c!r} is not one of the features {features}; "
                    "add it to features= or remove it from categorical="
                )
        if not features:
            raise SchemaError(f"no feature columns are left in {where}; columns are {columns}")
        for c in self.categories or {}:
            if c not in categorical:
                raise ValueError(
                    f"categories should only name categorical columns {categorical}, "
                    f"but got levels for {c!r}"
                )
        return target, features, categorical

    def resolved(self, columns: Sequence[str], where: str) -> ColumnSpec:
        """This spec with its columns resolved to names against ``columns``."""
        target, features, categorical = self.resolve(columns, where)
        return replace(self, target=target, features=features, categorical=categorical)

    # names of a resolved spec (see :meth:`resolved`)
    @property
    def target_name(self) -> str | None:
        """The target column's name (of a resolved spec)."""
        return None if self.target is None else str(self.target)

    @property
    def feature_names(self) -> list[str]:
        """The feature columns' names (of a resolved spec)."""
        return [str(c) for c in self.features or []]

    @property
    def categorical_names(self) -> list[str]:
        """The categorical columns' names (of a resolved spec)."""
        return [str(c) for c in self.categorical]

    def needed(self, columns: Sequence[str], where: str) -> list[str]:
        """The columns to read, in table order (for column projection)."""
        target, features, _ = self.resolve(columns, where)
        want = set(features) | ({target} if target is not None else set())
        return [c for c in columns if c in want]


def resolve_column(ref: Any, columns: list[str], where: str, what: str) -> str:
    """The name of column ``ref`` (a name, or a position that may be negative)."""
    if isinstance(ref, (bool, np.bool_)):
        raise TypeError(f"{what} column should be a name or a position, but got {ref!r}")
    if isinstance(ref, (int, np.integer)):
        n = len(columns)
        i = int(ref)
        if not -n <= i < n:
            raise ColumnNotFoundError(
                f"{what} position {i} is out of range for {where} with {n} columns {columns}; "
                f"use a position in 0..{n - 1} or -{n}..-1, or a column name"
            )
        return columns[i]
    ref = str(ref)
    if ref not in columns:
        hint = ""
        if ref.isdigit() and not all(c.isdigit() for c in columns):
            hint = "; to select by position pass an int, not a string"
        raise ColumnNotFoundError(
            f"{what} column {ref!r} not found in {where}; columns are {columns}{hint}"
        )
    return ref
