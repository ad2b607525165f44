"""Reading a file the way a saved model needs it: ``predict`` and ``evaluate``.

The model file carries the training run's data spec (``metadata_["data"]``, written by
``train --out``): the source feature columns, the categorical levels, the fill values and
training means, the target, the task and the CSV options. A model fitted in Python has
only its feature names, which is enough for numeric features.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from tabloader.cli._args import UsageError, column_list

__all__ = ["ModelInput", "missing_policy", "model_spec", "read_for_model", "read_keep_columns"]

_CSV_FLAGS = ("header", "comment", "delimiter", "skip_rows", "encoding")


def model_spec(est: Any, model_path: str) -> dict[str, Any]:
    """The saved data spec of the model, or one made from its feature names."""
    meta = getattr(est, "metadata_", {}) or {}
    spec = meta.get("data")
    if spec is not None:
        return dict(spec)
    names = [str(n) for n in getattr(est, "feature_names_in_", [])]
    if not names:
        raise UsageError(
            f"{model_path} has no feature names (fitted on unnamed arrays); "
            "predict and evaluate need a model trained from named columns"
        )
    return {"source_features": names, "categories": {}, "fill_values": {}, "csv": {}}


def csv_options(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The training run's CSV options, overridden by those given on this command line."""
    csv = {k: v for k, v in (spec.get("csv") or {}).items() if k in _CSV_FLAGS}
    for k in _CSV_FLAGS:
        v = getattr(args, k, None)
        if v is not None:
            csv[k] = v
    return csv


def missing_policy(spec: dict[str, Any], args: argparse.Namespace) -> str:
    """``--missing``, else ``mean`` when the model was trained with it, else ``error``."""
    if args.missing is not None:
        return str(args.missing)
    trained = spec.get("missing") or ("mean" if spec.get("fill_values") else "error")
    return "mean" if trained == "mean" else "error"


@dataclass
class ModelInput:
    """What was read: the dataset, its features as a named DataFrame, the rows kept."""

    ds: Any
    X: Any
    #: positions (in the file's rows) of the rows in ``X``; None when every row is there
    rows: np.ndarray | None
    dropped: int


def read_for_model(
    est: Any, spec: dict[str, Any], args: argparse.Namespace, source: Any, target: Any = None
) -> ModelInput:
    """Read ``source`` with the model's spec and ``args``' CSV, ``--missing`` and
    ``--unknown-levels`` options.

    ``--missing drop`` without a target reads gaps as NaN (a NaN fill value) and drops
    those rows here, so that the kept rows' positions are known (``--keep`` lines up).
    """
    import pandas as pd

    from tabloader.datasets import read_dataset

    policy = missing_policy(spec, args)
    names = [str(n) for n in getattr(est, "feature_names_in_", [])] or None
    kwargs: dict[str, Any] = {"missing": policy}
    if policy == "mean":
        fill = {**(spec.get("feature_means") or {}), **(spec.get("fill_values") or {})}
        kwargs["fill_values"] = fill or None
    elif policy == "drop" and target is None and names:
        kwargs.update(missing="mean", fill_values=dict.fromkeys(names, float("nan")))
    if getattr(args, "unknown_levels", None) is not None:
        kwargs["unknown_levels"] = args.unknown_levels
    categories = spec.get("categories") or {}
    ds = read_dataset(
        source,
        target=target,
        task=spec.get("task") if target is not None else None,
        features=spec["source_features"],
        categorical=list(categories),
        categories=categories or None,
        **kwargs,
        **csv_options(spec, args),
    )
    X = ds.features.numpy()
    rows = None
    dropped = int(getattr(ds, "n_dropped_", 0) or 0)
    if kwargs["missing"] != policy:  # drop, by hand
        keep = ~np.isnan(X).any(axis=1)
        if not keep.all():
            rows = np.flatnonzero(keep)
            X = X[rows]
            dropped = len(keep) - len(rows)
    return ModelInput(ds, pd.DataFrame(X, columns=ds.feature_names), rows, dropped)


def read_keep_columns(
    source: str, keep: str, spec: dict[str, Any], args: argparse.Namespace, n_rows: int
) -> Any:
    """The ``--keep`` columns of ``source`` as they are in the file (CSV cells as text).

    One CSV file, or one Parquet file or directory; the row count must match what the
    dataset reader read.
    """
    import pandas as pd

    from tabloader.datasets import open_file

    refs = column_list(keep) or []
    fmt = _format(source)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(source)  # (pyarrow opens s3://, gs://, hdfs:// URLs itself)
        frame = table.select(_resolve(refs, table.column_names)).to_pandas()
    else:
        remote = "://" in source and not source.startswith("file://")
        if not (remote or os.path.isfile(source)):
            raise UsageError(
                f"--keep needs DATA to be one CSV file or one Parquet file or directory, "
                f"but got {source!r}"
            )
        csv = csv_options(spec, args)
        header = csv.get("header", True)
        delimiter = csv.get("delimiter") or ("\t" if ".tsv" in source.lower() else ",")
        stream = open_file(source) if remote else None
        frame = pd.read_csv(
            source if stream is None else stream,
            sep=delimiter,
            header=0 if header else None,
            comment=csv.get("comment"),
            skiprows=csv.get("skip_rows") or 0,
            encoding=_py_encoding(csv.get("encoding") or "utf8"),
            dtype=str,
            keep_default_na=False,
        )
        frame.columns = [str(c) for c in frame.columns]
        frame = frame[_resolve(refs, list(frame.columns))]
    if len(frame) != n_rows:
        raise UsageError(
            f"--keep read {len(frame):,} rows of {source} but the features have {n_rows:,}; "
            "the file's layout is too unusual for --keep"
        )
    return frame.reset_index(drop=True)


def _format(source: str) -> str:
    from tabloader.datasets import source_format

    return source_format(source)


def _py_encoding(encoding: str) -> str:
    """UTF-8 drops a byte-order mark, as the dataset readers do."""
    return "utf-8-sig" if encoding.lower().replace("-", "").replace("_", "") == "utf8" else encoding


def _resolve(refs: list[str | int], columns: list[str]) -> list[str]:
    """Column names for names or positions, with the reader's message for a missing one."""
    out = []
    for r in refs:
        if isinstance(r, int):
            if not -len(columns) <= r < len(columns):
                raise UsageError(
                    f"--keep column {r} is out of range: the file has {len(columns)} columns"
                )
            out.append(columns[r])
        elif r in columns:
            out.append(r)
        else:
            raise UsageError(f"--keep column {r!r} not found; columns are {columns}")
    return out
