"""CSV files into a TabularDataset, parsed by pyarrow's multi-threaded CSV reader."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from tabloader.datasets._convert import ColumnRef, ColumnSpec, _first_non_numeric, build_dataset
from tabloader.datasets._origin import Origin
from tabloader.datasets._source import Source, resolve_files
from tabloader.datasets._tabular import TabularDataset
from tabloader.errors import (
    EmptyDataError,
    ParseError,
    SchemaError,
    UnsupportedFormatError,
)

__all__ = ["CsvDataset", "CsvOptions", "read_csv_table"]

_SNIFF_BYTES = 1 << 20


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
        if not isinstance(header, bool):
            raise TypeError(f"header should be True or False, but got header={header!r}")
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise ValueError(
                f"delimiter should be a single character, but got delimiter={delimiter!r}"
            )
        if comment is not None and (not isinstance(comment, str) or len(comment) != 1):
            raise ValueError(f"comment should be a single character, but got comment={comment!r}")
        if isinstance(skip_rows, bool) or not isinstance(skip_rows, int) or skip_rows < 0:
            raise ValueError(
                f"skip_rows should be a non-negative integer, but got skip_rows={skip_rows!r}"
            )
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


def _iter_lines(path: str, encoding: str = "utf8"):
    """Text lines (no line ending) of a possibly compressed file."""
    with pa.input_stream(path, compression="detect") as fh:
        text = io.TextIOWrapper(
            io.BufferedReader(fh), encoding=_python_encoding(encoding), errors="replace", newline=""
        )
        for line in text:
            yield line.rstrip("\r\n")


def _is_skipped(line: str, comment: str | None) -> bool:
    """Blank lines, and comment lines (after spaces or tabs) as :func:`_csv_input` removes them."""
    return not line.strip() or (comment is not None and line.lstrip(" \t").startswith(comment))


def _first_lines(path: str, opts: CsvOptions, count: int) -> tuple[list[str], int]:
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
    for line in _iter_lines(path, opts.encoding):
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


def _line_of_row(path: str, row: int, opts: CsvOptions) -> int | None:
    """1-based line number of data row ``row`` (0-based) of ``path``."""
    seen_header = not opts.header
    data_row = -1
    for lineno, line in enumerate(_iter_lines(path, opts.encoding), start=1):
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
        for i, line in enumerate(_iter_lines(path, opts.encoding), start=1)
        if i > opts.skip_rows and not _is_skipped(line, opts.comment)
    )
    for i, line in lines:
        fields = next(csv.reader([line], delimiter=delim))
        if len(fields) != n_fields:
            return i, len(fields)
    return None


def _column_names(path: str, opts: CsvOptions) -> list[str]:
    """The column names of ``path`` (by position with ``header=False``)."""
    return _csv_header(path, opts)[0]


def _csv_header(path: str, opts: CsvOptions) -> tuple[list[str], int]:
    """The column names of ``path`` and how many lines of pyarrow's input precede the data.

    That count (``skip_rows`` lines, blank lines before the header, and the header) is what
    pyarrow's ``ReadOptions.skip_rows`` needs: pyarrow counts blank lines there.
    """
    lines, lead = _first_lines(path, opts, 2)
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


def _csv_input(path: str, opts: CsvOptions) -> Any:
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
    pattern = re.compile(rb"^[ \t]*" + re.escape(opts.comment.encode()) + rb"[^\n]*(?:\n|\Z)", re.M)
    return io.BytesIO(data[:start] + pattern.sub(b"", data[start:]))


_COLUMN_RE = re.compile(r"In CSV column #(\d+)")


def read_csv_table(
    path: str,
    opts: CsvOptions,
    names: list[str],
    include: Sequence[str],
    column_types: dict[str, pa.DataType],
    skip: int | None = None,
) -> pa.Table:
    """Read the ``include`` columns of one CSV file into an Arrow table (errors explained).

    ``skip`` lines (skipped rows, blank lines and the header) come before the data; by
    default they are counted with :func:`_csv_header`.
    """
    if skip is None:
        skip = _csv_header(path, opts)[1]
    delim = opts.delimiter_for(path)
    fast = _read_clean_with_pandas(path, opts, names, include, column_types, skip, delim)
    if fast is not None:
        return fast
    read_options = pacsv.ReadOptions(
        column_names=names,
        skip_rows=skip,
        encoding=opts.encoding,
        block_size=1 << 22,
    )
    parse_options = pacsv.ParseOptions(delimiter=delim)
    convert_options = pacsv.ConvertOptions(
        include_columns=list(include),
        column_types=column_types,
        strings_can_be_null=True,
    )
    try:
        return pacsv.read_csv(
            _csv_input(path, opts),
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if is_ragged_message(msg):
            raise ragged_row_error(path, opts, len(names)) from exc
        m = _COLUMN_RE.search(msg)
        if m is not None:
            col = names[int(m.group(1))] if int(m.group(1)) < len(names) else None
            if col is not None:
                raise _BadColumn(col) from exc
        if "Empty CSV file" in msg:
            raise EmptyDataError(f"{path} is empty; expected a header line and data rows") from exc
        raise ParseError(f"could not parse {path} as CSV: {msg}") from exc
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"{path} is not valid {opts.encoding} text ({exc}); pass encoding="
        ) from exc


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


def _read_clean_with_pandas(
    path: str,
    opts: CsvOptions,
    names: list[str],
    include: Sequence[str],
    column_types: dict[str, pa.DataType],
    skip: int,
    delim: str,
) -> pa.Table | None:
    """Parse with pandas' C parser, the faster one on 2 cores (see benchmarks/bench_datasets.py).

    Only clean files take this path: on any parser error, and whenever a cell is empty
    or missing (which pandas cannot tell from a short, ragged row), ``None`` sends the
    file to pyarrow's parser, whose errors name the line, column and value.
    """
    import pandas as pd

    if any(t not in (pa.float32(),) for t in column_types.values()):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = pd.read_csv(
                _csv_input(path, opts),
                sep=delim,
                header=None,
                names=names,
                index_col=False,
                skiprows=skip,
                encoding=opts.encoding,
                engine="c",
                skip_blank_lines=True,
                on_bad_lines="error",
            )
    except Exception:
        return None
    # no usecols: pandas would then skip over a row's extra fields instead of failing
    df = df[[c for c in names if c in set(include)]]
    if df.isna().to_numpy().any():
        return None
    if any(df[c].dtype.kind not in "iuf" for c in df.columns):
        return None  # text or boolean columns: pyarrow's inference (labels keep their spelling)
    return pa.Table.from_pandas(df, preserve_index=False)


class _BadColumn(Exception):
    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


class CsvDataset(TabularDataset):
    """A :class:`TabularDataset` read from one or more CSV files.

    Parameters
    ----------
    source : path, list of paths, directory or glob pattern
        CSV files (optionally ``.gz``/``.bz2``/``.zst`` compressed). Several files must
        have the same columns; their rows are concatenated in order (a directory or a glob
        is read in sorted path order).
    target : str or int, optional
        The target column: a name, or a position (negative counts from the end,
        ``-1`` = last column). ``None`` for a features-only dataset.
    features : list of str or int, optional
        Feature columns (names or positions); default every column but the target.
    categorical : list of str or int, optional
        Feature columns to one-hot encode (levels in sorted order; named ``"col=level"``).
    task : {"regression", "binary", "multiclass"}, optional
        What the target is; inferred when omitted (see :func:`tabloader.datasets.infer_task`).
    missing : {"error", "drop", "mean"}, default "error"
        What to do with empty, null, NaN or inf cells.
    categories : dict, optional
        Fixed levels ``{column: [level, ...]}`` for categorical columns (for example the
        ``categories_`` of the training set), so that new data gets the same one-hot columns;
        a level not listed is an error. Other categorical columns use the levels they have.
    fill_values : dict, optional
        For ``missing="mean"``: the value to fill in per output feature name (for example the
        ``fill_values_`` of the training set) instead of this data's column mean.
    header : bool, default True
        Whether the first (non-skipped, non-comment) line holds column names. With
        ``header=False`` the columns are named by position: ``"0"``, ``"1"``, ...
    delimiter : str, optional
        Field separator; default ``","`` (``"\\t"`` for ``.tsv`` files).
    comment : str, optional
        Lines starting with this character (after optional spaces) are ignored.
    skip_rows : int, default 0
        Lines to skip at the top of each file, before the header.
    encoding : str, default "utf8"

    Examples
    --------
    >>> ds = CsvDataset("data-03-diabetes.csv", header=False, target=-1)  # doctest: +SKIP
    >>> x, y = ds[0]
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
        categories: Mapping[str, Sequence] | None = None,
        fill_values: Mapping[str, float] | None = None,
        header: bool = True,
        delimiter: str | None = None,
        comment: str | None = None,
        skip_rows: int = 0,
        encoding: str = "utf8",
    ) -> None:
        spec = ColumnSpec(
            target, features, categorical or [], task, missing, categories, fill_values
        )
        spec.validate()
        opts = CsvOptions(header, delimiter, comment, skip_rows, encoding)
        table, origin, spec = _read_csv_files(source, opts, spec)
        built = build_dataset(TabularDataset, table, spec, origin)
        self.__dict__.update(built.__dict__)
        self.csv_options = opts


def _read_csv_files(
    source: Source, opts: CsvOptions, spec: ColumnSpec
) -> tuple[pa.Table, Origin, ColumnSpec]:
    files, _, name = resolve_files(source, fmt="csv")
    names, first_skip = _csv_header(files[0], opts)
    target, features, categorical = spec.resolve(names, files[0])
    resolved = spec.with_columns(target, features, categorical)
    include = resolved.needed(names, files[0])
    types: dict[str, pa.DataType] = {c: pa.float32() for c in features if c not in categorical}
    # categorical columns keep their inferred type (so integer levels sort as numbers, as
    # they do for Parquet and DataFrames) and fall back to text when a later cell is not one
    if target is not None and spec.task == "regression":
        types[target] = pa.float32()
    text_ok = [target, *categorical]
    origin = Origin(name, [], partial(_line_of_row, opts=opts))
    tables = []
    skips = []
    for path in files:
        these, skip = (names, first_skip) if path == files[0] else _csv_header(path, opts)
        check_same_columns(files[0], names, path, these)
        table = _read_one(path, opts, names, skip, include, types, text_ok)
        if table.num_rows == 0:
            raise EmptyDataError(
                f"{path} has "
                + ("a header but " if opts.header else "")
                + "no data rows; expected at least one row"
            )
        origin.files.append((path, table.num_rows))
        tables.append(table)
        skips.append(skip)
    # a target or categorical column inferred as numbers in one file and text in another
    # is text everywhere (read again as text, so every label keeps its exact spelling)
    mixed = [
        c
        for c in text_ok
        if c is not None
        and len({t.schema.field(c).type for t in tables}) > 1
        and not all(_is_number(t.schema.field(c).type) for t in tables)
    ]
    if mixed:
        types = {**types, **dict.fromkeys(mixed, pa.string())}
        tables = [
            _read_one(path, opts, names, skip, include, types, text_ok)
            for path, skip in zip(files, skips)
        ]
    if len(tables) == 1:
        table = tables[0]
    else:
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(
                f"the CSV files of {name} have incompatible column types: {exc}"
            ) from exc
    return table, origin, resolved


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


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _read_one(
    path: str,
    opts: CsvOptions,
    names: list[str],
    skip: int,
    include: Sequence[str],
    types: dict[str, pa.DataType],
    text_ok: Sequence[str | None],
) -> pa.Table:
    """Read one file; ``text_ok`` columns (target, categorical) fall back to text."""
    types = dict(types)
    for _ in range(len(include) + 1):
        try:
            return read_csv_table(path, opts, names, include, types, skip)
        except _BadColumn as bad:
            col = bad.column
            if col in text_ok and types.get(col) != pa.string():
                # the inferred type (from the first block) broke later in the file: read as text
                types[col] = pa.string()
                continue
            if types.get(col) == pa.float32():
                try:  # true/false text (pandas writes True/False) is a numeric 1/0 column
                    read_csv_table(path, opts, names, [col], {col: pa.bool_()}, skip)
                except (_BadColumn, ParseError):
                    pass
                else:
                    types[col] = pa.bool_()
                    continue
                text = read_csv_table(path, opts, names, [col], {col: pa.string()}, skip)
                text = text.column(col)
                row, value = _first_non_numeric(text)
                line = _line_of_row(path, row, opts)
                raise ParseError(
                    f"column {col!r} in {path} should be numeric, but row {row}"
                    + (f" (line {line})" if line else "")
                    + f" has {value!r}; pass categorical=[{col!r}] to one-hot encode it, "
                    "or fix the cell"
                ) from bad.__cause__
            raise ParseError(f"could not parse column {col!r} of {path}: {bad.__cause__}") from None
    raise AssertionError("unreachable")  # pragma: no cover
