"""File fingerprints: how a stream tells that a data file changed since it was planned.

A fingerprint is a small JSON-safe dict: the path, the size in bytes and the modification
time (``os.stat``), and for a Parquet file its footer (rows, row groups and a hash of the
serialized footer metadata, which holds every column chunk's offsets and statistics). A
stream takes one per file when it plans its units, compares them at the start of every
epoch's read (and the size and time whenever it opens a unit), and saves them in its
``state_dict`` so that a state is never resumed over other data.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from tabloader.datasets._remote import file_stat, is_remote, read_footer
from tabloader.errors import DataChangedError, ParseError

T = TypeVar("T")

__all__ = ["check_unchanged", "differences", "fingerprint", "same_files"]

_FIX = "create the stream again"


def _footer(path: str, size: int, mtime_ns: int | None = None) -> dict[str, Any]:
    """Rows, row groups and a hash of the raw footer of the Parquet file ``path``."""
    if is_remote(path):  # one ranged read of the tail, once per size and time of the object
        got = read_footer(path, size, mtime_ns)
        if got is None:
            return {"footer": "none"}
        digest = hashlib.blake2b(got[0], digest_size=16).hexdigest()
        if got[1] is None:
            return {"footer": digest}
        return {"num_rows": got[1].num_rows, "row_groups": got[1].num_row_groups, "footer": digest}
    with open(path, "rb") as fh:
        if size < 12:
            return {"footer": "none"}
        fh.seek(size - 8)
        tail = fh.read(8)
        n = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or n + 12 > size:
            return {"footer": "none"}
        fh.seek(size - 8 - n)
        raw = fh.read(n)
    digest = hashlib.blake2b(raw, digest_size=16).hexdigest()
    try:
        md = pq.read_metadata(path)
    except (OSError, ValueError):  # changed between the two reads: the hash says so
        return {"footer": digest}
    return {"num_rows": md.num_rows, "row_groups": md.num_row_groups, "footer": digest}


def fingerprint(path: str, *, parquet: bool = False) -> dict[str, Any]:
    """The fingerprint of ``path``: ``path``, ``size``, ``mtime_ns`` (and the footer).

    Parameters
    ----------
    path : str
        A data file.
    parquet : bool, default False
        Also fingerprint the Parquet footer: ``num_rows``, ``row_groups`` and ``footer``
        (a hash of the serialized footer metadata).

    Returns
    -------
    dict
        JSON-safe.
    """
    size, mtime_ns = file_stat(path)  # os.stat, or the store's size and time of a URL
    fp: dict[str, Any] = {"path": path, "size": size, "mtime_ns": mtime_ns}
    if parquet:
        fp.update(_footer(path, size, mtime_ns))
    return fp


def _time(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9).isoformat(sep=" ", timespec="milliseconds")


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints of one file, in words (empty: the same)."""
    out = []
    if old.get("size") != new.get("size"):
        out.append(f"size {old.get('size')} -> {new.get('size')} bytes")
    if old.get("num_rows") != new.get("num_rows"):
        out.append(f"rows {old.get('num_rows')} -> {new.get('num_rows')}")
    if old.get("row_groups") != new.get("row_groups"):
        out.append(f"row groups {old.get('row_groups')} -> {new.get('row_groups')}")
    if old.get("footer") != new.get("footer") and not out:
        out.append("the Parquet footer (column chunks and statistics) differs")
    if old.get("mtime_ns") != new.get("mtime_ns"):
        out.append(
            f"modified {_time(int(old.get('mtime_ns') or 0))} -> "
            f"{_time(int(new.get('mtime_ns') or 0))}"
        )
    return out


def check_unchanged(old: dict[str, Any], *, footer: bool = True, during: str = "") -> None:
    """Raise :class:`DataChangedError` when the file of fingerprint ``old`` changed.

    Parameters
    ----------
    old : dict
        The fingerprint taken when the stream planned its units.
    footer : bool, default True
        Compare the Parquet footer too (when ``old`` has one); else only the size and
        the modification time (one ``os.stat``).
    during : str, default ""
        Where it was noticed, for the message (for example ``", noticed at the start of
        epoch 2"``).
    """
    path = old["path"]
    try:
        new = fingerprint(path, parquet=footer and "footer" in old)
    except FileNotFoundError:
        raise DataChangedError(
            f"data file {path} was removed since the stream was planned{during}; {_FIX}"
        ) from None
    if not footer:
        new.update({k: old[k] for k in ("num_rows", "row_groups", "footer") if k in old})
    what = differences(old, new)
    if what:
        raise DataChangedError(
            f"data file {path} changed since the stream was planned ({'; '.join(what)})"
            f"{during}; {_FIX}"
        )


def same_files(saved: Sequence[dict[str, Any]], mine: Sequence[dict[str, Any]]) -> None:
    """Raise :class:`DataChangedError` unless a state's files are this stream's files."""
    fix = (
        "load it into a stream over the files it was saved with, or start the epoch over "
        "without the state (to resume over a copy of the files, delete the state's 'files')"
    )
    if [f.get("path") for f in saved] != [f.get("path") for f in mine]:
        paths = [f.get("path") for f in saved], [f.get("path") for f in mine]
        i = next((i for i, (a, b) in enumerate(zip(*paths)) if a != b), min(len(p) for p in paths))
        got = [p[i] if i < len(p) else "no file" for p in paths]
        raise DataChangedError(
            f"state should come from a stream over the same files in the same order, but "
            f"file {i} is {got[0]} in the state and {got[1]} in this stream ({len(saved)} "
            f"and {len(mine)} files; a renamed, added or removed file changes the order of "
            f"the rows); {fix}"
        )
    for old, new in zip(saved, mine):
        what = differences(old, new)
        if what:
            raise DataChangedError(
                f"state should come from a stream over the same data, but data file "
                f"{new.get('path')} is not the one the state was saved with ({'; '.join(what)}); "
                f"{fix}"
            )


def read_checked(
    fp: dict[str, Any] | None, opening: str, reading: str, items: Callable[[], Iterator[T]]
) -> Iterator[T]:
    """``items()``, after checking the file's size and time against ``fp``; a read error of
    a file that changed meanwhile becomes a :class:`DataChangedError` (``opening`` and
    ``reading`` say where it was noticed)."""
    if fp is not None:
        check_unchanged(fp, footer=False, during=f", noticed when opening {opening}")
    try:
        yield from items()
    except (ParseError, OSError, pa.ArrowInvalid) as exc:
        if fp is not None:
            try:
                check_unchanged(fp, during=f", noticed while reading {reading}")
            except DataChangedError as changed:
                raise changed from exc
        raise
