"""Output files, checked before any work, and written with failures in plain words.

:func:`check_outputs` runs before data is read or a model trained: an output that is an
input (the same file, also through a symbolic or hard link or another relative path), an
output inside an input directory, an existing directory or device (``/dev/null`` would be
replaced by the new file), a missing or unwritable folder, and two outputs with one name
are usage errors (exit 2). :func:`writing` turns a failure
while an output is written (a full disk, an I/O error, torch's serializer giving up) into
a :class:`~tabloader.cli._args.RuntimeFailure` (exit 1, one line). Imports nothing heavy.
"""

from __future__ import annotations

import glob
import os
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tabloader.cli._args import RuntimeFailure, UsageError

__all__ = ["check_outputs", "writing"]

_GLOB = set("*?[")


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _inputs(inputs: Sequence[tuple[str, str | Sequence[str] | None]]) -> tuple[dict, list]:
    """``{file id: (label, path)}`` of every input file, and the input directories."""
    files: dict[tuple[int, int], tuple[str, str]] = {}
    dirs: list[tuple[str, str]] = []
    for label, source in inputs:
        if source is None:
            continue
        items = [source] if isinstance(source, str) else list(source)
        for item in items:
            paths = [item]
            if not os.path.exists(item) and _GLOB & set(item):
                paths = sorted(glob.glob(item, recursive=True))
            for path in paths:
                if os.path.isdir(path):
                    dirs.append((label, path))
                    for root, _, names in os.walk(path):
                        for n in names:
                            fid = _file_id(os.path.join(root, n))
                            if fid is not None:
                                files.setdefault(fid, (label, os.path.join(root, n)))
                else:
                    fid = _file_id(path)
                    if fid is not None:
                        files.setdefault(fid, (label, path))
    return files, dirs


def _inside(path: str, directory: str) -> bool:
    real, d = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([real, d]) == d


def _check_folder(flag: str, path: str) -> None:
    """The folder of ``path`` exists and takes a new file (tried, not guessed)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(
            f"{flag} {path}: the folder {folder} does not exist; create it first "
            f"(mkdir -p {folder}) or give a path in an existing folder"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".tabloader-check-", dir=folder)
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot create files in {folder} ({exc.strerror or exc}); "
            "give a path in a folder you can write to"
        ) from None
    try:
        os.close(fd)
    finally:
        os.unlink(probe)


def check_outputs(
    outputs: Sequence[tuple[str, str | None]],
    inputs: Sequence[tuple[str, str | Sequence[str] | None]],
    *,
    stdout: bool = False,
) -> None:
    """Refuse (:class:`UsageError`) outputs that would overwrite an input or cannot be
    written, before any work is done.

    ``outputs`` and ``inputs`` are ``(flag or name, path)`` pairs (``None``: not given);
    ``stdout=True`` also refuses a standard output redirected to an input file.
    """
    files, dirs = _inputs(inputs)
    seen: dict[str, str] = {}
    for flag, path in outputs:
        if not path:
            continue
        if os.path.isdir(path):
            raise UsageError(f"{flag} {path} is a directory; give a file name (one inside it, say)")
        if os.path.exists(path) and not os.path.isfile(path):
            raise UsageError(
                f"{flag} {path} is not a regular file (a device, pipe or socket), which a "
                "new file would replace; give a file name"
                + (", or leave --out out to write to standard output" if flag == "--out" else "")
            )
        fid = _file_id(path)
        if fid is not None and fid in files:
            label, src = files[fid]
            same = "" if os.path.abspath(src) == os.path.abspath(path) else f" ({src})"
            raise UsageError(
                f"{flag} {path} is the input {label}{same}; writing it would destroy the data "
                "being read; give another file name"
            )
        for label, d in dirs:
            if _inside(path, d):
                raise UsageError(
                    f"{flag} {path} is inside the input directory {label} {d}; the next read "
                    "of that directory would take it for data; write it elsewhere"
                )
        real = os.path.realpath(path)
        if real in seen:
            raise UsageError(f"{seen[real]} and {flag} are the same file {path}; give two names")
        seen[real] = flag
        _check_folder(flag, path)
    if stdout:
        _check_stdout(files)


def _check_stdout(files: dict[tuple[int, int], tuple[str, str]]) -> None:
    try:
        st = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return
    if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) in files:
        label, src = files[(st.st_dev, st.st_ino)]
        raise UsageError(
            f"standard output is redirected to the input {label} {src} (the shell has already "
            "emptied it or appends to it); redirect to another file, or use --out"
        )


@contextmanager
def writing(what: str) -> Iterator[None]:
    """Run the writing of ``what`` (``"--out model.pt"``); an OSError or a RuntimeError
    (torch's serializer: ``[enforce fail at inline_container.cc...]``) becomes a
    :class:`RuntimeFailure` naming it. The writers remove their temporary files."""
    try:
        yield
    except (UsageError, BrokenPipeError):
        raise
    except (OSError, RuntimeError) as exc:
        text = " ".join(str(exc).split("\n", 1)[0].split()) or type(exc).__name__
        raise RuntimeFailure(f"could not write {what}: {text}") from exc
