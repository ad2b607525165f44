"""CsvStream: CSV files larger than memory, byte range by byte range, as batches."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import torch

from tabloader._checks import check_int
from tabloader.datasets._arrow import unify_types
from tabloader.datasets._columns import ColumnRef, ColumnSpec
from tabloader.datasets._csv import csv_types, resolve_spec
from tabloader.datasets._csv_parse import (
    BadColumn,
    csv_options,
    explain,
    needs_full_parse,
    parse_with_retry,
    read_text,
)
from tabloader.datasets._csv_text import (
    CsvOptions,
    byte_ranges,
    check_same_columns,
    column_names,
    csv_input,
    data_start,
    header_lines,
    line_of_row,
    may_hold_large_integers,
    read_error,
    text_bytes,
)
from tabloader.datasets._encoding import Encoding
from tabloader.datasets._readahead import RemoteUnits
from tabloader.datasets._remote import open_input_file, open_input_stream, with_filesystem
from tabloader.datasets._source import COMPRESSED_SUFFIXES, Source, resolve_files
from tabloader.datasets._stream_base import STREAM_DOC_COMMON, TabularStream
from tabloader.datasets._stream_first_pass import first_pass
from tabloader.datasets._stream_rows import Unit
from tabloader.errors import EmptyDataError, ParseError

__all__ = ["CsvStream"]


def quoted_break_error(path: str, unit: Unit, block_size: int) -> ParseError:
    """The error for a quoted field with a line break across a byte-range boundary."""
    return ParseError(
        f"{path} has a quoted field with a line break (a newline inside quotes) that "
        f"crosses an end of the byte range {unit.start}-{unit.stop}: CsvStream splits a file into "
        f"byte ranges of about block_size={block_size} bytes at line starts and cannot "
        "tell such a line break from a line start; write the file without line breaks "
        "inside quoted fields, or read it with CsvDataset"
    )


class CsvStream(RemoteUnits, TabularStream):
    """Stream CSV files larger than memory, byte range by byte range, as batches.

    An :class:`~torch.utils.data.IterableDataset` with the column spec, encodings and
    error messages of :class:`~tabloader.datasets.CsvDataset`; see
    :class:`ParquetStream` for the sharding and shuffling guarantees. Each file is split
    into byte ranges of about ``block_size`` bytes that start at line starts (so one
    large file is shared out among workers and ranks); compressed files are one unit each.
    Quoted fields must not contain line breaks (as for ``CsvDataset``).

    Parameters
    ----------
    source : path, list of paths, directory or glob pattern
    target, features, categorical, task, missing, unknown_levels, dtype
        As for :class:`~tabloader.datasets.CsvDataset`.
    header, delimiter, comment, skip_rows, encoding
        As for :class:`~tabloader.datasets.CsvDataset`.
    classes, categories
        As for :class:`ParquetStream`.
    {common}
    block_size : int, default 32 MiB
        Bytes per unit.
    filesystem : pyarrow.fs.FileSystem or fsspec filesystem, optional
        Where the paths of ``source`` are; ``source`` may also be URLs (``s3://``,
        ``gs://``, ``hdfs://``, fsspec protocols): each byte range is then one ranged
        read, with a bounded read-ahead and retries (see ``docs/remote.md``).

    Notes
    -----
    The constructor parses the files once to count the rows of every byte range (and
    learn the classes and categorical levels, reading only those columns).
    """

    def __init__(
        self,
        source: Source,
        *,
        target: ColumnRef | None = None,
        features: Sequence[ColumnRef] | None = None,
        categorical: Sequence[ColumnRef] = (),
        task: str | None = None,
        missing: str = "error",
        header: bool = True,
        delimiter: str | None = None,
        comment: str | None = None,
        skip_rows: int = 0,
        encoding: str = "utf8",
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        shuffle_buffer: int = 1 << 18,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        classes: Sequence[Any] | None = None,
        categories: Mapping[str, Sequence[Any]] | None = None,
        block_size: int = 32 << 20,
        filesystem: Any = None,
        unknown_levels: str = "error",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
        )
        self.block_size = check_int("block_size", block_size, low=1)
        spec = ColumnSpec(target, features, list(categorical or []), task, missing, categories)
        spec.dtype, spec.unknown_levels = dtype, unknown_levels
        spec.validate()
        opts = CsvOptions(header, delimiter, comment, skip_rows, encoding)
        self.csv_options = opts
        files, _, name = resolve_files(with_filesystem(source, filesystem), fmt="csv")
        self._files = files
        self.source = name
        names = column_names(files[0], opts)
        self._names = names
        self._all_columns = names
        resolved = resolve_spec(spec, names, files[0], opts)
        self._columns_needed = resolved.needed(names, files[0])
        # numeric features as float64 (the converter checks the float32 range); the target
        # and categorical columns are inferred in the first pass, then read as one type
        self._types = csv_types(resolved)
        text_ok = [resolved.target_name, *resolved.categorical_names]
        self._text_ok: list[str | None] = [c for c in text_ok if c is not None]
        self._seen_types: dict[str, set[pa.DataType]] = {}
        units = []
        for fi, path in enumerate(files):
            these = names if fi == 0 else column_names(path, opts)
            check_same_columns(files[0], names, path, these)
            if path.lower().endswith(COMPRESSED_SUFFIXES):
                units.append(Unit(fi, 0, 0, 0, 0, -1, -1))
                continue
            ranges = byte_ranges(path, data_start(path, opts), self.block_size) or [(0, 0)]
            for i, (a, b) in enumerate(ranges):
                units.append(Unit(fi, i, 0, 0, 0, a, b))
        self._units = units
        first_pass(self, resolved, classes, counted=False)

    def _line_of(self) -> Any:
        opts = self.csv_options

        def line_of(path: str, row: int) -> int | None:
            return line_of_row(path, row, opts)

        return line_of

    def _check_files_nonempty(self, per_file: dict[int, int] | None) -> None:
        opts = self.csv_options
        for fi, path in enumerate(self._files):
            if per_file is not None and per_file.get(fi, 0) == 0:
                raise EmptyDataError(
                    f"{path} has "
                    + ("a header but " if opts.header else "")
                    + "no data rows; expected at least one row"
                )

    def _precision_columns(self, columns: list[str], dtype: Any) -> list[str]:
        # the first pass counts the integers of the numeric features (``_precision.py``)
        # with pyarrow's inferred types: integers stay exact, and a cell that is not a
        # number is reported when the stream reads it, as before (``_fix_types`` restores)
        self._first_pass_types = (dict(self._types), list(self._text_ok))
        self._counted = list(columns)  # read only where the bytes may hold such integers
        for c in columns:
            self._types.pop(c, None)
        self._text_ok += [c for c in columns if c not in self._text_ok]
        return columns

    def _fix_types(self, enc: Encoding) -> None:
        saved = self.__dict__.pop("_first_pass_types", None)
        self.__dict__.pop("_counted", None)
        if saved is not None:
            self._types, self._text_ok = saved
        for c in self._text_ok:
            if c is None or c in self._types:
                continue
            if c == enc.target and enc.task == "regression":
                self._types[c] = pa.float64()
            elif self._seen_types.get(c):
                t = unify_types(self._seen_types[c])
                if not pa.types.is_null(t):
                    self._types[c] = t

    def _note_types(self, table: pa.Table) -> None:
        """Remember the inferred types of the target and categorical columns."""
        for c in self._text_ok:
            if c is not None and c not in self._types and c in table.column_names:
                self._seen_types.setdefault(c, set()).add(table.schema.field(c).type)

    def _fetch_unit(self, unit: Unit, columns: list[str]) -> Iterator[tuple[pa.Table, int]]:
        path = self._files[unit.file]
        opts = self.csv_options
        types = {c: t for c, t in self._types.items() if c in columns}
        if unit.start < 0:
            yield from self._read_whole(path, columns, types)
            return
        if unit.stop <= unit.start:
            return
        with open_input_file(path) as fh:
            fh.seek(unit.start)  # a pool buffer, not bytes: no copy, no fresh pages
            data = fh.read_buffer(unit.stop - unit.start)
        if opts.comment is not None:
            c = opts.comment.encode()
            data = b"".join(
                ln for ln in bytes(data).splitlines(keepends=True) if not ln.lstrip().startswith(c)
            )
        if len(data) == 0 or (len(data) < 4096 and bytes(data).isspace()):
            return
        parse = read_text(path, opts, data, self._names)
        skipped = [c for c in columns if c in self.__dict__.get("_counted", ())]
        if not skipped or may_hold_large_integers(data):
            skipped = []
        read = [c for c in columns if c not in skipped] or columns[:1]
        try:
            table, _ = parse_with_retry(
                parse, path, opts, read, types, self._text_ok, first_row=unit.first_row
            )
        except ParseError as exc:
            if bytes(data).count(b'"') % 2:  # the range starts or ends inside a quoted field
                raise quoted_break_error(path, unit, self.block_size) from exc
            raise
        for name in skipped:  # no integer the dtype rounds in these bytes: nothing to count
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows))
        self._note_types(table)
        yield table, unit.first_row

    def _read_whole(
        self, path: str, columns: list[str], types: dict[str, pa.DataType]
    ) -> Iterator[tuple[pa.Table, int]]:
        """A compressed file, streamed block by block with ``pyarrow.csv.open_csv``.

        When a column breaks, the file is parsed whole through the one retry path (which
        reads the column as text, or raises the error that names the cell) and the rows
        not yet yielded come from that table.
        """
        opts = self.csv_options
        kw = {"skip_rows": opts.skip_rows, "skip_after_names": header_lines(path, opts)}
        read, parse, convert = csv_options(path, opts, self._names, columns, types, **kw)
        src = csv_input(path, opts)
        off = 0
        try:
            if isinstance(src, str):
                src = open_input_stream(src)
            reader = pacsv.open_csv(
                src, read_options=read, parse_options=parse, convert_options=convert
            )
            for rb in reader:
                table = pa.Table.from_batches([rb])
                if needs_full_parse(table, types):  # bytes that are not text, integers > 2**53
                    raise BadColumn("")
                self._note_types(table)
                yield table, off
                off += rb.num_rows
        except OSError as exc:
            raise read_error(path, exc) from exc
        except (pa.ArrowInvalid, BadColumn) as exc:
            err = exc if isinstance(exc, BadColumn) else explain(exc, path, opts, self._names)
            if not isinstance(err, BadColumn):
                raise err from exc
            whole = csv_input(path, opts)
            data = whole.getvalue() if isinstance(whole, io.BytesIO) else text_bytes(whole)
            reader_fn = read_text(path, opts, data, self._names, **kw)
            table, _ = parse_with_retry(reader_fn, path, opts, columns, types, self._text_ok)
            self._note_types(table)
            if table.num_rows > off:
                yield table.slice(off), off


CsvStream.__doc__ = (CsvStream.__doc__ or "").replace("{common}", STREAM_DOC_COMMON.strip("\n"))
