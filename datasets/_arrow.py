"""Arrow type helpers shared by every reader, and the one "should be numeric" message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tabloader.errors import ParseError, SchemaError

__all__ = [
    "NotNumeric",
    "as_float_column",
    "columns_error",
    "decode_dictionary",
    "first_non_numeric",
    "is_numeric",
    "is_text",
    "merge_unique",
    "not_numeric_error",
    "numeric_or_problem",
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


#: a number written with a decimal comma (``1,5``, ``-1.234,5``): not a number to a parser
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?(\d{1,3}(\.\d{3})+|\d*),\d+\s*$")


@dataclass
class NotNumeric:
    """A feature column that should be numeric: its first bad cell, or its type."""

    column: str
    row: str = ""  # "row 3 (line 5)"
    value: Any = None
    type: pa.DataType | None = None

    def detail(self) -> str:
        if self.type is not None:
            return f"type {self.type}, which is not numeric"
        return f"{self.row} has {self.value!r}"


def _decimal_comma_hint(bad: list[NotNumeric], delimiter: str | None) -> str | None:
    cells = [b.value for b in bad if b.type is None]
    if not cells or len(cells) < len(bad):
        return None
    if not all(isinstance(v, str) and _DECIMAL_COMMA.match(v) for v in cells):
        return None
    sep = "" if delimiter is None else f"sep={delimiter!r}, "
    return (
        f"{'it looks like a number' if len(cells) == 1 else 'they look like numbers'} with a "
        "decimal comma, "
        "but tabloader reads '.' as the decimal point: convert the numbers, for example "
        f"read the file with pandas.read_csv(path, {sep}decimal=',') and pass the DataFrame "
        "to TabularDataset.from_pandas"
    )


def columns_error(
    bad: list[NotNumeric], where: str, hint: str | None = None, delimiter: str | None = None
) -> ParseError | SchemaError:
    """The one error for feature columns that are not numeric: every one of them, their
    first bad cells, and what to do (``hint``, a decimal-comma hint, or ``categorical=``)."""
    hint = hint or _decimal_comma_hint(bad, delimiter)
    cls = SchemaError if all(b.type is not None for b in bad) else ParseError
    names = [b.column for b in bad]
    if len(bad) == 1:
        b = bad[0]
        if b.type is not None:
            return SchemaError(
                f"column {b.column!r} in {where} has type {b.type}, which is not numeric; "
                + (
                    hint
                    or f"pass categorical=[{b.column!r}] to one-hot encode it, or leave it "
                    "out of features="
                )
            )
        return ParseError(
            f"column {b.column!r} in {where} should be numeric, but {b.row} has {b.value!r}; "
            + (hint or f"pass categorical=[{b.column!r}] to one-hot encode it, or fix the cell")
        )
    details = "; ".join(f"column {b.column!r}: {b.detail()}" for b in bad)
    return cls(
        f"{len(bad)} feature columns in {where} should be numeric, but are not: {details}; "
        + (hint or f"pass categorical={names} to one-hot encode them, or fix the cells")
    )


def not_numeric_error(column: str, where: str, row: str, value: Any) -> ParseError:
    """The one message for a cell of a numeric column that is not a number."""
    err = columns_error([NotNumeric(column, row, value)], where)
    assert isinstance(err, ParseError)
    return err


def first_non_numeric(col: Any) -> tuple[int, Any]:
    """``(row, value)`` of the first cell of a text column that is not a number."""
    import pandas as pd

    values = col.to_pandas()
    parsed = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero((parsed.isna() & values.notna()).to_numpy())
    if len(bad):
        return int(bad[0]), values.iloc[int(bad[0])]
    for row, value in enumerate(col.to_pylist()):  # numbers to pandas, not to pyarrow
        try:
            pc.cast(pa.array([value], col.type), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return row, value
    return 0, values.iloc[0] if len(values) else None


def as_float_column(col: Any, name: str, where: str, describe_row: Any) -> Any:
    """A numeric version of a feature column, or an error that names the bad cell.

    ``describe_row(row)`` names a row of ``col`` in messages.
    """
    out = numeric_or_problem(col, name, describe_row)
    if isinstance(out, NotNumeric):
        raise columns_error([out], where)
    return out


def numeric_or_problem(col: Any, name: str, describe_row: Any) -> Any:
    """A numeric version of a feature column, or the :class:`NotNumeric` that says why not."""
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
            return NotNumeric(name, describe_row(row), value)
    return NotNumeric(name, type=t)


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
