"""Parquet files (one, several, or a hive-partitioned directory): schema, partitions, tables.

:func:`open_parquet` reads the footers once and the hive partition keys (parsed by
pyarrow's discovery); :func:`read_columns` reads a file, or a record batch of one, with its
partition keys as columns and the shared schema's types. ``ParquetDataset`` and
``ParquetStream`` both read through them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from tabloader.datasets._build import Piece, build_tensors
from tabloader.datasets._columns import ColumnRef, ColumnSpec
from tabloader.datasets._origin import ChunkOrigin
from tabloader.datasets._remote import (
    arrow_where,
    footer_tail,
    hive_partitions,
    is_remote,
    storage_error,
    with_filesystem,
)
from tabloader.datasets._source import Source, resolve_files, sniff_format
from tabloader.datasets._tabular import TabularDataset
from tabloader.errors import ParseError, SchemaError, UnsupportedFormatError

__all__ = [
    "ParquetDataset",
    "ParquetFiles",
    "corrupt_error",
    "open_parquet",
    "parquet_schema",
    "read_columns",
    "read_schema",
]


def _kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "text"
    return str(t)


def read_schema(path: str) -> pa.Schema:
    try:
        tail = footer_tail(path) if is_remote(path) else None  # the footer read once
        if tail is not None:
            return pq.read_schema(pa.BufferReader(tail))
        where, fs = arrow_where(path)
        return pq.read_schema(where, filesystem=fs)
    except (pa.ArrowException, OSError) as exc:
        remote = storage_error(path, exc)
        if remote is not None:
            raise remote from exc
        if sniff_format(path) == "csv":
            raise UnsupportedFormatError(
                f"{path} is not a Parquet file (it looks like CSV text); use CsvDataset "
                "or TabularDataset.from_path"
            ) from exc
        raise ParseError(
            f"{path} is not a readable Parquet file (corrupt or truncated: {exc}); "
            "re-write it, or remove it from the source"
        ) from exc


def parquet_schema(files: Sequence[str]) -> pa.Schema:
    """The shared schema of ``files``; a SchemaError names two files that disagree.

    Columns must have the same names in every file; their types may differ only in width
    (``int32`` and ``int64``, say) and are then promoted.
    """
    first = read_schema(files[0])
    schemas = [first]
    for path in files[1:]:
        s = read_schema(path)
        a, b = first.names, s.names
        if a != b:
            only_a = [c for c in a if c not in b]
            only_b = [c for c in b if c not in a]
            if only_a or only_b:
                col = (only_a or only_b)[0]
                has, lacks = (files[0], path) if only_a else (path, files[0])
                raise SchemaError(
                    f"Parquet files {files[0]} and {path} have different schemas: column "
                    f"{col!r} is in {has} but not in {lacks}; every file must have the same columns"
                )
        for fld in s:
            other = first.field(fld.name)
            if _kind(other.type) != _kind(fld.type):
                raise SchemaError(
                    f"Parquet files {files[0]} and {path} have different schemas: column "
                    f"{fld.name!r} is {other.type} in {files[0]} but {fld.type} in {path}"
                )
        schemas.append(s)
    if len(schemas) == 1:
        return first
    plain = [s.remove_metadata() for s in schemas]
    # a column dictionary-encoded in some files only is read as its plain values everywhere
    for name in first.names:
        is_dict = [pa.types.is_dictionary(s.field(name).type) for s in plain]
        if any(is_dict) and not all(is_dict):
            plain = [
                s.set(
                    s.get_field_index(name),
                    s.field(name).with_type(s.field(name).type.value_type),
                )
                if pa.types.is_dictionary(s.field(name).type)
                else s
                for s in plain
            ]
    try:
        return pa.unify_schemas(plain, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(
            f"the Parquet files {files[0]} ... {files[-1]} have column types that cannot be "
            f"combined: {exc}; write every file with the same column types"
        ) from exc


def corrupt_error(path: str, exc: Exception) -> Exception:
    """The one message for a Parquet file whose data cannot be read (or the remote store's
    typed error: access refused, a timeout, a missing key)."""
    remote = storage_error(path, exc)
    if remote is not None:
        return remote
    return ParseError(
        f"{path} is not a readable Parquet file (corrupt data: {exc}); "
        "re-write it, or remove it from the source"
    )


@dataclass
class ParquetFiles:
    """The files of a Parquet source, their shared schema and their partition keys."""

    files: list[str]
    name: str
    #: the files' columns, then the hive partition keys
    schema: pa.Schema
    file_columns: set[str]
    #: per file, the value of each partition key (None for a null partition)
    keys: list[dict[str, Any]]


def _has_partition_dirs(files: list[str], base_dir: str) -> bool:
    for f in files:
        rel = os.path.relpath(os.path.dirname(f), base_dir)
        if rel != "." and any("=" in part for part in rel.split(os.sep)):
            return True
    return False


def open_parquet(source: Source) -> ParquetFiles:
    """Resolve ``source``, read the schemas and parse the hive partition keys (pyarrow)."""
    files, base_dir, name = resolve_files(source, fmt="parquet")
    schema = parquet_schema(files)
    no_keys: list[dict[str, Any]] = [{} for _ in files]
    if base_dir is None or not _has_partition_dirs(files, base_dir):
        return ParquetFiles(files, name, schema, set(schema.names), no_keys)
    part_fields, keys = hive_partitions(files, base_dir, name, schema.names)
    full = pa.schema(list(schema) + part_fields)
    return ParquetFiles(files, name, full, set(schema.names), keys)


def read_columns(
    pf: ParquetFiles, index: int, columns: list[str], table: pa.Table | None = None
) -> pa.Table:
    """``columns`` of file ``index`` (or of ``table``, a batch of it) in the shared types.

    Partition keys become constant columns; a file whose types differ from the shared
    schema (narrower integers, dictionary encoding) is cast to it.
    """
    path = pf.files[index]
    if table is None:
        in_file = [c for c in columns if c in pf.file_columns]
        try:
            where, fs = arrow_where(path)
            # pages written with checksums are verified: a flipped byte is an error, never
            # silently different numbers (or "missing values")
            table = pq.read_table(
                where, columns=in_file, filesystem=fs, page_checksum_verification=True
            )
        except (pa.ArrowException, OSError) as exc:
            raise corrupt_error(path, exc) from exc
    keys = pf.keys[index]
    n = table.num_rows
    for c in columns:
        if c in keys:
            t = pf.schema.field(c).type
            table = table.append_column(c, pa.repeat(pa.scalar(keys[c], type=t), n))
    want = pa.schema([pf.schema.field(c) for c in columns])
    if table.schema != want:
        table = table.select(columns).cast(want)
    return table


class ParquetDataset(TabularDataset):
    """A :class:`TabularDataset` read from Parquet with pyarrow, reading only the needed columns.

    Parameters
    ----------
    source : path, list of paths, directory or glob pattern
        One file, several files with the same columns, or a directory. A directory written
        with hive partitioning (``key=value/`` folders) exposes the partition keys as
        columns (numbers when every value parses as an integer, else text, which needs
        ``categorical=``). Files are read in sorted path order. Local, or URLs
        (``s3://``, ``gs://``, ``hdfs://``, fsspec protocols; see ``docs/remote.md``).
    target, features, categorical, task, missing, categories, fill_values, unknown_levels, dtype
        As for :class:`CsvDataset`.
    filesystem : pyarrow.fs.FileSystem or fsspec filesystem, optional
        Where the paths of ``source`` are (instead of URLs).
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
        categories: Mapping[str, Sequence[Any]] | None = None,
        fill_values: Mapping[str, float] | None = None,
        unknown_levels: str = "error",
        dtype: torch.dtype = torch.float32,
        filesystem: Any = None,
    ) -> None:
        spec = ColumnSpec(
            target,
            features,
            categorical or [],
            task,
            missing,
            categories,
            fill_values,
            dtype,
            unknown_levels,
        )
        spec.validate()
        pf = open_parquet(with_filesystem(source, filesystem))
        resolved = spec.resolved(pf.schema.names, pf.name)
        needed = resolved.needed(pf.schema.names, pf.name)
        pieces = [
            Piece(read_columns(pf, i, needed), ChunkOrigin(pf.name, [], None, path, 0))
            for i, path in enumerate(pf.files)
        ]
        self._adopt(build_tensors(pieces, resolved, pf.name))
