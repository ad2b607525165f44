"""The commands behind :func:`tabloader.cli.main`: train, predict, evaluate, inspect, demo.

Imported lazily by :func:`tabloader.cli.main`, and each command imports what is heavy
(pandas, torch, the trainers) inside itself, so ``tabloader --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tabloader.cli._args import UsageError, check_flag, column_ref, csv_kwargs
from tabloader.cli._input import model_spec, read_for_model, read_keep_columns
from tabloader.cli._output import atomic_path, format_table, kv_table, write_json
from tabloader.cli._paths import check_outputs, writing
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


_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".txt")


def _write_frame(df: Any, out: str) -> None:
    """Write ``df`` to ``out`` (.csv or .parquet) atomically; no temporary file is left
    behind, whatever stops it (a full disk, Ctrl-C)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = atomic_path(out)
    try:
        with writing(f"--out {out}"):
            if out.lower().endswith(_PARQUET):
                pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
            else:
                df.to_csv(tmp, index=False)
            os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def cmd_predict(args: argparse.Namespace) -> int:
    """``tabloader predict``: every row of DATA, in order, with a saved model."""
    if args.out is not None:
        check_flag(
            args.out.lower().endswith(_PARQUET + _CSV),
            "--out",
            "a file name ending in .csv or .parquet",
            args.out,
        )
    check_outputs(
        [("--out", args.out)], [("MODEL", args.model), ("DATA", args.data)], stdout=not args.out
    )
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
            raise UsageError(
                f"--keep column {clash[0]!r} has the name of an output column; "
                "rename it in the file, or leave it out of --keep"
            )
        df = pd.concat([kept, df], axis=1)
    if got.dropped:
        print(
            f"tabloader predict: dropped {got.dropped:,} rows with missing values (--missing drop)",
            file=sys.stderr,
        )
    if args.out is None:
        with writing("the predictions to standard output"):
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
    columns = [
        {**c, "type": f"{c['type']} (partition)" if c.get("partition") else c["type"]}
        for c in info["columns"]
    ]
    print(format_table(columns, ["name", "type", "missing"]))
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
