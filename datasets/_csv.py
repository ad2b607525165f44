"""CSV files into a TabularDataset, through the one CSV parse path and the one converter."""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from tabloader.datasets._arrow import unify_types
from tabloader.datasets._build import Piece, build_tensors
from tabloader.datasets._columns import ColumnRef, ColumnSpec
from tabloader.datasets._csv_parse import parse_with_retry, read_text
from tabloader.datasets._csv_text import (
    CsvOptions,
    check_same_columns,
    csv_header,
    csv_input,
    delimiter_hint,
    line_of_row,
)
from tabloader.datasets._origin import ChunkOrigin
from tabloader.datasets._precision import EXACT_LIMIT
from tabloader.datasets._remote import as_input, with_filesystem
from tabloader.datasets._source import Source, resolve_files
from tabloader.datasets._tabular import TabularDataset
from tabloader.errors import ColumnNotFoundError, EmptyDataError, SchemaError

__all__ = ["CsvDataset", "csv_types", "read_csv_table", "resolve_spec"]


def _text_source(path: str, opts: CsvOptions) -> Any:
    src = csv_input(path, opts)
    return src.getvalue() if isinstance(src, io.BytesIO) else src


def read_csv_table(
    path: str,
    opts: CsvOptions,
    names: list[str],
    include: Sequence[str],
    column_types: dict[str, pa.DataType],
    skip: int | None = None,
    text_ok: Sequence[str | None] = (),
    dtype: Any = np.float32,
) -> pa.Table:
    """Read the ``include`` columns of one CSV file into an Arrow table (errors explained).

    ``skip`` lines (skipped rows, blank lines and the header) come before the data; by
    default they are counted with :func:`csv_header`. ``dtype`` is the tensors' dtype.
    """
    if skip is None:
        skip = csv_header(path, opts)[1]
    fast = _read_clean_with_pandas(path, opts, names, include, column_types, skip, dtype)
    if fast is not None:
        return fast
    parse = read_text(path, opts, _text_source(path, opts), names, skip_rows=skip)
    return parse_with_retry(parse, path, opts, include, column_types, text_ok)[0]


def _read_clean_with_pandas(
    path: str,
    opts: CsvOptions,
    names: list[str],
    include: Sequence[str],
    column_types: dict[str, pa.DataType],
    skip: int,
    np_dtype: Any = np.float32,
) -> pa.Table | None:
    """Parse with pandas' C parser, the faster one on 2 cores (see benchmarks/bench_datasets.py).

    Only clean files take this path: on any parser error, and whenever a cell is empty
    or missing (which pandas cannot tell from a short, ragged row), ``None`` sends the
    file to pyarrow's parser, whose errors name the line, column and value. So do a
    header over several lines and numbers so large that the tensors' dtype may round
    integers (pyarrow's path counts them, see ``_precision.py``).
    """
    import pandas as pd

    if any(t != pa.float64() for t in column_types.values()):
        return None
    if any("\n" in c or "\r" in c for c in names):
        return None  # a quoted header over several lines: pandas counts skiprows in rows
    # the tensors' dtype straight from the parser: float32 is half the memory of float64
    # (a cell beyond the float32 range becomes inf there, so any inf sends the file to
    # pyarrow's float64 path, where the converter names it)
    limit = EXACT_LIMIT[np.dtype(np_dtype)]
    dtype = {c: np_dtype for c in column_types}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = pd.read_csv(
                as_input(csv_input(path, opts)),
                sep=opts.delimiter_for(path),
                header=None,
                names=names,
                index_col=False,
                skiprows=skip,
                encoding=opts.encoding,
                engine="c",
                skip_blank_lines=True,
                on_bad_lines="error",
                dtype=dtype,
            )
    except Exception:
        return None
    if caught:  # e.g. "Length of header or names does not match": a ragged row, truncated
        return None
    # no usecols: pandas would then skip over a row's extra fields instead of failing
    wanted = set(include)
    for c in names:
        if c not in wanted:
            del df[c]
    if any(df[c].dtype.kind not in "iuf" for c in df.columns):
        return None  # text or boolean columns: pyarrow's inference (labels keep their spelling)
    for c in df.columns:
        a = df[c].to_numpy()
        if a.dtype.kind == "f" and len(a) and not np.isfinite(np.add.reduce(a)):
            return None  # NaN (an empty cell), inf, or a cell beyond float32: pyarrow's path
        if len(a) and not -limit < a.min() <= a.max() < limit:
            return None  # integers there may already be rounded: pyarrow's path counts them
    return pa.Table.from_pandas(df, preserve_index=False)


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
    unknown_levels : {"error", "ignore"}, default "error"
        A level of a categorical column that is not in its ``categories=``: an error
        naming the row, or (``"ignore"``) a row of zeros in that column's one-hot block
        (as scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``).
    dtype : torch.float32 or torch.float64, default torch.float32
        The dtype of the features (and of a regression or binary target). float32 holds
        integers exactly up to 2**24 = 16,777,216: larger integers (ids, timestamps) are
        rounded, with a warning that counts them per column; float64 holds them up to 2**53.
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
        The text encoding (``"latin-1"``, ``"cp1252"``, ...). Bytes that are not valid in it
        are a ParseError naming the line and byte offset.
    filesystem : pyarrow.fs.FileSystem or fsspec filesystem, optional
        Where the paths of ``source`` are; ``source`` may also be URLs (``s3://``,
        ``gs://``, ``hdfs://``, fsspec protocols; see ``docs/remote.md``).

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
        categories: Mapping[str, Sequence[Any]] | None = None,
        fill_values: Mapping[str, float] | None = None,
        unknown_levels: str = "error",
        dtype: torch.dtype = torch.float32,
        header: bool = True,
        delimiter: str | None = None,
        comment: str | None = None,
        skip_rows: int = 0,
        encoding: str = "utf8",
        filesystem: Any = None,
    ) -> None:
        spec = ColumnSpec(
            target,
            features,
            categorical or [],
            task,
            missing,
            categories,
            fill_values,
            dtype,
            unknown_levels,
        )
        spec.validate()
        opts = CsvOptions(header, delimiter, comment, skip_rows, encoding)
        pieces, resolved, name = read_csv_pieces(with_filesystem(source, filesystem), opts, spec)
        self._adopt(build_tensors(pieces, resolved, name))
        self.csv_options = opts


def resolve_spec(spec: ColumnSpec, names: list[str], path: str, opts: CsvOptions) -> ColumnSpec:
    """``spec`` resolved against a CSV header; when a column is not found in a header that
    is one column that looks separated by another character, the error says which."""
    try:
        return spec.resolved(names, path)
    except (ColumnNotFoundError, SchemaError) as exc:
        hint = delimiter_hint(names, opts, path)
        if hint is None:
            raise
        raise type(exc)(f"{exc}; {hint}") from None


def csv_types(spec: ColumnSpec) -> dict[str, pa.DataType]:
    """The types CSV readers ask pyarrow for: float64 for numeric features (the one
    converter checks the float32 range) and a regression target; the rest is inferred."""
    cats = spec.categorical_names
    types = {c: pa.float64() for c in spec.feature_names if c not in cats}
    if spec.target_name is not None and spec.task == "regression":
        types[spec.target_name] = pa.float64()
    return types


def read_csv_pieces(
    source: Source, opts: CsvOptions, spec: ColumnSpec
) -> tuple[list[Piece], ColumnSpec, str]:
    """One table per file (the ``spec``'s columns), the resolved spec and the source's name."""
    files, _, name = resolve_files(source, fmt="csv")
    names, first_skip = csv_header(files[0], opts)
    resolved = resolve_spec(spec, names, files[0], opts)
    include = resolved.needed(names, files[0])
    types = csv_types(resolved)
    # categorical columns keep their inferred type (so integer levels sort as numbers, as
    # they do for Parquet and DataFrames) and fall back to text when a later cell is not one
    text_ok = [resolved.target_name, *resolved.categorical_names]
    line_of = partial(line_of_row, opts=opts)
    skips, tables = [], []
    for path in files:
        these, skip = (names, first_skip) if path == files[0] else csv_header(path, opts)
        check_same_columns(files[0], names, path, these)
        table = read_csv_table(path, opts, names, include, types, skip, text_ok, resolved.np_dtype)
        if table.num_rows == 0:
            raise EmptyDataError(
                f"{path} has "
                + ("a header but " if opts.header else "")
                + "no data rows; expected at least one row"
            )
        tables.append(table)
        skips.append(skip)
    # a target or categorical column inferred differently in two files gets one type in
    # all (text unless all are numbers; read again, so every label keeps its spelling)
    mixed: dict[str, pa.DataType] = {}
    for c in text_ok:
        kinds = {t.schema.field(c).type for t in tables} if c is not None else set()
        if c is not None and len(kinds) > 1:
            mixed[c] = unify_types(kinds)
    if any(t == pa.string() for t in mixed.values()):
        types = {**types, **{c: t for c, t in mixed.items() if t == pa.string()}}
        tables = [
            read_csv_table(path, opts, names, include, types, skip, text_ok, resolved.np_dtype)
            for path, skip in zip(files, skips)
        ]
    for i, t in enumerate(tables):
        for c, kind in mixed.items():
            if kind != pa.string() and t.schema.field(c).type != kind:
                try:
                    t = t.set_column(t.schema.get_field_index(c), c, t.column(c).cast(kind))
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise SchemaError(
                        f"the CSV files of {name} have incompatible column types: {exc}"
                    ) from exc
        tables[i] = t
    pieces = [Piece(t, ChunkOrigin(name, [], line_of, path, 0)) for t, path in zip(tables, files)]
    return pieces, resolved, name
