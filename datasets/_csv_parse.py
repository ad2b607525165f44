"""The one CSV parse path: pyarrow's parser, its errors explained, bad columns retried.

Map-style readers parse whole files, streams parse byte ranges; both call
:func:`parse_with_retry` with a function that parses their text, so a column whose inferred
type breaks later in the file, a ``true``/``false`` column, a ragged row and a cell that is
not a number are handled (and worded) the same way everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tabloader.datasets._arrow import NotNumeric, columns_error, first_non_numeric
from tabloader.datasets._csv_text import (
    CsvOptions,
    delimiter_hint,
    encoding_error,
    line_of_row,
    ragged_row_error,
    read_error,
)
from tabloader.datasets._remote import as_input
from tabloader.errors import EmptyDataError, ParseError

__all__ = [
    "BadColumn",
    "csv_options",
    "exact_integers",
    "explain",
    "needs_full_parse",
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
    if "invalid UTF8" in msg or "invalid UTF-8" in msg:
        return encoding_error(path, opts)
    if "Expected" in msg and "columns, got" in msg:
        return ragged_row_error(path, opts, len(names), names)
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


def _not_numeric(parse: ParseFn, col: str, path: str, opts: CsvOptions, first_row: int) -> Any:
    """``bool`` when the column is ``true``/``false`` text (pandas writes True/False, a
    numeric 1/0 column), else the :class:`NotNumeric` naming its first bad cell."""
    try:
        parse([col], {col: pa.bool_()})
    except (BadColumn, ParseError):
        pass
    else:
        return pa.bool_()
    text = parse([col], {col: pa.string()}).column(col)
    row, value = first_non_numeric(text)
    return NotNumeric(col, row_text(path, opts, first_row + row), value)


def _check_text(table: pa.Table, path: str, opts: CsvOptions) -> None:
    """A column inferred as binary holds bytes that are not ``opts.encoding`` text."""
    if any(pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in table.schema):
        raise encoding_error(path, opts)


def needs_full_parse(table: pa.Table, types: dict[str, pa.DataType]) -> bool:
    """Whether a block read without :func:`parse_with_retry` (a compressed stream's) must be
    parsed again through it: bytes that are not text, or integers beyond 2**53."""
    if any(pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in table.schema):
        return True
    return _beyond_2_53(table, types) is not None


def _beyond_2_53(table: pa.Table, types: dict[str, pa.DataType]) -> str | None:
    for c, t in types.items():
        if t != pa.float64() or c not in table.column_names:
            continue
        mm = pc.min_max(table.column(c))
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        big = lo is not None and (lo <= -(2**53) or hi >= 2**53)
        if big and not (math.isinf(hi) or math.isinf(lo)):
            return c
    return None


def exact_integers(parse: ParseFn, table: pa.Table, types: dict[str, pa.DataType]) -> pa.Table:
    """Read again as int64 the float64 columns with integers beyond 2**53, which a float64
    parse rounds: the precision check (``_precision.py``) then counts them exactly."""
    tried: set[str] = set()
    while (
        c := _beyond_2_53(table, {k: t for k, t in types.items() if k not in tried})
    ) is not None:
        tried.add(c)
        try:
            ints = parse([c], {c: pa.int64()}).column(c)
        except (BadColumn, ParseError):
            continue  # not all integers (or beyond int64): the float64 values stand
        table = table.set_column(table.schema.get_field_index(c), c, ints)
    return table


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
    bad cell of a numeric column is a :class:`ParseError` naming its row and line, for
    every such column at once (rows of the parsed text start at data row ``first_row`` of
    ``path``). Bytes that are not ``opts.encoding`` text are an error naming the line.
    """
    types = dict(types)
    bad: list[NotNumeric] = []
    for _ in range(len(include) + 1):
        try:
            table = parse(include, types)
        except BadColumn as exc:
            col = exc.column
            cause = exc.__cause__
            if col in text_ok and types.get(col) != pa.string():
                types[col] = pa.string()
                continue
            if types.get(col) in (pa.float32(), pa.float64()):
                found = _not_numeric(parse, col, path, opts, first_row)
                if isinstance(found, NotNumeric):
                    bad.append(found)
                    found = pa.string()  # read on, to find every bad column at once
                types[col] = found
                continue
            raise ParseError(f"could not parse column {col!r} of {path}: {cause}") from None
        if bad:
            names = getattr(parse, "names", None) or []
            hint = delimiter_hint(names, opts, path)
            raise columns_error(bad, path, hint, opts.delimiter_for(path))
        _check_text(table, path, opts)
        return exact_integers(parse, table, types), types
    raise AssertionError("unreachable")  # pragma: no cover


class _TextParser:
    """A :data:`ParseFn` over ``data`` (a path, a file object or bytes) of ``path``."""

    def __init__(self, path: str, opts: CsvOptions, data: Any, names: list[str], **kw: Any):
        self.path, self.opts, self.data, self.names, self.kw = path, opts, data, names, kw

    def __call__(self, include: Sequence[str], types: dict[str, pa.DataType]) -> pa.Table:
        path, opts = self.path, self.opts
        read, parse_opts, convert = csv_options(path, opts, self.names, include, types, **self.kw)
        data = self.data
        src = pa.BufferReader(data) if isinstance(data, (bytes, pa.Buffer)) else as_input(data)
        try:
            return pacsv.read_csv(
                src,
                read_options=read,
                parse_options=parse_opts,
                convert_options=convert,
            )
        except pa.ArrowInvalid as exc:
            raise explain(exc, path, opts, self.names) from exc
        except UnicodeDecodeError as exc:
            raise encoding_error(path, opts) from exc
        except OSError as exc:
            raise read_error(path, exc) from exc


def read_text(path: str, opts: CsvOptions, data: Any, names: list[str], **kw: Any) -> ParseFn:
    """A :data:`ParseFn` over ``data`` (a path, a file object or bytes) of ``path``."""
    return _TextParser(path, opts, data, names, **kw)
