"""A cheap description of a data source: rows, columns, types, missing counts, target.

Only pyarrow, NumPy and the torch-free modules of the datasets (sources, CSV text and
parsing, columns, the task rule) are imported here, so that ``tabloader inspect`` starts
without torch.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tabloader.datasets._columns import resolve_column
from tabloader.datasets._csv_parse import parse_with_retry, read_text
from tabloader.datasets._csv_text import CsvOptions, csv_header, csv_input
from tabloader.datasets._encoding import infer_task
from tabloader.datasets._remote import arrow_where, hive_partitions, storage_error
from tabloader.datasets._source import Source, detect_format, resolve_files, sniff_format
from tabloader.errors import ParseError, SchemaError, UnsupportedFormatError

__all__ = ["inspect_source"]


def _target_summary(col: pa.ChunkedArray, name: str) -> dict[str, Any]:
    col = col.drop_null()
    task = infer_task(col)
    out: dict[str, Any] = {"name": name, "task": task, "non_missing": len(col)}
    if task == "regression":
        a = col.to_numpy(zero_copy_only=False).astype(np.float64)
        a = a[np.isfinite(a)]
        out.update(
            mean=float(a.mean()) if len(a) else None,
            std=float(a.std()) if len(a) else None,
            min=float(a.min()) if len(a) else None,
            max=float(a.max()) if len(a) else None,
        )
    else:
        counts = pc.value_counts(col)
        vals = counts.field("values").to_pylist()
        cnts = counts.field("counts").to_pylist()
        order = sorted(range(len(vals)), key=lambda i: (str(type(vals[i])), vals[i]))
        total = max(sum(cnts), 1)
        out["classes"] = [
            {"class": vals[i], "count": cnts[i], "share": cnts[i] / total} for i in order
        ]
    return out


def inspect_source(
    source: Source,
    *,
    target: str | int | None = None,
    header: bool = True,
    delimiter: str | None = None,
    comment: str | None = None,
    skip_rows: int = 0,
    encoding: str = "utf8",
) -> dict[str, Any]:
    """Describe ``source`` without building tensors (and without importing torch).

    Parquet row and null counts come from the file footers (no data pages are read,
    except the target column when ``target`` is given); the partition columns of a hive
    directory (``region=north/...``) are listed after the file columns, as the readers
    add them. CSV files are parsed once, as ``encoding`` text.

    Returns
    -------
    dict
        ``source``, ``format``, ``files``, ``rows``, ``columns`` (a list of
        ``{"name", "type", "missing"}``) and, with ``target``, ``target`` (its task and
        class counts, or mean/std/min/max).
    """
    files, base_dir, name = resolve_files(source)
    formats = {detect_format(f) for f in files}
    if len(formats) > 1:
        raise UnsupportedFormatError(
            f"{name} mixes CSV and Parquet files; give one format per dataset"
        )
    fmt = formats.pop()
    files, base_dir, name = resolve_files(source, fmt=fmt)
    info: dict[str, Any] = {
        "source": name,
        "format": "Parquet" if fmt == "parquet" else "CSV",
        "files": len(files),
    }
    if fmt == "parquet":
        info.update(_inspect_parquet(files, base_dir, name, target))
    else:
        opts = CsvOptions(header, delimiter, comment, skip_rows, encoding)
        info.update(_inspect_csv(files, name, target, opts))
    return info


# --------------------------------------------------------------------------- Parquet
def _footer(path: str) -> pq.FileMetaData:
    try:
        where, fs = arrow_where(path)
        return pq.ParquetFile(where, filesystem=fs).metadata
    except (pa.ArrowInvalid, OSError) as exc:
        remote = storage_error(path, exc)  # a remote store's error, naming the URL
        if remote is not None:
            raise remote from exc
        if sniff_format(path) == "csv":
            raise UnsupportedFormatError(
                f"{path} is not a Parquet file (it looks like CSV text); name it .csv"
            ) from exc
        raise ParseError(
            f"{path} is not a readable Parquet file (corrupt or truncated: {exc}); "
            "re-write it, or remove it from the source"
        ) from exc


def _file_schema(files: list[str], footers: list[pq.FileMetaData]) -> pa.Schema:
    """The files' shared schema; a SchemaError names two files that disagree."""
    schemas = [md.schema.to_arrow_schema() for md in footers]
    first = schemas[0]
    for path, s in zip(files[1:], schemas[1:]):
        only = [c for c in first.names if c not in s.names] or [
            c for c in s.names if c not in first.names
        ]
        if only:
            raise SchemaError(
                f"Parquet files {files[0]} and {path} have different schemas: column "
                f"{only[0]!r} is in one but not the other; every file must have the same columns"
            )
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(
            f"Parquet files {files[0]}, ... have column types that do not agree ({exc}); "
            "re-write them with one type per column"
        ) from exc


def _partitions(
    files: list[str], base_dir: str | None, names: list[str]
) -> tuple[list[pa.Field], list[dict[str, Any]]]:
    """The hive partition fields under ``base_dir`` and each file's keys (pyarrow's parse)."""
    nested = base_dir is not None and any(
        "=" in part
        for f in files
        for part in os.path.relpath(os.path.dirname(f), base_dir).split(os.sep)
    )
    if not nested or base_dir is None:
        return [], [{} for _ in files]
    fields, keys = hive_partitions(files, base_dir, base_dir, names)
    return fields, keys


def _inspect_parquet(
    files: list[str], base_dir: str | None, name: str, target: str | int | None
) -> dict[str, Any]:
    """Rows, columns and missing counts from the footers (the target column is read)."""
    footers = [_footer(f) for f in files]
    schema = _file_schema(files, footers)
    part_fields, keys = _partitions(files, base_dir, schema.names)
    missing = dict.fromkeys([*schema.names, *(f.name for f in part_fields)], 0)
    exact = dict.fromkeys(missing, True)
    for md, file_keys in zip(footers, keys):
        for key, value in file_keys.items():
            missing[key] += md.num_rows if value is None else 0
        for rg in range(md.num_row_groups):
            g = md.row_group(rg)
            for i in range(g.num_columns):
                c = g.column(i)
                top = c.path_in_schema.split(".")[0]
                st = c.statistics
                if top in missing and st is not None and st.has_null_count:
                    missing[top] += st.null_count
                elif top in missing:
                    exact[top] = False
    info: dict[str, Any] = {"rows": sum(md.num_rows for md in footers)}
    info["columns"] = [
        {
            "name": fld.name,
            "type": str(fld.type),
            "missing": missing[fld.name] if exact[fld.name] else None,
            **({"partition": True} if fld in part_fields else {}),
        }
        for fld in [*schema, *part_fields]
    ]
    if target is not None:
        col_name = resolve_column(target, list(missing), name, "target")
        info["target"] = _target_summary(
            _parquet_column(files, footers, keys, schema, part_fields, col_name), col_name
        )
    return info


def _parquet_column(
    files: list[str],
    footers: list[pq.FileMetaData],
    keys: list[dict[str, Any]],
    schema: pa.Schema,
    part_fields: list[pa.Field],
    col_name: str,
) -> pa.ChunkedArray:
    """One column of every file: read from the data pages, or a partition key repeated."""
    part = {f.name: f.type for f in part_fields}
    if col_name in part:
        t = part[col_name]
        chunks = [
            pa.nulls(md.num_rows, t)
            if k[col_name] is None
            else pa.repeat(pa.scalar(k[col_name], t), md.num_rows)
            for md, k in zip(footers, keys)
        ]
        return pa.chunked_array(chunks, type=t)
    t = schema.field(col_name).type
    return pa.chunked_array(
        [
            c.cast(t)
            for f in files
            for c in pq.read_table(
                arrow_where(f)[0], columns=[col_name], filesystem=arrow_where(f)[1]
            )
            .column(0)
            .chunks
        ],
        type=t,
    )


# --------------------------------------------------------------------------- CSV
def _read_csv(path: str, opts: CsvOptions, names: list[str], skip: int) -> pa.Table:
    """Every column of one CSV file with pyarrow's inferred types (a column that breaks
    them is read as text), through the readers' one parse/explain path."""
    src = csv_input(path, opts)
    data = src.getvalue() if isinstance(src, io.BytesIO) else src
    parse = read_text(path, opts, data, names, skip_rows=skip)
    return parse_with_retry(parse, path, opts, names, {}, text_ok=names)[0]


def _inspect_csv(
    files: list[str], name: str, target: str | int | None, opts: CsvOptions
) -> dict[str, Any]:
    """Rows, columns and missing counts of CSV files (parsed once)."""
    names, skip = csv_header(files[0], opts)
    tables = [
        _read_csv(f, opts, names, skip if f == files[0] else csv_header(f, opts)[1]) for f in files
    ]
    table = (
        tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    )
    info: dict[str, Any] = {"rows": table.num_rows}
    info["columns"] = [
        {
            "name": c,
            "type": str(table.schema.field(c).type),
            "missing": int(table.column(c).null_count)
            + (
                int(pc.sum(pc.invert(pc.is_finite(table.column(c)))).as_py() or 0)
                if pa.types.is_floating(table.schema.field(c).type)
                else 0
            ),
        }
        for c in names
    ]
    if target is not None:
        col_name = resolve_column(target, names, name, "target")
        info["target"] = _target_summary(table.column(col_name), col_name)
    return info
