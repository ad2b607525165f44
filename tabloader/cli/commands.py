"""The commands behind :func:`tabloader.cli.main`: train, predict, evaluate, inspect, demo.

Imported lazily by :func:`tabloader.cli.main`, and each command imports what is heavy
(pandas, torch, the trainers) inside itself, so ``tabloader --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tabloader.cli._args import UsageError, column_ref, csv_kwargs
from tabloader.cli._input import model_spec, read_for_model, read_keep_columns
from tabloader.cli._output import atomic_path, format_table, kv_table, write_json
from tabloader.cli.scores import cmd_evaluate
from tabloader.cli.train import cmd_train

__all__ = ["COMMANDS", "cmd_demo", "cmd_evaluate", "cmd_inspect", "cmd_predict", "cmd_train"]


# --------------------------------------------------------------------------- predict
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

    from tabloader.trainers import load

    est = load(args.model)
    spec = model_spec(est, args.model)
    got = read_for_model(est, spec, args, args.data)
    df = _predictions(est, got.X)
    if args.keep:
        kept = read_keep_columns(args.data, args.keep, spec, args, len(got.ds))
        if got.rows is not None:
            kept = kept.iloc[got.rows].reset_index(drop=True)
        clash = [c for c in kept.columns if c in df.columns]
        if clash:
            raise UsageError(f"--keep column {clash[0]!r} has the name of an output column")
        df = pd.concat([kept, df], axis=1)
    if got.dropped:
        print(
            f"tabloader predict: dropped {got.dropped:,} rows with missing values (--missing drop)",
            file=sys.stderr,
        )
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

    options = csv_kwargs(args)
    if options.pop("encoding", "utf8").lower().replace("-", "") not in ("utf8", "utf_8"):
        raise UsageError(
            "inspect --encoding is not supported yet (the datasets' inspect_source has no "
            "encoding option); convert the file to UTF-8, or use 'train'/'predict' --encoding"
        )
    info = inspect_source(
        args.data,
        target=None if args.target is None else column_ref(args.target),
        **options,
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
    from tabloader.cli.demo import run_demo, write_data

    if args.write_data:
        for path in write_data(args.write_data):
            print(path)
        return 0
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
    "evaluate": cmd_evaluate,
    "inspect": cmd_inspect,
    "demo": cmd_demo,
}
