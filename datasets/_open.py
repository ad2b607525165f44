"""Open any supported source, choosing the reader from the files' format."""

from __future__ import annotations

from typing import Any

from tabloader._checks import check_choice
from tabloader.datasets._csv import CsvDataset
from tabloader.datasets._parquet import ParquetDataset
from tabloader.datasets._remote import with_filesystem
from tabloader.datasets._source import Source, detect_format, resolve_files
from tabloader.datasets._tabular import TabularDataset, register_path_reader
from tabloader.errors import UnsupportedFormatError

__all__ = ["read_dataset", "source_format"]

_CSV_ONLY = ("header", "delimiter", "comment", "skip_rows", "encoding")


def source_format(source: Source, filesystem: Any = None) -> str:
    """``"csv"`` or ``"parquet"``: the one format of every file in ``source``."""
    files, _, name = resolve_files(with_filesystem(source, filesystem))
    formats = {detect_format(f) for f in files}
    if len(formats) > 1:
        raise UnsupportedFormatError(
            f"{name} mixes CSV and Parquet files; give one format per dataset"
        )
    return formats.pop()


def read_dataset(
    source: Source, *, filesystem: Any = None, format: str | None = None, **kwargs: Any
) -> TabularDataset:
    """Read CSV or Parquet ``source`` into a dataset, choosing the reader by format.

    Parameters
    ----------
    source : path, list of paths, directory or glob pattern
        Local, or URLs (``s3://``, ``gs://``, ``hdfs://``, fsspec protocols; see
        ``docs/remote.md``).
    filesystem : pyarrow.fs.FileSystem or fsspec filesystem, optional
        Where the paths of ``source`` are (instead of URLs).
    format : {"csv", "parquet"}, optional
        The files' format; by default from their suffixes, else their content. A file
        without a suffix in a folder (Hadoop's ``part-00001``) is read when its content
        is in the folder's format; other files there are named in a warning.
    **kwargs
        The column spec (``target``, ``features``, ``categorical``, ``task``, ``missing``,
        ``categories``, ``fill_values``, ``unknown_levels``, ``dtype``) and, for CSV,
        ``header``, ``delimiter``, ``comment``, ``skip_rows``, ``encoding``.

    Returns
    -------
    CsvDataset or ParquetDataset
    """
    source = with_filesystem(source, filesystem)
    if format is not None:
        check_choice("format", format, ("csv", "parquet"))
    fmt = format or source_format(source)
    if fmt == "csv":
        return CsvDataset(source, **kwargs)
    given = [k for k in _CSV_ONLY if k in kwargs]
    # CSV-only options at their defaults are harmless for Parquet (the CLI always passes them)
    defaults = {
        "header": True,
        "delimiter": None,
        "comment": None,
        "skip_rows": 0,
        "encoding": "utf8",
    }
    bad = [k for k in given if kwargs[k] != defaults[k]]
    if bad:
        raise ValueError(f"{bad} only apply to CSV files, but {source} is Parquet")
    for k in given:
        kwargs.pop(k)
    return ParquetDataset(source, **kwargs)


register_path_reader(read_dataset)
