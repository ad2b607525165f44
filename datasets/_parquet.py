"""Parquet files (one, several, or a hive-partitioned directory) into a TabularDataset."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from tabloader.datasets._convert import ColumnRef, ColumnSpec, build_dataset
from tabloader.datasets._origin import Origin
from tabloader.datasets._source import Source, _sniff_format, resolve_files
from tabloader.datasets._tabular import TabularDataset
from tabloader.errors import ParseError, SchemaError, UnsupportedFormatError

__all__ = ["ParquetDataset", "parquet_schema", "read_parquet_table"]


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


def _read_schema(path: str) -> pa.Schema:
    try:
        return pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        if _sniff_format(path) == "csv":
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
    first = _read_schema(files[0])
    schemas = [first]
    for path in files[1:]:
        s = _read_schema(path)
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


def read_parquet_table(
    files: list[str], base_dir: str | None, spec: ColumnSpec, name: str
) -> tuple[pa.Table, ColumnSpec, list[tuple[str, int]]]:
    """Read only the columns ``spec`` needs; hive partition keys become columns."""
    schema = parquet_schema(files)
    if base_dir is None or not _has_partition_dirs(files, base_dir):
        return _read_plain_files(files, schema, spec, name)
    partitioning = None
    if base_dir is not None:
        partitioning = pads.HivePartitioning.discover(infer_dictionary=False)
    try:
        dataset = pads.dataset(
            files,
            schema=None,
            format="parquet",
            partitioning=partitioning,
            partition_base_dir=base_dir,
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise ParseError(f"could not open the Parquet files of {name}: {exc}") from exc
    part_fields = [f for f in dataset.schema if f.name not in schema.names]
    full = pa.schema(list(schema) + part_fields)
    columns = full.names
    target, features, categorical = spec.resolve(columns, name)
    resolved = spec.with_columns(target, features, categorical)
    needed = resolved.needed(columns, name)
    dataset = pads.dataset(
        files,
        schema=full,
        format="parquet",
        partitioning=partitioning
        if partitioning is None
        else pads.HivePartitioning(pa.schema(part_fields)),
        partition_base_dir=base_dir,
    )
    counts: list[tuple[str, int]] = []
    tables = []
    for fragment in dataset.get_fragments():
        try:
            t = fragment.to_table(columns=needed, schema=full)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ParseError(
                f"{fragment.path} is not a readable Parquet file (corrupt data: {exc}); "
                "re-write it, or remove it from the source"
            ) from exc
        counts.append((fragment.path, t.num_rows))
        tables.append(t)
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return table, resolved, counts


def _has_partition_dirs(files: list[str], base_dir: str) -> bool:
    for f in files:
        rel = os.path.relpath(os.path.dirname(f), base_dir)
        if rel != "." and any("=" in part for part in rel.split(os.sep)):
            return True
    return False


def _read_plain_files(
    files: list[str], schema: pa.Schema, spec: ColumnSpec, name: str
) -> tuple[pa.Table, ColumnSpec, list[tuple[str, int]]]:
    """Files without partition folders: ``pq.read_table`` each (the fastest path)."""
    target, features, categorical = spec.resolve(schema.names, name)
    resolved = spec.with_columns(target, features, categorical)
    needed = resolved.needed(schema.names, name)
    counts: list[tuple[str, int]] = []
    tables = []
    for path in files:
        try:
            t = pq.read_table(path, columns=needed)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ParseError(
                f"{path} is not a readable Parquet file (corrupt data: {exc}); "
                "re-write it, or remove it from the source"
            ) from exc
        counts.append((path, t.num_rows))
        tables.append(t)
    if len(tables) == 1:
        return tables[0], resolved, counts
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # a column dictionary-encoded in some files only: decode it everywhere
        try:
            table = pa.concat_tables(
                [_decode_dictionaries(t) for t in tables], promote_options="permissive"
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(
                f"the Parquet files of {name} have incompatible column types: {exc}"
            ) from exc
    return table, resolved, counts


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


class ParquetDataset(TabularDataset):
    """A :class:`TabularDataset` read from Parquet with pyarrow, reading only the needed columns.

    Parameters
    ----------
    source : path, list of paths, directory or glob pattern
        One file, several files with the same columns, or a directory. A directory written
        with hive partitioning (``key=value/`` folders) exposes the partition keys as
        columns (numbers when every value parses as an integer, else text, which needs
        ``categorical=``). Files are read in sorted path order.
    target, features, categorical, task, missing, categories, fill_values
        As for :class:`CsvDataset`.
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
        categories: Mapping[str, Sequence] | None = None,
        fill_values: Mapping[str, float] | None = None,
    ) -> None:
        spec = ColumnSpec(
            target, features, categorical or [], task, missing, categories, fill_values
        )
        spec.validate()
        files, base_dir, name = resolve_files(source, fmt="parquet")
        table, resolved, counts = read_parquet_table(files, base_dir, spec, name)
        built = build_dataset(TabularDataset, table, resolved, Origin(name, counts))
        self.__dict__.update(built.__dict__)
