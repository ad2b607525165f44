"""ParquetStream: Parquet files larger than memory, row group by row group, as batches."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from tabloader._checks import check_int
from tabloader.datasets._columns import ColumnRef, ColumnSpec
from tabloader.datasets._parquet import corrupt_error, open_parquet, read_columns
from tabloader.datasets._source import Source
from tabloader.datasets._stream_base import STREAM_DOC_COMMON, TabularStream
from tabloader.datasets._stream_first_pass import first_pass
from tabloader.datasets._stream_rows import Unit
from tabloader.errors import ParseError

__all__ = ["ParquetStream"]


class ParquetStream(TabularStream):
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
    target, features, categorical, task, missing
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

    Notes
    -----
    Row counts come from the files' metadata. A first pass reads only the columns it
    needs: the target (for its classes), the categorical columns (for their levels) and,
    with ``missing="drop"`` or ``"mean"``, every feature (for the row counts and fill
    values). With ``missing="error"``, a missing value is reported when the batch that
    holds it is read, with the map-style message.
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
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        shuffle_buffer: int = 1 << 18,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        classes: Sequence | None = None,
        categories: Mapping[str, Sequence] | None = None,
        chunk_rows: int = 1 << 16,
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
        spec.validate()
        pf = open_parquet(source)
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
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ParseError(
                f"{path} is not a readable Parquet file (corrupt or truncated: {exc}); "
                "re-write it, or remove it from the source"
            ) from exc
        cache[fi] = (os.getpid(), pf)
        return pf

    def _read_unit(self, unit: Unit, columns: list[str]) -> Iterator[tuple[pa.Table, int]]:
        pf = self._file(unit.file)
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
        except (pa.ArrowInvalid, OSError) as exc:
            raise corrupt_error(self._files[unit.file], exc) from exc


ParquetStream.__doc__ = (ParquetStream.__doc__ or "").replace(
    "{common}", STREAM_DOC_COMMON.strip("\n")
)
