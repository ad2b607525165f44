"""Exceptions raised by tabloader.

Every exception is a :class:`TabloaderError` and also the matching builtin, so code
that catches ``FileNotFoundError``, ``ValueError`` or ``KeyError`` keeps working::

    try:
        ds = CsvDataset("train.csv", target="label")
    except KeyError as exc:  # ColumnNotFoundError
        ...

Errors raised while a reader (pyarrow, pandas) fails are chained with
``raise ... from exc`` so the original cause stays visible.
"""

from __future__ import annotations

__all__ = [
    "TabloaderError",
    "SchemaError",
    "ColumnNotFoundError",
    "DataFileNotFoundError",
    "EmptyDataError",
    "ParseError",
    "UnsupportedFormatError",
    "MissingValueError",
    "TargetError",
    "ModelFileError",
    "DataChangedError",
    "AccessError",
    "StorageError",
]


class TabloaderError(Exception):
    """Base class of every error tabloader raises on purpose."""


class SchemaError(TabloaderError, ValueError):
    """The columns or their types are not what was asked for or expected."""


class ColumnNotFoundError(SchemaError, KeyError):
    """A requested column (by name or position) does not exist."""

    def __str__(self) -> str:  # KeyError would repr() the message, adding quotes
        return str(self.args[0]) if self.args else ""


class DataFileNotFoundError(TabloaderError, FileNotFoundError):
    """A data path does not exist, or a directory or glob matches no data files."""


class EmptyDataError(TabloaderError, ValueError):
    """A data file has no data rows (empty, or a header only)."""


class ParseError(TabloaderError, ValueError):
    """A file could not be parsed: a ragged CSV row, a non-numeric cell, a corrupt Parquet file."""


class UnsupportedFormatError(TabloaderError, ValueError):
    """A file is neither CSV nor Parquet."""


class MissingValueError(TabloaderError, ValueError):
    """Missing values (null, NaN or inf) were found where ``missing="error"``."""


class TargetError(TabloaderError, ValueError):
    """The target column does not fit the task (for example a binary target with 3 classes)."""


class ModelFileError(TabloaderError, ValueError):
    """A file given to a model loader is not a tabloader model file."""


class DataChangedError(TabloaderError, RuntimeError):
    """A data file changed (size, modification time or Parquet footer) since a stream was
    planned or its state was saved, or a state comes from other files."""


class AccessError(TabloaderError, PermissionError):
    """A remote file or bucket refused access: no credentials, wrong credentials, or no
    permission (the message names the URL, never the credentials); or a local file or
    folder that cannot be read (permissions)."""


class StorageError(TabloaderError, OSError):
    """A remote store could not be reached or kept failing (a timeout, a refused or broken
    connection, throttling) after the bounded retries."""
