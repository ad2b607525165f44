"""Resolve a data source (path, list of paths, directory, glob) into files of one format."""

from __future__ import annotations

import glob as _glob
import os
from collections.abc import Sequence
from pathlib import Path

from tabloader.errors import DataFileNotFoundError, UnsupportedFormatError

__all__ = [
    "COMPRESSED_SUFFIXES",
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "Source",
    "detect_format",
    "resolve_files",
    "sniff_format",
]

Source = str | os.PathLike | Sequence[str | os.PathLike]

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".data")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_GLOB_CHARS = set("*?[")


def _suffix_format(path: str) -> str | None:
    name = os.path.basename(path).lower()
    for comp in COMPRESSED_SUFFIXES:
        if name.endswith(comp):
            name = name[: -len(comp)]
            break
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def sniff_format(path: str) -> str | None:
    """Look at the bytes: ``"parquet"`` (PAR1 magic), ``"csv"`` (text), or ``None``."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:2] == b"\x1f\x8b":  # gzip: trust the caller
        return "csv"
    if not head or b"\x00" in head:
        return None if head else "csv"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the 4096-byte boundary is still text
        if exc.start < len(head) - 4:
            return None
    return "csv"


def detect_format(path: str) -> str:
    """``"csv"`` or ``"parquet"`` for one file, from its name, else from its first bytes.

    Raises
    ------
    UnsupportedFormatError
        If the file is neither CSV nor Parquet.
    """
    fmt = _suffix_format(path)
    if fmt is not None:
        return fmt
    fmt = sniff_format(path)
    if fmt is None:
        raise UnsupportedFormatError(
            f"{path} is neither CSV nor Parquet (unknown suffix and binary content); "
            f"tabloader reads CSV ({', '.join(CSV_SUFFIXES)}, optionally compressed) "
            f"and Parquet ({', '.join(PARQUET_SUFFIXES)}) files"
        )
    return fmt


def _is_data_file(path: str) -> bool:
    base = os.path.basename(path)
    return not base.startswith((".", "_")) and os.path.isfile(path)


def resolve_files(source: Source, fmt: str | None = None) -> tuple[list[str], str | None, str]:
    """Expand ``source`` into a sorted list of data files.

    Parameters
    ----------
    source : path, list of paths, directory or glob pattern
        Directories are searched recursively (hive ``key=value/`` folders included);
        files whose names start with ``.`` or ``_`` (``_SUCCESS``, ``_metadata``) are skipped.
    fmt : {"csv", "parquet"}, optional
        Keep only files of this format when a directory or glob is expanded.

    Returns
    -------
    files : list of str
        The files, in a deterministic order (as given for a list; sorted for a directory or glob).
    base_dir : str or None
        The directory given, for hive partition discovery.
    name : str
        A short description for messages.
    """
    if isinstance(source, (str, os.PathLike)):
        items = [os.fspath(source)]
        single = True
    else:
        try:
            items = [os.fspath(s) for s in source]
        except TypeError:
            raise TypeError(
                "source should be a path, a list of paths, a directory or a glob pattern, "
                f"but got {type(source).__name__}"
            ) from None
        single = False
        if not items:
            raise DataFileNotFoundError("source is an empty list; expected at least one data file")

    files: list[str] = []
    base_dir = None
    for item in items:
        if os.path.isdir(item):
            found = sorted(
                str(p)
                for p in Path(item).rglob("*")
                if _is_data_file(str(p))
                and not any(part.startswith((".", "_")) for part in p.relative_to(item).parts[:-1])
            )
            if fmt is not None:
                found = [f for f in found if _suffix_format(f) in (fmt, None)]
            found = [f for f in found if _suffix_format(f) is not None]
            if not found:
                raise DataFileNotFoundError(
                    f"directory {item} has no CSV or Parquet files"
                    + (f" of format {fmt!r}" if fmt else "")
                    + "; expected files ending in "
                    + ", ".join(PARQUET_SUFFIXES + CSV_SUFFIXES)
                )
            files.extend(found)
            if single:
                base_dir = item
        elif os.path.isfile(item):
            files.append(item)
        elif _GLOB_CHARS & set(item):
            found = sorted(f for f in _glob.glob(item, recursive=True) if _is_data_file(f))
            if not found:
                raise DataFileNotFoundError(f"glob pattern {item!r} matches no data files")
            files.extend(found)
        else:
            raise DataFileNotFoundError(f"data file {item} does not exist")

    if single and os.path.isfile(items[0]):
        name = items[0]
    elif base_dir is not None:
        name = f"{base_dir} ({len(files)} file{'s' if len(files) != 1 else ''})"
    else:
        name = f"{len(files)} files ({files[0]}, ...)" if len(files) > 1 else files[0]
    return files, base_dir, name
