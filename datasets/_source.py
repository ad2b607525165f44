"""Resolve a data source (path, list of paths, directory, glob) into files of one format."""

from __future__ import annotations

import glob as _glob
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from tabloader.datasets._precision import caller_stacklevel
from tabloader.datasets._remote import is_remote, local_item, open_buffered
from tabloader.datasets._remote_list import expand_remote
from tabloader.errors import AccessError, DataFileNotFoundError, UnsupportedFormatError

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
    with open_buffered(path) as fh:
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


def _directory_files(item: str) -> list[str]:
    """The files below local folder ``item`` (sorted), without hidden ones; a folder that
    cannot be read is an :class:`AccessError` (never skipped as if it were empty)."""

    def refuse(exc: OSError) -> None:
        raise AccessError(
            f"directory {exc.filename or item} cannot be read ({exc.strerror or exc}); "
            "check its permissions (a folder that cannot be listed is not skipped)"
        ) from exc

    found: list[str] = []
    for folder, subdirs, names in os.walk(item, onerror=refuse):
        subdirs[:] = [d for d in subdirs if not d.startswith((".", "_"))]
        found.extend(os.path.join(folder, n) for n in names)
    return sorted(str(Path(f)) for f in found if _is_data_file(f))


def _select_data_files(found: list[str], fmt: str | None, where: str) -> list[str]:
    """The data files of a folder listing: those with a known suffix (of ``fmt``), and
    those without a suffix (Hadoop's ``part-00001``) whose content is in the folder's
    format (``fmt``, else that of the others). Every other file is named in a warning
    when ``fmt`` is given (the reader's own listing), never skipped silently."""
    known = [f for f in found if _suffix_format(f) is not None]
    bare = [f for f in found if _suffix_format(f) is None and "." not in os.path.basename(f)]
    formats = {_suffix_format(f) for f in known}
    target = fmt or (next(iter(formats)) if len(formats) == 1 else None)
    keep = [f for f in known if fmt is None or _suffix_format(f) == fmt]
    skipped = [f for f in found if f not in keep and f not in bare]
    for f in bare:
        sniffed = sniff_format(f)
        fits = sniffed is not None and (target is None or sniffed == target)
        (keep if fits and (not formats or sniffed in formats) else skipped).append(f)
    if skipped and fmt is not None:
        kinds = {"csv": "CSV", "parquet": "Parquet"}
        warnings.warn(
            f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''} of {where} that "
            + ("is not a " if len(skipped) == 1 else "are not ")
            + f"{kinds.get(fmt, fmt)} file{'s' if len(skipped) != 1 else ''}: {skipped}; "
            f"tabloader reads files ending in {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)} "
            "(optionally compressed) and files without a suffix whose content is in the "
            "folder's format; move the others out of the folder to silence this warning",
            UserWarning,
            stacklevel=caller_stacklevel(),
        )
    return sorted(keep)


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
    one_file = False
    for item in items:
        item = local_item(item)
        folder = None
        if is_remote(item):  # s3://, gs://, hdfs://, fsspec URLs, filesystem=
            found, folder = expand_remote(item)
            if folder is None:
                files.extend(found)
                one_file = single and len(found) == 1 and found[0] == item
                continue
        if folder is not None or os.path.isdir(item):
            if folder is None:
                found = _directory_files(item)
            found = _select_data_files(found, fmt, item)
            if not found:
                raise DataFileNotFoundError(
                    f"directory {item} has no CSV or Parquet files"
                    + (f" of format {fmt!r}" if fmt else "")
                    + "; expected files ending in "
                    + ", ".join(PARQUET_SUFFIXES + CSV_SUFFIXES)
                )
            files.extend(found)
            if single:
                base_dir = folder if folder is not None else item
        elif os.path.isfile(item):
            files.append(item)
        elif _GLOB_CHARS & set(item):
            found = sorted(f for f in _glob.glob(item, recursive=True) if _is_data_file(f))
            if not found:
                raise DataFileNotFoundError(f"glob pattern {item!r} matches no data files")
            files.extend(found)
        else:
            raise DataFileNotFoundError(f"data file {item} does not exist")

    if single and (one_file or os.path.isfile(items[0])):
        name = files[0] if one_file else items[0]
    elif base_dir is not None:
        name = f"{base_dir} ({len(files)} file{'s' if len(files) != 1 else ''})"
    else:
        name = f"{len(files)} files ({files[0]}, ...)" if len(files) > 1 else files[0]
    return files, base_dir, name
