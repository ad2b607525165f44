"""In-memory tables (pyarrow, pandas, NumPy/torch arrays) into tensors, through the one converter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from tabloader._checks import type_error
from tabloader.datasets._build import Built, Piece, build_tensors
from tabloader.datasets._columns import ColumnRef, ColumnSpec
from tabloader.datasets._origin import Origin
from tabloader.errors import SchemaError

__all__ = ["tensors_from_arrays", "tensors_from_arrow", "tensors_from_pandas"]


def tensors_from_arrow(
    table: Any,
    *,
    target: ColumnRef | None = None,
    features: Sequence[ColumnRef] | None = None,
    categorical: Sequence[ColumnRef] = (),
    task: str | None = None,
    missing: str = "error",
    categories: Mapping[str, Sequence[Any]] | None = None,
    fill_values: Mapping[str, float] | None = None,
    unknown_levels: str = "error",
    dtype: Any = "float32",
    name: str = "<pyarrow.Table>",
) -> Built:
    """The tensors of a :class:`pyarrow.Table`."""
    if not isinstance(table, pa.Table):
        raise TypeError(f"table should be a pyarrow.Table, but got {type(table).__name__}")
    spec = ColumnSpec(
        target, features, categorical or [], task, missing, categories, fill_values, dtype,
        unknown_levels,
    )  # fmt: skip
    spec = spec.validate().resolved(table.column_names, name)
    return build_tensors([Piece(table, Origin(name))], spec, name)


def tensors_from_pandas(
    df: Any,
    *,
    target: ColumnRef | None = None,
    features: Sequence[ColumnRef] | None = None,
    categorical: Sequence[ColumnRef] = (),
    task: str | None = None,
    missing: str = "error",
    categories: Mapping[str, Sequence[Any]] | None = None,
    fill_values: Mapping[str, float] | None = None,
    unknown_levels: str = "error",
    dtype: Any = "float32",
    name: str = "<DataFrame>",
) -> Built:
    """The tensors of a :class:`pandas.DataFrame` (its index is ignored)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df should be a pandas.DataFrame, but got {type(df).__name__}")
    spec = ColumnSpec(
        target, features, categorical or [], task, missing, categories, fill_values, dtype,
        unknown_levels,
    )  # fmt: skip
    spec.validate()
    df = df.rename(columns=str)
    if df.columns.duplicated().any():
        dupes = sorted(set(df.columns[df.columns.duplicated()]))
        raise SchemaError(f"{name} has duplicate column names {dupes}; rename them")
    spec = spec.resolved(list(df.columns), name)
    wanted = set(spec.needed(list(df.columns), name))
    arrays = {}
    for c in df.columns:
        if c not in wanted:
            continue
        try:
            arrays[c] = pa.array(df[c], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            if c not in spec.categorical and c != spec.target:
                raise SchemaError(
                    f"column {c!r} in {name} mixes value types ({exc}); convert it to one type, "
                    f"or pass categorical=[{c!r}] to one-hot encode it as text"
                ) from exc
            arrays[c] = pa.array(df[c].astype("string"), from_pandas=True)
    return build_tensors([Piece(pa.table(arrays), Origin(name))], spec, name)


def _as_2d(X: Any) -> np.ndarray:
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(f"X should be a 2-D [N, F] array, but got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(
            f"X should be numeric, but got dtype {X.dtype}; use TabularDataset.from_pandas with "
            "categorical=[...] for text columns"
        )
    return X


def _as_labels(y: Any, n: int) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y should be 1-D (or [N, 1]), but got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"X and y should have the same number of rows, but got {n} and {len(y)}")
    return y


def tensors_from_arrays(
    X: Any,
    y: Any = None,
    *,
    task: str | None = None,
    feature_names: Sequence[str] | None = None,
    target_name: str | None = None,
    missing: str = "error",
    dtype: Any = "float32",
) -> Built:
    """The tensors of a numeric matrix and raw target values."""
    X = _as_2d(X)
    if feature_names is None:
        feature_names = [str(j) for j in range(X.shape[1])]
    names = [str(c) for c in feature_names]
    if len(names) != X.shape[1]:
        raise ValueError(f"feature_names should have {X.shape[1]} names, but got {len(names)}")
    cols = {c: pa.chunked_array([pa.array(X[:, j])]) for j, c in enumerate(names)}
    tname = None
    if y is not None:
        labels = _as_labels(y, len(X))
        tname = target_name or "target"
        if tname in cols:
            raise ValueError(f"target_name {tname!r} is also a feature name")
        cols[tname] = pa.chunked_array([pa.array(labels, from_pandas=True)])
    elif target_name is not None and not isinstance(target_name, str):
        raise type_error("target_name", "a str or None", target_name)
    spec = ColumnSpec(tname, names, [], task, missing, dtype=dtype).validate()
    return build_tensors([Piece(pa.table(cols), Origin("<arrays>"))], spec, "<arrays>")
