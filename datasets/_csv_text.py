"""CSV text: options, lines, the header, line numbers, byte ranges (for every CSV reader)."""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from tabloader._checks import check_bool, check_int, type_error, value_error
from tabloader.errors import (
    EmptyDataError,
    ParseError,
    SchemaError,
    UnsupportedFormatError,
)

__all__ = [
    "CsvOptions",
    "byte_ranges",
    "check_same_columns",
    "column_names",
    "csv_header",
    "csv_input",
    "data_start",
    "line_of_row",
    "ragged_row_error",
]

_SNIFF_BYTES = 1 << 20


def _check_char(name: str, value: Any) -> str | None:
    if value is None:
        return None
    what = "a single character or None"
    if not isinstance(value, str):
        raise type_error(name, what, value)
    if len(value) != 1:
        raise value_error(name, what, value)
    return value


class CsvOptions:
    """How CSV text is split into rows and fields (shared by every CSV reader)."""

    def __init__(
        self,
        header: bool = True,
        delimiter: str | None = None,
        comment: str | None = None,
        skip_rows: int = 0,
        encoding: str = "utf8",
    ) -> None:
        check_bool("header", header)
        delimiter = _check_char("delimiter", delimiter)
        comment = _check_char("comment", comment)
        skip_rows = check_int("skip_rows", skip_rows, low=0)
        if not isinstance(encoding, str):
            raise type_error("encoding", "a codec name (str)", encoding)
        self.header = header
        self.delimiter = delimiter
        self.comment = comment
        self.skip_rows = skip_rows
        self.encoding = encoding

    def delimiter_for(self, path: str) -> str:
        if self.delimiter is not None:
            return self.delimiter
        return "\t" if ".tsv" in path.lower() else ","


def _open_text_head(path: str) -> bytes:
    with pa.input_stream(path, compression="detect") as fh:
        return fh.read(_SNIFF_BYTES)


def _python_encoding(encoding: str) -> str:
    """The Python codec for ``encoding``; UTF-8 drops a byte-order mark, as pyarrow does."""
    return "utf-8-sig" if encoding.lower().replace("-", "").replace("_", "") == "utf8" else encoding


def iter_lines(path: str, encoding: str = "utf8") -> Iterator[str]:
    """Text lines (no line ending) of a possibly compressed file."""
    with pa.input_stream(path, compression="detect") as fh:
        text = io.TextIOWrapper(
            io.BufferedReader(fh),
            encoding=_python_encoding(encoding),
            errors="replace",
            newline="",
        )
        for line in text:
            yield line.rstrip("\r\n")


def _is_skipped(line: str, comment: str | None) -> bool:
    """Blank lines, and comment lines (after spaces or tabs) as :func:`_csv_input` removes them."""
    return not line.strip() or (comment is not None and line.lstrip(" \t").startswith(comment))


def first_lines(path: str, opts: CsvOptions, count: int) -> tuple[list[str], int]:
    """Up to ``count`` leading lines after ``skip_rows`` that are not blank or comments.

    Also returns how many lines of the text pyarrow parses (see :func:`_csv_input`, which
    removes comment lines) come before the first of them.
    """
    head = _open_text_head(path)
    if head[:4] == b"PAR1":
        raise UnsupportedFormatError(
            f"{path} is a Parquet file, not CSV; use ParquetDataset or TabularDataset.from_path"
        )
    if b"\x00" in head:
        raise UnsupportedFormatError(
            f"{path} is not a CSV file (it has binary content); tabloader reads CSV and Parquet"
        )
    skipped = lead = 0
    found: list[str] = []
    for line in iter_lines(path, opts.encoding):
        if skipped < opts.skip_rows:
            skipped += 1
            continue
        if _is_skipped(line, opts.comment):
            if found:
                continue
            if not line.strip():
                lead += 1  # blank lines stay in pyarrow's input; comment lines do not
            continue
        found.append(line)
        if len(found) == count:
            break
    return found, opts.skip_rows + lead


def line_of_row(path: str, row: int, opts: CsvOptions) -> int | None:
    """1-based line number of data row ``row`` (0-based) of ``path``."""
    seen_header = not opts.header
    data_row = -1
    for lineno, line in enumerate(iter_lines(path, opts.encoding), start=1):
        if lineno <= opts.skip_rows or _is_skipped(line, opts.comment):
            continue
        if not seen_header:
            seen_header = True
            continue
        data_row += 1
        if data_row == row:
            return lineno
    return None


def _find_ragged_line(path: str, opts: CsvOptions, n_fields: int) -> tuple[int, int] | None:
    delim = opts.delimiter_for(path)
    lines = (
        (i, line)
        for i, line in enumerate(iter_lines(path, opts.encoding), start=1)
        if i > opts.skip_rows and not _is_skipped(line, opts.comment)
    )
    for i, line in lines:
        fields = next(csv.reader([line], delimiter=delim))
        if len(fields) != n_fields:
            return i, len(fields)
    return None


def column_names(path: str, opts: CsvOptions) -> list[str]:
    """The column names of ``path`` (by position with ``header=False``)."""
    return csv_header(path, opts)[0]


def csv_header(path: str, opts: CsvOptions) -> tuple[list[str], int]:
    """The column names of ``path`` and how many lines of pyarrow's input precede the data.

    That count (``skip_rows`` lines, blank lines before the header, and the header) is what
    pyarrow's ``ReadOptions.skip_rows`` needs: pyarrow counts blank lines there.
    """
    lines, lead = first_lines(path, opts, 2)
    skip = lead + 1 if opts.header else lead
    skipped = [f"the first skip_rows={opts.skip_rows} lines"] if opts.skip_rows else []
    skipped += [f"comment lines (comment={opts.comment!r})"] if opts.comment else []
    after = f" after skipping {' and '.join(skipped)}" if skipped else ""
    if not lines:
        raise EmptyDataError(
            f"{path} is empty{after}; expected "
            + ("a header line and data rows" if opts.header else "data rows")
        )
    if opts.header and len(lines) == 1:
        raise EmptyDataError(
            f"{path} has a header but no data rows{after}; expected at least one row "
            "(pass header=False if the first line is data)"
        )
    line = lines[0]
    fields = next(csv.reader([line], delimiter=opts.delimiter_for(path)))
    if not opts.header:
        return [str(i) for i in range(len(fields))], skip
    names = [f.strip() for f in fields]
    for i, nm in enumerate(names):
        if not nm:
            names[i] = str(i)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SchemaError(
            f"{path} has duplicate column names {dupes} in its header; rename them, "
            "or pass header=False if the first line is data"
        )
    return names, skip


def csv_input(path: str, opts: CsvOptions) -> Any:
    """The file itself, or (with ``comment=``) its text with comment lines removed."""
    if opts.comment is None:
        return path
    with pa.input_stream(path, compression="detect") as fh:
        data = fh.read()
    start = 0
    for _ in range(opts.skip_rows):  # the skipped lines stay (pyarrow skips them)
        nl = data.find(b"\n", start)
        if nl < 0:
            start = len(data)
            break
        start = nl + 1
    pattern = re.compile(
        rb"^[ \t]*" + re.escape(opts.comment.encode()) + rb"[^\n]*(?:\n|\Z)",
        re.MULTILINE,
    )
    return io.BytesIO(data[:start] + pattern.sub(b"", data[start:]))


def is_ragged_message(msg: str) -> bool:
    """Whether a pyarrow CSV error is about a row with the wrong number of fields."""
    return "Expected" in msg and "columns, got" in msg


def ragged_row_error(path: str, opts: CsvOptions, n_fields: int) -> ParseError:
    """The error for a ragged row of ``path``, naming its line (found by a scan)."""
    found = _find_ragged_line(path, opts, n_fields)
    where = (
        f"line {found[0]} has {found[1]} fields"
        if found
        else "a row has a different number of fields"
    )
    return ParseError(
        f"ragged row in {path}: {where}, but the "
        + ("header has" if opts.header else "first row has")
        + f" {n_fields}; fix the row, or check delimiter={opts.delimiter_for(path)!r}"
    )


def check_same_columns(first: str, names: list[str], path: str, these: list[str]) -> None:
    """Raise a SchemaError naming both files unless ``path`` has ``first``'s columns."""
    if these == names:
        return
    missing_cols = [c for c in names if c not in these]
    extra = [c for c in these if c not in names]
    detail = (
        f"{first} has {names}, {path} has {these}"
        if not (missing_cols or extra)
        else f"{path} lacks {missing_cols} and has extra {extra}"
    )
    raise SchemaError(
        f"CSV files {first} and {path} have different columns: {detail}; "
        "every file of one dataset must have the same columns in the same order"
    )


def data_start(path: str, opts: CsvOptions) -> int:
    """Byte offset of the first data line (after skipped rows, comments and the header)."""
    with open(path, "rb") as fh:
        for _ in range(opts.skip_rows):
            if not fh.readline():
                return fh.tell()
        if not opts.header:
            return fh.tell()
        c = opts.comment.encode() if opts.comment else None
        while True:
            line = fh.readline()
            if not line:
                return fh.tell()
            s = line.strip()
            if s and not (c is not None and s.startswith(c)):
                return fh.tell()


def byte_ranges(path: str, start: int, block: int) -> list[tuple[int, int]]:
    """Split ``[start, size)`` at line starts into ranges of about ``block`` bytes."""
    size = os.path.getsize(path)
    bounds = [start]
    with open(path, "rb") as fh:
        pos = start
        while pos + block < size:
            fh.seek(pos + block - 1)
            # the next line starts after the first newline at or after pos + block - 1
            while True:
                buf = fh.read(1 << 16)
                if not buf:
                    nxt = size
                    break
                i = buf.find(b"\n")
                if i >= 0:
                    nxt = fh.tell() - len(buf) + i + 1
                    break
            if nxt >= size:
                break
            bounds.append(nxt)
            pos = nxt
    bounds.append(size)
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
