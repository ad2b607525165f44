"""A cheap description of a data source: rows, columns, types, missing counts, target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tabloader.datasets._columns import resolve_column
from tabloader.datasets._csv import read_csv_table
from tabloader.datasets._csv_text import CsvOptions, column_names
from tabloader.datasets._encoding import infer_task
from tabloader.datasets._open import source_format
from tabloader.datasets._parquet import parquet_schema, read_schema
from tabloader.datasets._source import Source, resolve_files

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
) -> dict[str, Any]:
    """Describe ``source`` without building tensors.

    Parquet row and null counts come from the file footers (no data pages are read,
    except the target column when ``target`` is given); CSV files are parsed once.

    Returns
    -------
    dict
        ``source``, ``format``, ``files``, ``rows``, ``columns`` (a list of
        ``{"name", "type", "missing"}``) and, with ``target``, ``target`` (its task and
        class counts, or mean/std/min/max).
    """
    fmt = source_format(source)
    files, _, name = resolve_files(source, fmt=fmt)
    info: dict[str, Any] = {
        "source": name,
        "format": "Parquet" if fmt == "parquet" else "CSV",
        "files": len(files),
    }
    if fmt == "parquet":
        info.update(_inspect_parquet(files, name, target))
    else:
        opts = CsvOptions(header, delimiter, comment, skip_rows)
        info.update(_inspect_csv(files, name, target, opts))
    return info


def _inspect_parquet(files: list[str], name: str, target: str | int | None) -> dict[str, Any]:
    """Rows, columns and missing counts from the footers (the target column is read)."""
    info: dict[str, Any] = {}
    schema = parquet_schema(files)
    rows = 0
    missing = dict.fromkeys(schema.names, 0)
    exact = True
    for f in files:
        read_schema(f)
        md = pq.ParquetFile(f).metadata
        rows += md.num_rows
        for rg in range(md.num_row_groups):
            g = md.row_group(rg)
            for i in range(g.num_columns):
                c = g.column(i)
                top = c.path_in_schema.split(".")[0]
                st = c.statistics
                if top in missing and st is not None and st.has_null_count:
                    missing[top] += st.null_count
                elif top in missing:
                    exact = False
    info["rows"] = rows
    info["columns"] = [
        {
            "name": fld.name,
            "type": str(fld.type),
            "missing": missing[fld.name] if exact else None,
        }
        for fld in schema
    ]
    if target is not None:
        col_name = resolve_column(target, schema.names, name, "target")
        col = pa.chunked_array(
            [
                c
                for f in files
                for c in pq.read_table(f, columns=[col_name]).column(col_name).chunks
            ],
            type=schema.field(col_name).type,
        )
        info["target"] = _target_summary(col, col_name)
    return info


def _inspect_csv(
    files: list[str], name: str, target: str | int | None, opts: CsvOptions
) -> dict[str, Any]:
    """Rows, columns and missing counts of CSV files (parsed once)."""
    info: dict[str, Any] = {}
    names = column_names(files[0], opts)
    tables = [read_csv_table(f, opts, names, names, {}) for f in files]
    table = (
        tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    )
    info["rows"] = table.num_rows
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
