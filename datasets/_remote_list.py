"""Listing remote sources: a file, a folder (recursive) or a glob, on a remote filesystem.

The rules are those of local sources (``resolve_files``): a folder's files whose path
below it has a part starting with ``.`` or ``_`` are skipped; a glob follows
``glob.glob(..., recursive=True)``: ``*`` and ``?`` stay within a folder, ``**`` crosses
folders.
"""

from __future__ import annotations

import re

import pyarrow.fs as pafs

from tabloader.datasets._remote import RemotePath, call, remote_path
from tabloader.errors import DataFileNotFoundError

__all__ = ["expand_remote"]

_GLOB_CHARS = set("*?[")


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``glob.glob(..., recursive=True)``'s rules for one path: ``*`` and ``?`` stay
    within a folder, ``**`` crosses folders, ``[...]`` is a character class."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        c = pattern[i]
        j = pattern.find("]", i + 2) if c == "[" else -1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif j > 0:
            body = pattern[i + 1 : j]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _list(p: RemotePath, base: str) -> list[pafs.FileInfo]:
    sel = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    return [i for i in call(p, p.filesystem.get_file_info, sel) if i.type == pafs.FileType.File]


def _glob(p: RemotePath) -> list[str]:
    pattern = p.fs_path
    first = min(pattern.index(c) for c in _GLOB_CHARS if c in pattern)
    cut = pattern.rfind("/", 0, first)
    base = pattern[:cut] if cut > 0 else ""
    if not base:
        raise DataFileNotFoundError(
            f"glob pattern {p!r} has a wildcard in its first part; put it after the "
            "bucket or the folder"
        )
    regex = _glob_regex(pattern)
    found: list[str] = [
        p.child(i)
        for i in _list(p, base)
        if regex.match(i.path) and not _hidden(i.path[len(base) :])
    ]
    if not found:
        raise DataFileNotFoundError(f"glob pattern {p!r} matches no data files")
    return sorted(found)


def _not_found(p: RemotePath) -> DataFileNotFoundError:
    if p.scheme in ("s3", "gs", "gcs") and "/" in p.fs_path:
        bucket = p.fs_path.split("/", 1)[0]
        info = call(p, p.filesystem.get_file_info, bucket)
        if info.type == pafs.FileType.NotFound:
            return DataFileNotFoundError(
                f"data file {p} does not exist: there is no bucket {bucket!r} (check its "
                "name, and the region or endpoint)"
            )
    return DataFileNotFoundError(f"data file {p} does not exist")


def expand_remote(item: str) -> tuple[list[str], RemotePath | None]:
    """The files of a remote file, folder (recursive) or glob, sorted, with their sizes.

    Returns ``(files, folder)``: ``folder`` is the folder given (for hive partitions),
    else ``None``; a folder's files whose path below it has a part starting with ``.``
    or ``_`` are skipped, as locally.
    """
    p = item if isinstance(item, RemotePath) else remote_path(item)
    info = call(p, p.filesystem.get_file_info, p.fs_path)
    if info.type == pafs.FileType.File:
        return [p.child(info)], None
    if info.type == pafs.FileType.Directory:
        base = p.fs_path.rstrip("/")
        found: list[str] = [p.child(i) for i in _list(p, base) if not _hidden(i.path[len(base) :])]
        return sorted(found), p
    if _GLOB_CHARS & set(p.fs_path):
        return _glob(p), None
    raise _not_found(p)
