"""CsvStream: CSV files larger than memory, byte range by byte range, as batches."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from tabloader._checks import check_int
from tabloader.datasets._arrow import unify_types
from tabloader.datasets._columns import ColumnRef, ColumnSpec
from tabloader.datasets._csv import csv_types
from tabloader.datasets._csv_parse import (
    BadColumn,
    csv_options,
    explain,
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
    line_of_row,
)
from tabloader.datasets._encoding import Encoding
from tabloader.datasets._source import COMPRESSED_SUFFIXES, Source, resolve_files
from tabloader.datasets._stream_base import STREAM_DOC_COMMON, TabularStream
from tabloader.datasets._stream_first_pass import first_pass
from tabloader.datasets._stream_rows import Unit
from tabloader.errors import EmptyDataError

__all__ = ["CsvStream"]


class CsvStream(TabularStream):
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
    target, features, categorical, task, missing
        As for :class:`~tabloader.datasets.CsvDataset`.
    header, delimiter, comment, skip_rows, encoding
        As for :class:`~tabloader.datasets.CsvDataset`.
    classes, categories
        As for :class:`ParquetStream`.
    {common}
    block_size : int, default 32 MiB
        Bytes per unit.

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
        spec.validate()
        opts = CsvOptions(header, delimiter, comment, skip_rows, encoding)
        self.csv_options = opts
        files, _, name = resolve_files(source, fmt="csv")
        self._files = files
        self.source = name
        names = column_names(files[0], opts)
        self._names = names
        self._all_columns = names
        resolved = spec.resolved(names, files[0])
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

    def _fix_types(self, enc: Encoding) -> None:
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

    def _read_unit(self, unit: Unit, columns: list[str]) -> Iterator[tuple[pa.Table, int]]:
        path = self._files[unit.file]
        opts = self.csv_options
        types = {c: t for c, t in self._types.items() if c in columns}
        if unit.start < 0:
            yield from self._read_whole(path, columns, types)
            return
        if unit.stop <= unit.start:
            return
        with pa.OSFile(path) as fh:
            data = fh.read_at(unit.stop - unit.start, unit.start)
        if opts.comment is not None:
            c = opts.comment.encode()
            data = b"".join(
                ln for ln in data.splitlines(keepends=True) if not ln.lstrip().startswith(c)
            )
        if len(data) == 0 or (len(data) < 4096 and bytes(data).isspace()):
            return
        parse = read_text(path, opts, data, self._names)
        table, _ = parse_with_retry(
            parse, path, opts, columns, types, self._text_ok, first_row=unit.first_row
        )
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
        kw = {"skip_rows": opts.skip_rows, "skip_after_names": 1 if opts.header else 0}
        read, parse, convert = csv_options(path, opts, self._names, columns, types, **kw)
        src = csv_input(path, opts)
        off = 0
        try:
            if isinstance(src, str):
                src = pa.input_stream(src, compression="detect")
            reader = pacsv.open_csv(
                src, read_options=read, parse_options=parse, convert_options=convert
            )
            for rb in reader:
                table = pa.Table.from_batches([rb])
                self._note_types(table)
                yield table, off
                off += rb.num_rows
        except pa.ArrowInvalid as exc:
            err = explain(exc, path, opts, self._names)
            if not isinstance(err, BadColumn):
                raise err from exc
            whole = csv_input(path, opts)
            data = whole.getvalue() if isinstance(whole, io.BytesIO) else whole
            if isinstance(data, str):
                with pa.input_stream(data, compression="detect") as fh:
                    data = fh.read()
            reader_fn = read_text(path, opts, data, self._names, **kw)
            table, _ = parse_with_retry(reader_fn, path, opts, columns, types, self._text_ok)
            self._note_types(table)
            if table.num_rows > off:
                yield table.slice(off), off


CsvStream.__doc__ = (CsvStream.__doc__ or "").replace("{common}", STREAM_DOC_COMMON.strip("\n"))
