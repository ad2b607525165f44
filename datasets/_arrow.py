"""Arrow type helpers shared by every reader, and the one "should be numeric" message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tabloader.errors import ParseError, SchemaError

__all__ = [
    "as_float_column",
    "decode_dictionary",
    "first_non_numeric",
    "is_numeric",
    "is_text",
    "merge_unique",
    "not_numeric_error",
    "sorted_unique",
    "unify_types",
]


def is_numeric(t: pa.DataType) -> bool:
    """Integers, floats, booleans and decimals."""
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
    )


def is_text(t: pa.DataType) -> bool:
    """Any Arrow string type."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def decode_dictionary(col: Any) -> Any:
    """``col`` with a dictionary type replaced by its plain values."""
    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col


def not_numeric_error(column: str, where: str, row: str, value: Any) -> ParseError:
    """The one message for a cell of a numeric column that is not a number."""
    return ParseError(
        f"column {column!r} in {where} should be numeric, but {row} has {value!r}; "
        f"pass categorical=[{column!r}] to one-hot encode it, or fix the cell"
    )


def first_non_numeric(col: Any) -> tuple[int, Any]:
    """``(row, value)`` of the first cell of a text column that is not a number."""
    import pandas as pd

    values = col.to_pandas()
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    row = int(np.flatnonzero(bad.to_numpy())[0])
    return row, values.iloc[row]


def as_float_column(col: Any, name: str, where: str, describe_row: Any) -> Any:
    """A numeric version of a feature column, or an error that names the bad cell.

    ``describe_row(row)`` names a row of ``col`` in messages.
    """
    col = decode_dictionary(col)
    t = col.type
    if is_numeric(t) and not pa.types.is_decimal(t):
        return col
    if pa.types.is_decimal(t) or pa.types.is_null(t):
        return col.cast(pa.float64())
    if is_text(t):
        try:
            return pc.cast(col, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            row, value = first_non_numeric(col)
            raise not_numeric_error(name, where, describe_row(row), value) from None
    raise SchemaError(
        f"column {name!r} in {where} has type {t}, which is not numeric; "
        f"pass categorical=[{name!r}] to one-hot encode it, or leave it out of features="
    )


def sorted_unique(col: Any) -> pa.Array:
    """The distinct values of ``col`` in sorted order."""
    uniq = pc.unique(col)
    if isinstance(uniq, pa.ChunkedArray):
        uniq = uniq.combine_chunks()
    return uniq.take(pc.sort_indices(uniq))


def unify_types(types: set[pa.DataType]) -> pa.DataType:
    """One type for a column read with different inferred types (CSV files or byte ranges).

    Null (all-empty) parts take any type; integers and floats give float64 (integers only,
    int64); anything else is text.
    """
    kinds = {t for t in types if not pa.types.is_null(t)}
    if not kinds:
        return pa.null()
    if len(kinds) == 1:
        return kinds.pop()
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in kinds):
        return pa.float64() if any(pa.types.is_floating(t) for t in kinds) else pa.int64()
    return pa.string()


def merge_unique(arrays: list[pa.Array]) -> pa.Array:
    """The distinct values of several arrays (of possibly different inferred types)."""
    if not arrays:
        return pa.array([])
    types = {a.type for a in arrays}
    if len(types) > 1:
        t = unify_types(types)
        arrays = [a.cast(t) for a in arrays]
    return pc.unique(pa.concat_arrays(arrays))
