"""The one CSV parse path: pyarrow's parser, its errors explained, bad columns retried.

Map-style readers parse whole files, streams parse byte ranges; both call
:func:`parse_with_retry` with a function that parses their text, so a column whose inferred
type breaks later in the file, a ``true``/``false`` column, a ragged row and a cell that is
not a number are handled (and worded) the same way everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from tabloader.datasets._arrow import first_non_numeric, not_numeric_error
from tabloader.datasets._csv_text import CsvOptions, line_of_row, ragged_row_error
from tabloader.errors import EmptyDataError, ParseError

__all__ = [
    "BadColumn",
    "csv_options",
    "explain",
    "parse_with_retry",
    "read_text",
    "row_text",
]

_COLUMN_RE = re.compile(r"In CSV column #(\d+)")

#: ``parse(include, types)``: the table of ``include`` columns, or :class:`BadColumn`
ParseFn = Callable[[Sequence[str], dict[str, pa.DataType]], pa.Table]


class BadColumn(Exception):
    """pyarrow could not convert a cell of ``column`` to the type asked for."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def explain(exc: Exception, path: str, opts: CsvOptions, names: list[str]) -> Exception:
    """The error to raise for a pyarrow CSV error (a :class:`BadColumn` to retry)."""
    msg = str(exc)
    if "Expected" in msg and "columns, got" in msg:
        return ragged_row_error(path, opts, len(names))
    m = _COLUMN_RE.search(msg)
    if m is not None and int(m.group(1)) < len(names):
        return BadColumn(names[int(m.group(1))])
    if "Empty CSV file" in msg:
        return EmptyDataError(f"{path} is empty; expected a header line and data rows")
    return ParseError(f"could not parse {path} as CSV: {msg}")


def csv_options(
    path: str,
    opts: CsvOptions,
    names: list[str],
    include: Sequence[str],
    types: dict[str, pa.DataType],
    skip_rows: int = 0,
    skip_after_names: int = 0,
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """pyarrow's options for ``include`` columns of ``path`` with explicit ``types``."""
    read = pacsv.ReadOptions(
        column_names=names,
        skip_rows=skip_rows,
        skip_rows_after_names=skip_after_names,
        encoding=opts.encoding,
        block_size=1 << 22,
    )
    parse = pacsv.ParseOptions(delimiter=opts.delimiter_for(path))
    convert = pacsv.ConvertOptions(
        include_columns=list(include),
        column_types={c: t for c, t in types.items() if c in set(include)},
        strings_can_be_null=True,
    )
    return read, parse, convert


def row_text(path: str, opts: CsvOptions, row: int) -> str:
    """``"row 7 (line 9)"``: a data row of ``path`` and its line number."""
    line = line_of_row(path, row, opts)
    return f"row {row}" + (f" (line {line})" if line else "")


def parse_with_retry(
    parse: ParseFn,
    path: str,
    opts: CsvOptions,
    include: Sequence[str],
    types: dict[str, pa.DataType],
    text_ok: Sequence[str | None],
    first_row: int = 0,
) -> tuple[pa.Table, dict[str, pa.DataType]]:
    """Parse with ``types``, adjusting them when a column breaks; ``(table, types used)``.

    A ``text_ok`` column (target, categorical) whose inferred type breaks later is read as
    text; a numeric column of ``true``/``false`` cells is read as booleans (1/0); any other
    bad cell of a numeric column is a :class:`ParseError` naming its row and line (rows of
    the parsed text start at data row ``first_row`` of ``path``).
    """
    types = dict(types)
    for _ in range(len(include) + 1):
        try:
            return parse(include, types), types
        except BadColumn as bad:
            col = bad.column
            cause = bad.__cause__
            if col in text_ok and types.get(col) != pa.string():
                types[col] = pa.string()
                continue
            if types.get(col) in (pa.float32(), pa.float64()):
                try:  # true/false text (pandas writes True/False) is a numeric 1/0 column
                    parse([col], {col: pa.bool_()})
                except (BadColumn, ParseError):
                    pass
                else:
                    types[col] = pa.bool_()
                    continue
                text = parse([col], {col: pa.string()}).column(col)
                row, value = first_non_numeric(text)
                raise not_numeric_error(
                    col, path, row_text(path, opts, first_row + row), value
                ) from cause
            raise ParseError(f"could not parse column {col!r} of {path}: {cause}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def read_text(path: str, opts: CsvOptions, data: Any, names: list[str], **kw: Any) -> ParseFn:
    """A :data:`ParseFn` over ``data`` (a path, a file object or bytes) of ``path``."""

    def parse(include: Sequence[str], types: dict[str, pa.DataType]) -> pa.Table:
        read, parse_opts, convert = csv_options(path, opts, names, include, types, **kw)
        src = pa.BufferReader(data) if isinstance(data, (bytes, pa.Buffer)) else data
        try:
            return pacsv.read_csv(
                src,
                read_options=read,
                parse_options=parse_opts,
                convert_options=convert,
            )
        except pa.ArrowInvalid as exc:
            raise explain(exc, path, opts, names) from exc
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"{path} is not valid {opts.encoding} text ({exc}); pass encoding="
            ) from exc

    return parse
