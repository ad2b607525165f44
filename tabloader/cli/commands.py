"""The commands behind :func:`tabloader.cli.main`: ``train``, ``predict``, ``inspect``, ``demo``.

Imported lazily by :func:`tabloader.cli.main`, and each command imports what is heavy
(pandas, torch, the trainers) inside itself, so ``tabloader --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tabloader.cli._args import UsageError, column_ref, csv_kwargs
from tabloader.cli._output import atomic_path, format_table, kv_table, write_json
from tabloader.cli.train import cmd_train

__all__ = ["COMMANDS", "cmd_demo", "cmd_inspect", "cmd_predict", "cmd_train"]


# --------------------------------------------------------------------------- predict
def _prediction_spec(est: Any, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The saved data spec of the model (or one from its feature names) and CSV options."""
    meta = getattr(est, "metadata_", {}) or {}
    spec = meta.get("data")
    if spec is None:
        names = list(getattr(est, "feature_names_in_", []))
        if not names:
            raise UsageError(
                f"{args.model} has no feature names (fitted on unnamed arrays); "
                "predict needs a model trained from named columns"
            )
        spec = {"source_features": names, "categories": {}, "fill_values": {}, "csv": {}}
    csv = dict(spec.get("csv") or {})
    for k, v in (
        ("header", args.header),
        ("comment", args.comment),
        ("delimiter", args.delimiter),
        ("skip_rows", args.skip_rows),
    ):
        if v is not None:
            csv[k] = v
    return spec, csv


def _predictions(est: Any, X: Any) -> Any:
    """A DataFrame: ``prediction`` and, for classifiers, ``proba_<class>`` columns."""
    import numpy as np
    import pandas as pd

    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        cols: dict[str, Any] = {"prediction": est.classes_[np.argmax(proba, axis=1)]}
        for k, c in enumerate(est.classes_):
            cols[f"proba_{c}"] = proba[:, k]
    else:
        cols = {"prediction": np.asarray(est.predict(X)).reshape(-1)}
    return pd.DataFrame(cols)


def _write_frame(df: Any, out: str) -> None:
    """Write ``df`` to ``out`` (.csv or .parquet) atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = atomic_path(out)
    try:
        if out.lower().endswith((".parquet", ".pq")):
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        elif out.lower().endswith((".csv", ".txt")):
            df.to_csv(tmp, index=False)
        else:
            raise UsageError(
                f"--out should be a file name ending in .csv or .parquet, but got --out={out!r}"
            )
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def cmd_predict(args: argparse.Namespace) -> int:
    """``tabloader predict``: every row of DATA, in order, with a saved model."""
    import pandas as pd

    from tabloader.datasets import read_dataset
    from tabloader.trainers import load

    est = load(args.model)
    spec, csv = _prediction_spec(est, args)
    ds = read_dataset(
        args.data,
        target=None,
        features=spec["source_features"],
        categorical=list(spec.get("categories", {})),
        categories=spec.get("categories") or None,
        fill_values=spec.get("fill_values") or None,
        missing="mean" if spec.get("fill_values") else "error",
        **csv,
    )
    df = _predictions(est, pd.DataFrame(ds.features.numpy(), columns=ds.feature_names))
    if args.out is None:
        df.to_csv(sys.stdout, index=False)
        return 0
    _write_frame(df, args.out)
    print(f"wrote {len(df):,} predictions to {args.out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- inspect
def cmd_inspect(args: argparse.Namespace) -> int:
    """``tabloader inspect``: rows, columns, types, missing counts, target distribution."""
    from tabloader.datasets import inspect_source

    info = inspect_source(
        args.data,
        target=None if args.target is None else column_ref(args.target),
        **csv_kwargs(args),
    )
    if args.json:
        write_json(info)
        return 0
    print(
        f"{info['source']}: {info['rows']:,} rows x {len(info['columns'])} columns "
        f"({info['format']}, {info['files']} file{'s' if info['files'] != 1 else ''})"
    )
    print()
    print(format_table(info["columns"], ["name", "type", "missing"]))
    t = info.get("target")
    if t is not None:
        print()
        print(
            f"target {t['name']!r}: {t['task']}"
            + (f", {len(t['classes'])} classes" if "classes" in t else "")
        )
        if "classes" in t:
            print(format_table(t["classes"], ["class", "count", "share"]))
        else:
            print(kv_table([(k, t[k]) for k in ("mean", "std", "min", "max")]))
    return 0


# --------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    """``tabloader demo``: the three trainers on scikit-learn's tables, one table out."""
    from tabloader.cli.demo import run_demo

    table = run_demo(verbose=not args.quiet and not args.json)
    if args.json:
        write_json(table)
    else:
        print(format_table(table))
    return 0


#: command name -> handler (``args`` -> exit status)
COMMANDS = {
    "train": cmd_train,
    "predict": cmd_predict,
    "inspect": cmd_inspect,
    "demo": cmd_demo,
}
