"""ParquetStream: Parquet files larger than memory, row group by row group, as batches."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from tabloader._checks import check_int
from tabloader.datasets._columns import ColumnRef, ColumnSpec
from tabloader.datasets._parquet import corrupt_error, open_parquet, read_columns
from tabloader.datasets._precision import EXACT_LIMIT
from tabloader.datasets._readahead import RemoteUnits
from tabloader.datasets._remote import (
    arrow_where,
    footer_tail,
    is_remote,
    open_input_file,
    storage_error,
    with_filesystem,
)
from tabloader.datasets._source import Source
from tabloader.datasets._stream_base import STREAM_DOC_COMMON, TabularStream
from tabloader.datasets._stream_first_pass import first_pass
from tabloader.datasets._stream_rows import Unit
from tabloader.errors import ParseError

__all__ = ["ParquetStream"]

#: bytes of needed column chunks of adjacent remote row groups read together
_GROUP_BYTES = 32 << 20


class ParquetStream(RemoteUnits, TabularStream):
    """Stream Parquet files larger than memory, row group by row group, as batches.

    An :class:`~torch.utils.data.IterableDataset` that yields ``(X, y)`` batches with
    the same dtypes, shapes, feature names and encodings as
    :class:`~tabloader.datasets.ParquetDataset` (``X`` alone without a target). Over
    one epoch every row is yielded exactly once across all DataLoader workers and
    distributed ranks, and every rank yields the same number of batches.

    Parameters
    ----------
    source : path, list of paths, directory or glob pattern
        Parquet files with the same columns (read in sorted path order for a directory
        or glob). Hive partition keys (``key=value`` folders) are columns, as in
        :class:`~tabloader.datasets.ParquetDataset` (parsed by pyarrow for both).
    target, features, categorical, task, missing, unknown_levels, dtype
        As for :class:`~tabloader.datasets.ParquetDataset`.
    classes : sequence, optional
        The class labels of a classification target; learned in a first pass over the
        target column when omitted (so a class that first appears late is known).
    categories : dict, optional
        Levels of categorical columns (column name to labels); learned in the first pass
        for the columns not given.
    {common}
    chunk_rows : int, default 65536
        Rows decoded at a time within a row group.
    filesystem : pyarrow.fs.FileSystem or fsspec filesystem, optional
        Where the paths of ``source`` are; ``source`` may also be URLs (``s3://``,
        ``gs://``, ``hdfs://``, fsspec protocols): row groups are then read with ranged
        reads of the needed columns only, with a bounded read-ahead and retries (see
        ``docs/remote.md``).

    Notes
    -----
    Row counts come from the files' metadata. A first pass reads only the columns it
    needs: the target (for its classes), the categorical columns (for their levels) and,
    with ``missing="drop"`` or ``"mean"``, every feature (for the row counts and fill
    values). With ``missing="error"``, a missing value is reported when the batch that
    holds it is read, with the map-style message.
    """

    _parquet_footer = True  # the files' fingerprints include their footers

    def __init__(
        self,
        source: Source,
        *,
        target: ColumnRef | None = None,
        features: Sequence[ColumnRef] | None = None,
        categorical: Sequence[ColumnRef] = (),
        task: str | None = None,
        missing: str = "error",
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        shuffle_buffer: int = 1 << 18,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        classes: Sequence | None = None,
        categories: Mapping[str, Sequence] | None = None,
        unknown_levels: str = "error",
        dtype: torch.dtype = torch.float32,
        chunk_rows: int = 1 << 16,
        filesystem: Any = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
        )
        self.chunk_rows = check_int("chunk_rows", chunk_rows, low=1)
        spec = ColumnSpec(target, features, list(categorical or []), task, missing, categories)
        spec.dtype, spec.unknown_levels = dtype, unknown_levels
        spec.validate()
        pf = open_parquet(with_filesystem(source, filesystem))
        self._parquet = pf
        self._files = pf.files
        self.source = pf.name
        self._pf_cache: dict[int, tuple[int, pq.ParquetFile]] = {}
        self._all_columns = pf.schema.names
        resolved = spec.resolved(pf.schema.names, pf.name)
        self._columns_needed = resolved.needed(pf.schema.names, pf.name)
        units = []
        for fi in range(len(pf.files)):
            md = self._file(fi).metadata
            first = 0
            for rg in range(md.num_row_groups):
                n = md.row_group(rg).num_rows
                units.append(Unit(fi, rg, n, n, first))
                first += n
        self._units = units
        first_pass(self, resolved, classes, counted=True)

    def _file(self, fi: int) -> pq.ParquetFile:
        cache = self.__dict__.setdefault("_pf_cache", {})
        hit = cache.get(fi)
        if hit is not None and hit[0] == os.getpid():
            return hit[1]
        path = self._files[fi]
        try:
            tail = footer_tail(path) if is_remote(path) else None  # the footer read once
            if tail is not None:
                md = pq.read_metadata(pa.BufferReader(tail))
                pf = pq.ParquetFile(
                    open_input_file(path), metadata=md, page_checksum_verification=True
                )
            else:
                where, fs = arrow_where(path)
                pf = pq.ParquetFile(where, filesystem=fs, page_checksum_verification=True)
        except (pa.ArrowException, OSError) as exc:
            remote = storage_error(path, exc)
            if remote is not None:
                raise remote from exc
            raise ParseError(
                f"{path} is not a readable Parquet file (corrupt or truncated: {exc}); "
                "re-write it, or remove it from the source"
            ) from exc
        cache[fi] = (os.getpid(), pf)
        return pf

    def _unit_file(self, fi: int) -> pq.ParquetFile:
        """The file to read a unit from: the cached one in the main thread; in other
        threads (the stream's reader thread, the remote read-ahead threads: they read at
        the same time, which one ``ParquetFile`` does not allow) one per thread, with the
        footer read once."""
        path = self._files[fi]
        if not is_remote(path) and threading.current_thread() is threading.main_thread():
            return self._file(fi)
        cache = self.__dict__.setdefault("_thread_files", {})
        key = (os.getpid(), threading.get_ident(), fi)
        if key not in cache:
            alive = {t.ident for t in threading.enumerate()}
            for k in [k for k in list(cache) if k[1] not in alive]:  # (threads add keys)
                cache.pop(k, None)  # files of reader threads that ended
            metadata = self._file(fi).metadata
            try:
                cache[key] = pq.ParquetFile(
                    open_input_file(path), metadata=metadata, page_checksum_verification=True
                )
            except (pa.ArrowInvalid, OSError) as exc:
                raise corrupt_error(path, exc) from exc
        return cache[key]

    def _group_size(self, plan: list[Unit], pos: int) -> int:
        """Remote row groups next to each other in the file and in the plan are read
        together, up to 32 MiB of their needed column chunks: one ranged read."""
        first = plan[pos]
        if not is_remote(self._files[first.file]):
            return 1
        md = self._file(first.file).metadata
        wanted = {c for c in self._columns if c in self._parquet.file_columns}
        total = n = 0
        for unit in plan[pos:]:
            if unit.file != first.file or unit.index != first.index + n:
                break
            rg = md.row_group(unit.index)
            size = sum(
                rg.column(j).total_compressed_size
                for j in range(rg.num_columns)
                if rg.column(j).path_in_schema in wanted
            )
            if n and total + size > _GROUP_BYTES:
                break
            total, n = total + size, n + 1
        return max(n, 1)

    def _fetch_group(
        self, units: list[Unit], columns: list[str]
    ) -> Iterator[tuple[int, tuple[pa.Table, int]]]:
        """Adjacent row groups of one file in one read (pre-buffered together)."""
        pf = self._unit_file(units[0].file)
        in_file = [c for c in columns if c in self._parquet.file_columns]
        i, left, off = 0, units[0].raw_rows, units[0].first_row
        try:
            for rb in pf.iter_batches(
                batch_size=self.chunk_rows,
                row_groups=[u.index for u in units],
                columns=in_file,
                use_threads=True,
            ):
                table = pa.Table.from_batches([rb])
                while table.num_rows:
                    while left == 0 and i + 1 < len(units):
                        i += 1
                        left, off = units[i].raw_rows, units[i].first_row
                    part = table.slice(0, left) if table.num_rows > left > 0 else table
                    yield i, (read_columns(self._parquet, units[i].file, columns, part), off)
                    off += part.num_rows
                    left -= part.num_rows
                    table = table.slice(part.num_rows)
        except (pa.ArrowInvalid, OSError) as exc:
            raise corrupt_error(self._files[units[0].file], exc) from exc

    def _fetch_unit(self, unit: Unit, columns: list[str]) -> Iterator[tuple[pa.Table, int]]:
        pf = self._unit_file(unit.file)
        in_file = [c for c in columns if c in self._parquet.file_columns]
        off = unit.first_row
        try:
            for rb in pf.iter_batches(
                batch_size=self.chunk_rows,
                row_groups=[unit.index],
                columns=in_file,
                use_threads=True,
            ):
                table = read_columns(self._parquet, unit.file, columns, pa.Table.from_batches([rb]))
                yield table, off
                off += rb.num_rows
        except (pa.ArrowException, OSError) as exc:  # a page that fails its checksum, too
            raise corrupt_error(self._files[unit.file], exc) from exc

    def _precision_columns(self, columns: list[str], dtype: np.dtype) -> list[str]:
        """The columns whose row-group statistics do not rule out integers beyond what
        ``dtype`` holds exactly (so the first pass reads no other feature column)."""
        limit = EXACT_LIMIT[np.dtype(dtype)]
        return [c for c in columns if not self._stats_within(c, limit)]

    def _stats_within(self, column: str, limit: int) -> bool:
        if column not in self._parquet.file_columns:
            return False  # a partition key: a constant, checked cheaply
        for fi in range(len(self._files)):
            md = self._file(fi).metadata
            for rg in range(md.num_row_groups):
                group = md.row_group(rg)
                index = [group.column(i).path_in_schema for i in range(group.num_columns)]
                if column not in index:
                    return False
                st = group.column(index.index(column)).statistics
                if st is None or not st.has_min_max:
                    return False
                lo, hi = st.min, st.max
                if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float))):
                    return False
                if not -limit <= lo <= hi <= limit:
                    return False
        return True


ParquetStream.__doc__ = (ParquetStream.__doc__ or "").replace(
    "{common}", STREAM_DOC_COMMON.strip("\n")
)
