"""CSV text: options, lines, the header, line numbers, byte ranges (for every CSV reader)."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from tabloader._checks import check_bool, check_int, type_error, value_error
from tabloader.datasets._remote import file_size, open_buffered, open_input_stream, storage_error
from tabloader.errors import (
    AccessError,
    DataFileNotFoundError,
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
    "delimiter_hint",
    "encoding_error",
    "header_lines",
    "line_of_row",
    "may_hold_large_integers",
    "ragged_row_error",
    "read_error",
    "text_bytes",
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


def read_error(path: str, exc: OSError) -> Exception:
    """The error for a file that could not be read: it is gone, access is refused, or it
    is truncated or corrupt (a compressed file cut short, say): a ParseError naming it."""
    remote = storage_error(path, exc)  # a remote store's error (typed, naming the URL)
    if remote is not None:
        return remote
    if isinstance(exc, FileNotFoundError):
        return DataFileNotFoundError(f"data file {path} does not exist")
    if isinstance(exc, PermissionError):
        return AccessError(
            f"data file {path} cannot be read (permission denied); check its permissions"
        )
    return ParseError(
        f"could not read {path} ({exc}): the file is truncated or corrupt (a compressed "
        "file cut short, for example); write or download it again"
    )


def _open_text_head(path: str) -> bytes:
    try:
        with open_input_stream(path) as fh:
            return fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise read_error(path, exc) from exc


def _canonical(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding


def encoding_error(path: str, opts: CsvOptions) -> ParseError:
    """The error for a file that is not text in ``opts.encoding``: where the first byte
    that cannot be decoded is (line and byte offset), and the ``encoding=`` to pass."""
    decoder = codecs.getincrementaldecoder(_python_encoding(opts.encoding))("strict")
    fed = lines = 0
    found = None
    try:
        with open_input_stream(path) as fh:
            while found is None:
                chunk = fh.read(1 << 20)
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    pending = len(exc.object) - len(chunk)
                    line = lines + bytes(exc.object[: exc.start]).count(b"\n") + 1
                    found = (
                        fed - pending + exc.start,
                        line,
                        bytes(exc.object[exc.start : exc.end]),
                    )
                if not chunk:
                    break
                fed += len(chunk)
                lines += chunk.count(b"\n")
    except OSError as exc:
        raise read_error(path, exc) from exc
    where = (
        ""
        if found is None
        else (
            f": the byte{'s' if len(found[2]) > 1 else ''} 0x{found[2].hex()} at line {found[1]} "
            f"(byte offset {found[0]}) cannot be decoded"
        )
    )
    utf8 = _canonical(opts.encoding) in ("utf-8", "utf-8-sig")
    suggest = (
        "pass the file's encoding, for example encoding='latin-1' (or 'cp1252' for files "
        "saved on Windows)"
        if utf8
        else "pass the file's encoding= (for example 'utf8', or 'latin-1' for Western "
        "European text)"
    )
    return ParseError(f"{path} is not valid {opts.encoding} text{where}; {suggest}")


#: a number whose integer part has 8 digits or more (2**24 = 16777216 has 8), or a
#: positive exponent: the only text that can hold an integer float32 rounds (RE2 syntax)
_LARGE_NUMBER = r"(?:^|[^0-9.])[0-9]{8}|[eE]\+?[0-9]"


def may_hold_large_integers(data: Any) -> bool:
    """Whether CSV text ``data`` (bytes) may hold an integer beyond 2**24: a cheap scan
    (no parse) that lets a stream's first pass skip the numeric columns of most text."""
    import numpy as np
    import pyarrow.compute as pc

    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    offsets = pa.py_buffer(np.array([0, buf.size], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buf])
    return bool(pc.match_substring_regex(text, _LARGE_NUMBER)[0].as_py())


_DELIMITERS = (";", "\t", "|", " ")


def delimiter_hint(names: Sequence[str], opts: CsvOptions, path: str) -> str | None:
    """What to do when the header is one column that looks separated by another character:
    ``"the header is one column 'a;b;y', which looks ';'-separated: pass delimiter=';'"``."""
    if len(names) != 1 or not opts.header:
        return None
    name = names[0]
    used = opts.delimiter_for(path)
    counts = {d: name.count(d) for d in _DELIMITERS if d != used and name.strip(" ").count(d)}
    if not counts:
        return None
    best = max(counts, key=lambda d: (counts[d], d != " "))
    return (
        f"the header is one column {name!r}, which looks {best!r}-separated: "
        f"pass delimiter={best!r}"
    )


def _python_encoding(encoding: str) -> str:
    """The Python codec for ``encoding``; UTF-8 drops a byte-order mark, as pyarrow does."""
    return "utf-8-sig" if encoding.lower().replace("-", "").replace("_", "") == "utf8" else encoding


def iter_lines(path: str, encoding: str = "utf8", errors: str = "replace") -> Iterator[str]:
    """Text lines (no line ending) of a possibly compressed file."""
    with open_input_stream(path) as fh:
        text = io.TextIOWrapper(
            io.BufferedReader(fh),
            encoding=_python_encoding(encoding),
            errors=errors,
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
    removes comment lines) come before the first of them. Text that is not valid in
    ``opts.encoding`` and a file that cannot be read are errors that name the file.
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
    try:
        for line in iter_lines(path, opts.encoding, errors="strict"):
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
    except UnicodeDecodeError as exc:
        raise encoding_error(path, opts) from exc
    except OSError as exc:
        raise read_error(path, exc) from exc
    return found, opts.skip_rows + lead


def _first_record(lines: list[str], delimiter: str) -> tuple[list[str], int]:
    """The first CSV record of ``lines`` and how many lines it takes (as Python's csv
    module reads it: a quoted field may hold line breaks, a stray quote may not open one)."""
    used = 0

    def feed() -> Iterator[str]:
        nonlocal used
        for line in lines:
            used += 1
            yield line + "\n"

    return next(csv.reader(feed(), delimiter=delimiter), []), used


def _header_record(path: str, opts: CsvOptions) -> tuple[list[str], int, bool, int]:
    """The header (or first row): its fields, its lines (a quoted name may hold a line
    break, as pandas reads it), whether a line follows, and the lines before it."""
    count = 2
    while True:
        lines, lead = first_lines(path, opts, count)
        fields, k = _first_record(lines, opts.delimiter_for(path))
        if k < len(lines) or len(lines) < count or count >= 4096:
            break
        count *= 4  # the first record may go on: read more lines
    return fields, k, len(lines) > k, lead


def header_lines(path: str, opts: CsvOptions) -> int:
    """How many lines the header takes (0 with ``header=False``; more than 1 when a quoted
    name holds a line break)."""
    return _header_record(path, opts)[1] if opts.header else 0


def line_of_row(path: str, row: int, opts: CsvOptions) -> int | None:
    """1-based line number of data row ``row`` (0-based) of ``path``."""
    header_left = header_lines(path, opts)
    data_row = -1
    for lineno, line in enumerate(iter_lines(path, opts.encoding), start=1):
        if lineno <= opts.skip_rows or _is_skipped(line, opts.comment):
            continue
        if header_left:
            header_left -= 1
            continue
        data_row += 1
        if data_row == row:
            return lineno
    return None


def _find_ragged_line(path: str, opts: CsvOptions, n_fields: int) -> tuple[int, int] | None:
    delim = opts.delimiter_for(path)
    header_left = header_lines(path, opts)
    lines = (
        (i, line)
        for i, line in enumerate(iter_lines(path, opts.encoding), start=1)
        if i > opts.skip_rows and not _is_skipped(line, opts.comment)
    )
    for i, line in lines:
        if header_left:
            header_left -= 1
            continue
        fields = next(csv.reader([line], delimiter=delim))
        if len(fields) != n_fields:
            return i, len(fields)
    return None


def column_names(path: str, opts: CsvOptions) -> list[str]:
    """The column names of ``path`` (by position with ``header=False``)."""
    return csv_header(path, opts)[0]


def csv_header(path: str, opts: CsvOptions) -> tuple[list[str], int]:
    """The column names of ``path`` and how many lines of pyarrow's input precede the data.

    That count (``skip_rows`` lines, blank lines before the header, and the header's
    lines) is what pyarrow's ``ReadOptions.skip_rows`` needs: pyarrow counts blank lines
    there.
    """
    fields, k, more, lead = _header_record(path, opts)
    skip = lead + k if opts.header else lead
    skipped = [f"the first skip_rows={opts.skip_rows} lines"] if opts.skip_rows else []
    skipped += [f"comment lines (comment={opts.comment!r})"] if opts.comment else []
    after = f" after skipping {' and '.join(skipped)}" if skipped else ""
    if not k:
        raise EmptyDataError(
            f"{path} is empty{after}; expected "
            + ("a header line and data rows" if opts.header else "data rows")
        )
    if opts.header and not more:
        raise EmptyDataError(
            f"{path} has a header but no data rows{after}; expected at least one row "
            "(pass header=False if the first line is data)"
        )
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


def text_bytes(path: str) -> bytes:
    """The whole (decompressed) content of ``path``; a file that cannot be read is an
    error naming it (see :func:`read_error`)."""
    try:
        with open_input_stream(path) as fh:
            return bytes(fh.read())
    except OSError as exc:
        raise read_error(path, exc) from exc


def csv_input(path: str, opts: CsvOptions) -> Any:
    """The file itself, or (with ``comment=``) its text with comment lines removed."""
    if opts.comment is None:
        return path
    data = text_bytes(path)
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


def ragged_row_error(
    path: str, opts: CsvOptions, n_fields: int, names: Sequence[str] | None = None
) -> ParseError:
    """The error for a ragged row of ``path``, naming its line (found by a scan); with the
    header's ``names``, a header that looks separated by another character says so."""
    found = _find_ragged_line(path, opts, n_fields)
    where = (
        f"line {found[0]} has {found[1]} field{'s' if found[1] != 1 else ''}"
        if found
        else "a row has a different number of fields"
    )
    hint = delimiter_hint(names or [], opts, path)
    return ParseError(
        f"ragged row in {path}: {where}, but the "
        + ("header has" if opts.header else "first row has")
        + f" {n_fields}; "
        + (hint or f"fix the row, or check delimiter={opts.delimiter_for(path)!r}")
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
    with open_buffered(path) as fh:
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
                for _ in range(header_lines(path, opts) - 1):  # a name with a line break
                    fh.readline()
                return fh.tell()


def byte_ranges(path: str, start: int, block: int) -> list[tuple[int, int]]:
    """Split ``[start, size)`` at line starts into ranges of about ``block`` bytes."""
    size = file_size(path)
    bounds = [start]
    with open_buffered(path) as fh:
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
