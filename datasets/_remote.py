"""Remote files: URLs and ``filesystem=`` resolved once, then opened through ``pyarrow.fs``.

``s3://``, ``gs://``, ``hdfs://`` (every scheme ``pyarrow.fs.FileSystem.from_uri`` knows)
use pyarrow's own filesystems; any other fsspec protocol goes through fsspec
(``pip install 'tabloader[remote]'``), wrapped in ``pyarrow.fs.PyFileSystem``. A remote file
is a :class:`RemotePath`: a ``str`` (its URL, as messages and stream states show it, without
credentials or query options) that carries its filesystem, its path on it, and its size and
modification time from the listing. Local paths stay plain strings and keep their own fast
paths (``open``, memory maps, pyarrow's local readers): every helper here passes them through.

Credentials are never handled here: the filesystem libraries find them in the standard
places (environment variables, config files, instance roles). Errors of the stores become
typed errors that name the URL: :class:`~tabloader.errors.DataFileNotFoundError`,
:class:`~tabloader.errors.AccessError` and, after bounded retries with backoff,
:class:`~tabloader.errors.StorageError`.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from tabloader._checks import type_error
from tabloader.errors import (
    AccessError,
    DataFileNotFoundError,
    ParseError,
    StorageError,
    TabloaderError,
)

__all__ = [
    "RemotePath",
    "arrow_where",
    "as_input",
    "call",
    "hive_partitions",
    "open_file",
    "file_size",
    "file_stat",
    "footer_tail",
    "is_remote",
    "local_item",
    "open_buffered",
    "open_input_file",
    "open_input_stream",
    "read_footer",
    "retrying",
    "storage_error",
    "with_filesystem",
]

T = TypeVar("T")

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_GLOB_CHARS = set("*?[")
#: tries in all for one open, listing or unit read that fails with a transient error
RETRIES = 3
#: seconds before the second try; doubled before each further one
BACKOFF_S = 0.5
#: bytes of an input stream's buffer (one ranged read each)
STREAM_BUFFER = 1 << 20

_ACCESS = re.compile(
    "ACCESS_DENIED|AccessDenied|INVALID_ACCESS_KEY_ID|InvalidAccessKeyId|SIGNATURE_DOES_NOT_"
    "MATCH|SignatureDoesNotMatch|EXPIRED_TOKEN|ExpiredToken|InvalidToken|UNRECOGNIZED_CLIENT|"
    "MISSING_AUTHENTICATION_TOKEN|NO_CREDENTIALS|PERMISSION_DENIED|UNAUTHENTICATED|Forbidden"
)
_NO_BUCKET = re.compile("NO_SUCH_BUCKET|NoSuchBucket")
_NO_KEY = re.compile("NO_SUCH_KEY|NoSuchKey|Path does not exist")
_TRANSIENT = re.compile(
    "NETWORK_CONNECTION|curlCode|Timeout|TIMEOUT|timed out|DEADLINE_EXCEEDED|UNAVAILABLE|"
    "SLOW_DOWN|SlowDown|SERVICE_UNAVAILABLE|ServiceUnavailable|INTERNAL_FAILURE|InternalError|"
    "THROTTLING|Throttling|REQUEST_TIMEOUT|Connection reset|Connection refused|Broken pipe"
)


def url_scheme(item: object) -> str | None:
    """The scheme of a URL (``"s3"``), else ``None`` (a local path)."""
    if isinstance(item, RemotePath):
        return item.scheme
    if not isinstance(item, str):
        return None
    m = _URL.match(item)
    return m.group(1).lower() if m else None


def is_remote(item: object) -> bool:
    """Whether ``item`` names a file on a remote filesystem (not a local path)."""
    if isinstance(item, RemotePath):
        return True
    scheme = url_scheme(item)
    return scheme is not None and scheme != "file"


def local_item(item: str) -> str:
    """A ``file://`` URL as a local path; anything else as it is."""
    if url_scheme(item) == "file" and not isinstance(item, RemotePath):
        return urlsplit(item).path
    return item


class RemotePath(str):
    """A file or folder on a remote filesystem; the string is its URL (no credentials).

    ``fs_path`` is its path on ``filesystem``; ``size`` and ``mtime_ns`` come from the
    listing (``None`` until listed). Pickled (to DataLoader workers), a path resolved from a
    URL carries that URL and resolves its filesystem again in the new process, from the
    standard credential places there; a ``filesystem=`` given by the caller travels with it.
    """

    fs_path: str
    size: int | None
    mtime_ns: int | None
    _fs: pafs.FileSystem | None
    _root: str | None
    _prefix: str

    def __new__(
        cls,
        url: str,
        fs_path: str,
        *,
        fs: pafs.FileSystem | None = None,
        root: str | None = None,
        prefix: str = "",
        size: int | None = None,
        mtime_ns: int | None = None,
    ) -> RemotePath:
        self = super().__new__(cls, url)
        self.fs_path = fs_path
        self.size = size
        self.mtime_ns = mtime_ns
        self._fs = fs
        self._root = root
        self._prefix = prefix
        return self

    def __reduce__(self) -> Any:
        fs = None if self._root is not None else self._fs
        args = (str(self), self.fs_path, fs, self._root, self._prefix, self.size, self.mtime_ns)
        return (_rebuild, args)

    @property
    def scheme(self) -> str:
        m = _URL.match(self)
        return m.group(1).lower() if m else ""

    @property
    def filesystem(self) -> pafs.FileSystem:
        if self._fs is None:
            assert self._root is not None
            self._fs = _filesystem(self._root, str(self))[0]
        return self._fs

    def child(self, info: pafs.FileInfo) -> RemotePath:
        """The file ``info`` (listed on this path's filesystem) as a RemotePath."""
        return RemotePath(
            self._prefix + info.path,
            info.path,
            fs=self._fs,
            root=self._root,
            prefix=self._prefix,
            size=info.size,
            mtime_ns=info.mtime_ns,
        )


def _rebuild(
    url: str,
    fs_path: str,
    fs: pafs.FileSystem | None,
    root: str | None,
    prefix: str,
    size: int | None,
    mtime_ns: int | None,
) -> RemotePath:
    return RemotePath(url, fs_path, fs=fs, root=root, prefix=prefix, size=size, mtime_ns=mtime_ns)


# ---------------------------------------------------------------------- filesystems
_CACHE: dict[tuple[int, str], pafs.FileSystem] = {}
_CACHE_LOCK = threading.Lock()


def _fsspec() -> Any:
    """The fsspec module (``import fsspec``; untyped)."""
    return importlib.import_module("fsspec")


def _fsspec_filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    scheme = url_scheme(url)
    try:
        fsspec = _fsspec()
    except ImportError:
        raise ImportError(
            f"reading {scheme}:// URLs needs fsspec: pip install 'tabloader[remote]' "
            "(s3://, gs:// and hdfs:// need nothing more)"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise ImportError(
            f"reading {scheme}:// URLs needs fsspec's implementation for them: {exc}"
        ) from exc
    except ValueError as exc:
        raise ValueError(
            f"{_redact(url)}: no filesystem for {scheme}:// URLs in pyarrow or fsspec ({exc})"
        ) from exc
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def _filesystem(url: str, shown: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of ``url`` (cached per process and root) and the path on it."""
    try:
        fs, path = pafs.FileSystem.from_uri(url)
    except pa.ArrowInvalid as exc:
        if "Unrecognized filesystem type" not in str(exc):
            raise ValueError(f"{shown} is not a URL pyarrow can read: {exc}") from exc
        fs, path = _fsspec_filesystem(url)
    except OSError as exc:
        err = storage_error(shown, exc)
        if err is None:
            raise
        raise err from exc
    key = (os.getpid(), _root(url))
    with _CACHE_LOCK:
        fs = _CACHE.setdefault(key, fs)
    return fs, path


def _root(url: str) -> str:
    """``scheme://[user@]host[?query]``: what one cached filesystem serves."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" + (f"?{parts.query}" if parts.query else "")


def _redact(url: str) -> str:
    """The URL without credentials (``user:secret@``) and without query options."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"


def remote_path(url: str) -> RemotePath:
    """A URL (not yet listed) as a :class:`RemotePath` with its filesystem.

    A glob's filesystem comes from the part before its first wildcard (``?`` and ``[``
    are no URL characters), the pattern is kept as it is.
    """
    head, tail = url, ""
    parts = urlsplit(url)
    after = url.find("/", len(parts.scheme) + 3)
    wild = [url.index(c, after) for c in _GLOB_CHARS if after >= 0 and c in url[after:]]
    if wild:
        cut = url.rfind("/", 0, min(wild))
        head, tail = url[:cut], url[cut:]
    shown = _redact(head)
    if len(shown) > len(f"{parts.scheme}://") + 1:
        shown = shown.rstrip("/")
    fs, fs_path = _filesystem(head, shown + tail)
    fs_path = fs_path.rstrip("/") or fs_path
    prefix = shown[: len(shown) - len(fs_path)] if shown.endswith(fs_path) else ""
    if not prefix:
        prefix = f"{parts.scheme}://"
        shown = prefix + fs_path
    return RemotePath(shown + tail, fs_path + tail, fs=fs, root=_root(head), prefix=prefix)


def _as_pyarrow(filesystem: Any) -> pafs.FileSystem:
    if isinstance(filesystem, pafs.FileSystem):
        return filesystem
    try:
        fsspec = _fsspec()
    except ImportError:
        fsspec = None
    if fsspec is not None and isinstance(filesystem, fsspec.AbstractFileSystem):
        return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem))
    raise type_error(
        "filesystem", "a pyarrow.fs.FileSystem, an fsspec filesystem or None", filesystem
    )


def _fs_scheme(fs: pafs.FileSystem) -> str:
    name = fs.type_name
    if name.startswith("py::fsspec"):
        inner = getattr(getattr(fs, "handler", None), "fs", None)
        protocol: Any = getattr(inner, "protocol", None) or "fsspec"
        return protocol if isinstance(protocol, str) else str(protocol[0])
    return {"gcs": "gs"}.get(name, name)


def _bind(item: Any, fs: pafs.FileSystem) -> RemotePath:
    path = os.fspath(item)
    if not isinstance(path, str):
        raise type_error("source", "a path, a list of paths, a directory or a glob", item)
    scheme = _fs_scheme(fs)
    if _URL.match(path):
        inner = getattr(getattr(fs, "handler", None), "fs", None)
        if inner is not None:
            path = inner._strip_protocol(path)
        else:
            parts = urlsplit(path)
            path = parts.path if scheme == "hdfs" else parts.netloc + parts.path
    prefix = f"{scheme}://"
    return RemotePath(prefix + path, path, fs=fs, prefix=prefix)


def with_filesystem(source: Any, filesystem: Any) -> Any:
    """``source`` bound to ``filesystem`` (paths on it, or URLs); unchanged when None.

    A ``pyarrow.fs.LocalFileSystem`` leaves the paths local (and on their fast path).
    """
    if filesystem is None:
        return source
    fs = _as_pyarrow(filesystem)
    if isinstance(fs, pafs.LocalFileSystem):
        return source
    if isinstance(source, (str, os.PathLike)):
        return _bind(source, fs)
    try:
        return [_bind(s, fs) for s in source]
    except TypeError:
        return source  # resolve_files says what a source should be


# ---------------------------------------------------------------------- errors and retries
def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 400 else text[:400] + "..."


def storage_error(path: str, exc: BaseException, tries: int = 1) -> TabloaderError | None:
    """The typed error for ``exc`` raised while ``path`` (remote) was listed or read.

    ``None`` when ``exc`` is not about the store (a corrupt file, a local path), so that
    the caller's own message stands.
    """
    if isinstance(exc, TabloaderError):
        return exc
    if not is_remote(path):
        return None
    msg = str(exc)
    if _NO_BUCKET.search(msg):
        return DataFileNotFoundError(f"the bucket of {path} does not exist ({_reason(exc)})")
    if isinstance(exc, PermissionError) or _ACCESS.search(msg):
        return AccessError(
            f"access to {path} was refused ({_reason(exc)}); check the credentials "
            "(environment variables, config files or the instance's role) and their "
            "permissions on this bucket and key"
        )
    if isinstance(exc, FileNotFoundError) or _NO_KEY.search(msg):
        return DataFileNotFoundError(f"data file {path} does not exist")
    if isinstance(exc, (TimeoutError, ConnectionError)) or _TRANSIENT.search(msg):
        after = f" (tried {tries} times)" if tries > 1 else ""
        return StorageError(
            f"could not read {path}: {_reason(exc)}{after}; check the endpoint and the "
            "network, or try again later"
        )
    return None


def _transient(err: BaseException) -> bool:
    return isinstance(err, StorageError)


def call(path: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` for remote ``path``: typed errors, transient ones tried again."""
    return next(retrying(path, lambda: iter((fn(*args),))))


def retrying(path: str, make: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The items of ``make()``; after a transient error, ``make()`` again, skipping the
    items already yielded (``make`` must give the same items each time)."""
    done = 0
    for attempt in range(1, RETRIES + 1):
        try:
            for i, item in enumerate(make()):
                if i >= done:
                    done += 1
                    yield item
            return
        except OSError as exc:
            err = storage_error(path, exc, attempt)
            if err is None:
                raise
            if _transient(err) and attempt < RETRIES:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
                continue
            if isinstance(exc, TabloaderError):
                raise
            raise err from exc


# ---------------------------------------------------------------------- opening
def _remote(path: str) -> RemotePath:
    return path if isinstance(path, RemotePath) else remote_path(path)


def arrow_where(path: str) -> tuple[str, pafs.FileSystem | None]:
    """``(path, filesystem)`` for pyarrow's readers (``filesystem=None`` for a local path)."""
    if not is_remote(path):
        return path, None
    p = _remote(path)
    return p.fs_path, p.filesystem


def open_input_file(path: str) -> pa.NativeFile:
    """A random-access file: ``pa.OSFile`` locally, ranged reads remotely."""
    if not is_remote(path):
        return pa.OSFile(path)
    p = _remote(path)
    return call(p, p.filesystem.open_input_file, p.fs_path)


def open_input_stream(path: str, compression: str | None = "detect") -> pa.NativeFile:
    """A sequential stream, decompressed by the file's suffix (as ``pa.input_stream``)."""
    if not is_remote(path):
        return pa.input_stream(path, compression=compression)
    p = _remote(path)
    return call(p, p.filesystem.open_input_stream, p.fs_path, compression, STREAM_BUFFER)


def open_buffered(path: str) -> BinaryIO:
    """A buffered binary file with ``readline``/``seek``/``tell`` (``open(path, "rb")``)."""
    if not is_remote(path):
        return open(path, "rb")
    return io.BufferedReader(open_input_file(path), 1 << 16)


def file_size(path: str) -> int:
    """Bytes in the file (from the listing for a remote file)."""
    if not is_remote(path):
        return os.path.getsize(path)
    p = _remote(path)
    if p.size is None:
        p.size = call(p, p.filesystem.get_file_info, p.fs_path).size
    return int(p.size or 0)


def as_input(data: Any) -> Any:
    """What a parser reads: a remote path as a fresh (decompressed) stream, else ``data``."""
    return open_input_stream(data) if isinstance(data, str) and is_remote(data) else data


def file_stat(path: str) -> tuple[int, int | None]:
    """``(size, mtime_ns)`` now: ``os.stat`` locally, the store's metadata remotely."""
    if not is_remote(path):
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    p = _remote(path)
    info = call(p, p.filesystem.get_file_info, p.fs_path)
    if info.type != pafs.FileType.File:
        raise DataFileNotFoundError(f"data file {p} does not exist")
    return int(info.size or 0), info.mtime_ns


#: footers of remote Parquet files by (URL, size, mtime): an object rewritten gets a new
#: modification time, so each footer is fetched once per process (one ranged read)
_FOOTERS: dict[tuple[str, int, int], bytes] = {}


def footer_tail(path: str, size: int | None = None, mtime_ns: int | None = None) -> bytes | None:
    """The last bytes of the remote Parquet file ``path``: its footer and the 8 bytes after
    it (``pq.read_metadata`` / ``read_schema`` read them from a ``pa.BufferReader``), from
    one ranged read of the tail (two when the footer is longer than 64 KiB); ``None`` when
    the file has no Parquet footer. ``size`` and ``mtime_ns`` default to the listing's."""
    p = _remote(path)
    size = p.size if size is None else size
    mtime_ns = p.mtime_ns if mtime_ns is None else mtime_ns
    if size is None:
        size = file_size(p)
    key = (str(p), size, mtime_ns) if mtime_ns is not None else None
    if key is not None and key in _FOOTERS:
        return _FOOTERS[key]
    if size < 12:
        return None
    fh = call(p, p.filesystem.open_input_file, p.fs_path)
    want = min(size, 1 << 16)
    tail = call(p, fh.read_at, want, size - want)
    n = int.from_bytes(tail[-8:-4], "little")
    if tail[-4:] != b"PAR1" or n + 12 > size:
        return None
    if n + 8 > len(tail):
        tail = call(p, fh.read_at, n + 8, size - n - 8)
    tail = bytes(tail[len(tail) - n - 8 :])
    if key is not None:
        if len(_FOOTERS) >= 1024:
            _FOOTERS.pop(next(iter(_FOOTERS)))
        _FOOTERS[key] = tail
    return tail


def read_footer(path: str, size: int, mtime_ns: int | None = None) -> tuple[bytes, Any] | None:
    """The raw footer of the remote Parquet file ``path`` and its metadata (``None`` when
    it cannot be parsed); ``None`` when the file has no Parquet footer."""
    import pyarrow.parquet as pq

    tail = footer_tail(path, size, mtime_ns)
    if tail is None:
        return None
    try:
        md = pq.read_metadata(pa.BufferReader(tail))
    except (OSError, ValueError):
        md = None
    return tail[:-8], md


def hive_partitions(
    files: list[str], base_dir: str, name: str, names: list[str]
) -> tuple[list[pa.Field], list[dict[str, Any]]]:
    """The hive partition fields below ``base_dir`` (those not in ``names``) and each
    file's keys, parsed by ``pyarrow.dataset``.

    The one place the readers and ``inspect`` parse ``key=value`` folders; it imports
    ``pyarrow.dataset`` (and so pandas) only when called.
    """
    import pyarrow.dataset as pads

    where = [arrow_where(f)[0] for f in files]  # paths on the one filesystem of a folder
    base, fs = arrow_where(base_dir)
    try:
        dataset = pads.dataset(
            where,
            format="parquet",
            partitioning=pads.HivePartitioning.discover(infer_dictionary=False),
            partition_base_dir=base,
            filesystem=fs,
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise ParseError(f"could not open the Parquet files of {name}: {exc}") from exc
    fields = [f for f in dataset.schema if f.name not in names]
    found = {
        os.path.normpath(fr.path): pads.get_partition_keys(fr.partition_expression)
        for fr in dataset.get_fragments()
    }
    keys = [{f.name: found.get(os.path.normpath(p), {}).get(f.name) for f in fields} for p in where]
    return fields, keys


def open_file(path: str | os.PathLike[str], filesystem: Any = None) -> pa.NativeFile:
    """Open one data file for reading: a local path or a URL (``s3://``, ``gs://``, ...).

    Parameters
    ----------
    path : str or path-like
        A local path, or a URL as the readers take it.
    filesystem : pyarrow or fsspec filesystem, optional
        A ready filesystem on which ``path`` lies (as the readers' ``filesystem=``).

    Returns
    -------
    pyarrow.NativeFile
        A sequential binary file (``read``), decompressed by the name's suffix (``.gz``,
        ``.bz2``, ``.zst``, ...); use it as a context manager. Errors are the readers':
        ``DataFileNotFoundError``, ``AccessError``, ``StorageError`` naming the URL.
    """
    source = with_filesystem(os.fspath(path), filesystem)
    if not is_remote(source):
        if not os.path.isfile(source):
            raise DataFileNotFoundError(f"data file {source} does not exist")
        return pa.input_stream(source, compression="detect")
    return open_input_stream(source)
