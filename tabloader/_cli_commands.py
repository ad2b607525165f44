"""The commands behind ``tabloader.cli`` (imported lazily so ``--help`` stays fast)."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

import numpy as np

from tabloader.cli import (
    MODELS,
    UsageError,
    _column_list,
    _column_ref,
    _csv_kwargs,
    _isatty,
    atomic_path,
    write_json,
)

__all__ = ["cmd_train", "cmd_predict", "cmd_inspect", "cmd_demo", "evaluate", "format_table"]


# --------------------------------------------------------------------------- formatting
def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.4g}"
        return f"{v:.4f}"
    return str(v)


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A Markdown-style table of ``rows`` (dicts) for the terminal."""
    if not rows:
        return ""
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(vals: list[str]) -> str:
        out = []
        for i, v in enumerate(vals):
            num = v[:1].isdigit() or (v[:1] == "-" and v[1:2].isdigit())
            out.append(v.rjust(widths[i]) if num else v.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), sep, *(line(r) for r in cells)])


def _kv_table(pairs: list[tuple[str, Any]]) -> str:
    return format_table([{"": k, "value": v} for k, v in pairs], ["", "value"])


# --------------------------------------------------------------------------- metrics
def evaluate(est: Any, X: Any, y_raw: np.ndarray, task: str, prefix: str) -> dict[str, float]:
    """Data loss and metric of a fitted estimator, computed with scikit-learn's metrics.

    The loss is the mean per-row loss the trainers minimise (squared error, or the
    log-loss) without the L2 term, so it compares across estimators.
    """
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

    X = _named(X, est)
    out: dict[str, float] = {}
    if task == "regression":
        pred = np.asarray(est.predict(X), dtype=np.float64).reshape(-1)
        y = np.asarray(y_raw, dtype=np.float64).reshape(-1)
        mse = mean_squared_error(y, pred)
        out[f"{prefix}_loss"] = mse
        out[f"{prefix}_r2"] = r2_score(y, pred) if len(y) > 1 else float("nan")
        out[f"{prefix}_rmse"] = math.sqrt(mse)
    else:
        proba = est.predict_proba(X)
        out[f"{prefix}_loss"] = log_loss(y_raw, proba, labels=est.classes_)
        out[f"{prefix}_accuracy"] = accuracy_score(y_raw, est.classes_[np.argmax(proba, axis=1)])
    return out


def _named(X: Any, est: Any) -> Any:
    """A tensor as a DataFrame with the estimator's feature names (so names are checked)."""
    names = getattr(est, "feature_names_in_", None)
    if names is None or not hasattr(X, "detach"):
        return X
    import pandas as pd

    return pd.DataFrame(X.detach().cpu().numpy(), columns=list(names))


def _raw_targets(ds: Any) -> np.ndarray:
    """The target values of a dataset in their original labels."""
    t = ds.targets.detach().cpu().numpy()
    if ds.task == "regression":
        return t.reshape(-1).astype(np.float64)
    codes = t.reshape(-1).astype(np.int64)
    return ds.classes_[codes]


# --------------------------------------------------------------------------- train
def _estimator_params(args: argparse.Namespace) -> dict[str, Any]:
    p: dict[str, Any] = {}
    if args.full_batch and args.batch_size is not None:
        raise UsageError("--full-batch and --batch-size exclude each other; give one")
    if args.full_batch:
        p["batch_size"] = None
    elif args.batch_size is not None:
        p["batch_size"] = args.batch_size
    for name in ("max_epochs", "lr", "optimizer", "momentum", "alpha", "standardize"):
        v = getattr(args, name)
        if v is not None:
            p[name] = v
    p["random_state"] = args.seed
    p["device"] = args.device
    return p


def _read(args: argparse.Namespace, *, task: str | None) -> Any:
    from tabloader.datasets import read_dataset

    return read_dataset(
        args.data,
        target=_column_ref(args.target),
        features=_column_list(args.features),
        categorical=_column_list(args.categorical) or [],
        task=task,
        missing=args.missing,
        **_csv_kwargs(args),
    )


def _data_spec(ds: Any, args: argparse.Namespace) -> dict[str, Any]:
    """What ``predict`` needs to rebuild the same features from another file."""
    source_features = []
    for name in ds.feature_names:
        base = (
            name.split("=", 1)[0]
            if "=" in name and name.split("=", 1)[0] in ds.categories_
            else name
        )
        if base not in source_features:
            source_features.append(base)
    return {
        "source_features": source_features,
        "categories": {
            k: [v if isinstance(v, (str, int, float, bool)) else str(v) for v in lv]
            for k, lv in ds.categories_.items()
        },
        "fill_values": dict(ds.fill_values_),
        "target": ds.target_name,
        "task": ds.task,
        "csv": _csv_kwargs(args),
    }


def cmd_train(args: argparse.Namespace) -> int:
    """``tabloader train``; data-parallel when launched by torchrun (rank 0 reports)."""
    import torch.distributed as dist

    from tabloader.trainers import init_distributed, shutdown_distributed

    owned = not (dist.is_available() and dist.is_initialized()) and init_distributed()
    try:
        return _train(args)
    finally:
        if owned:
            shutdown_distributed()


def _train(args: argparse.Namespace) -> int:
    from tabloader import trainers
    from tabloader.datasets import split

    cls_name, task = MODELS[args.model]
    if not 0.0 <= args.val_fraction < 1.0:
        raise UsageError(f"--val-fraction should be in [0, 1), but got {args.val_fraction}")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise UsageError(f"--plot should name a .png file, but got {args.plot!r}")
    if args.plot:
        _require_matplotlib()
    ds = _read(args, task=task)
    if args.val_fraction > 0:
        train_ds, val_ds = split(
            ds,
            [1.0 - args.val_fraction, args.val_fraction],
            seed=args.seed,
            stratify=task != "regression",
        )
    else:
        train_ds, val_ds = ds, None

    params = _estimator_params(args)
    main = trainers.is_main_process()  # under torchrun: only rank 0 prints and writes
    show_bar = main and not args.quiet and not args.json and _isatty(sys.stderr)
    est = getattr(trainers, cls_name)(**params, verbose=show_bar)
    fit_on: Any = train_ds
    if args.num_workers:
        from tabloader.loaders import make_loader
        from tabloader.trainers import resolve_batch_size

        bs = resolve_batch_size(est.batch_size, len(train_ds))
        fit_on = make_loader(
            train_ds,
            batch_size=bs,
            shuffle=True,
            seed=args.seed,
            num_workers=args.num_workers,
            remainder="uneven",  # under torchrun: every row once per epoch
        )
    t0 = time.perf_counter()
    est.fit(fit_on)
    fit_seconds = time.perf_counter() - t0
    if not main:
        return 0

    X_tr, y_tr = train_ds.features, _raw_targets(train_ds)
    result: dict[str, Any] = {
        "model": args.model,
        "data": args.data,
        "rows": len(ds),
        "train_rows": len(train_ds),
        "val_rows": 0 if val_ds is None else len(val_ds),
        "features": ds.n_features,
        "classes": None if ds.classes_ is None else len(ds.classes_),
        "epochs": int(est.n_iter_),
    }
    result.update(evaluate(est, X_tr, y_tr, task, "train"))
    if val_ds is not None:
        result.update(evaluate(est, val_ds.features, _raw_targets(val_ds), task, "val"))
    result["fit_seconds"] = fit_seconds
    if ds.n_dropped_:
        result["dropped_rows"] = ds.n_dropped_

    comparison = None
    if args.compare_sklearn:
        comparison = _compare(est, train_ds, val_ds, task)
        result["sklearn"] = comparison

    if args.out:
        est.save(args.out, metadata={"data": _data_spec(ds, args)})
        result["model_file"] = args.out
    if args.plot:
        _plot(est, args.plot, comparison)
        result["plot"] = args.plot

    if args.json:
        write_json(result)
    else:
        _print_train(result, comparison)
    return 0


def _compare(est: Any, train_ds: Any, val_ds: Any, task: str) -> dict[str, Any]:
    """Fit scikit-learn's estimator with the same objective on the same split."""
    from tabloader.trainers import sklearn_equivalent

    X_tr = train_ds.features.numpy().astype(np.float64)
    y_tr = _raw_targets(train_ds)
    sk = sklearn_equivalent(est, len(X_tr))
    t0 = time.perf_counter()
    sk.fit(X_tr, y_tr)
    sk_seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"estimator": repr(sk)}
    out.update(evaluate(sk, X_tr, y_tr, task, "train"))
    if val_ds is not None:
        out.update(
            evaluate(
                sk, val_ds.features.numpy().astype(np.float64), _raw_targets(val_ds), task, "val"
            )
        )
    out["fit_seconds"] = sk_seconds
    ours = np.asarray(est.coef_, dtype=np.float64).reshape(-1)
    theirs = np.asarray(sk.coef_, dtype=np.float64).reshape(-1)
    out["max_coef_diff"] = (
        float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else None
    )
    out["objective"] = float(_objective(sk, est, X_tr, y_tr))
    out["objective_tabloader"] = float(est.loss(_named(train_ds.features, est), y_tr))
    return out


def _objective(sk: Any, est: Any, X: np.ndarray, y: np.ndarray) -> float:
    """tabloader's objective (mean loss + alpha/2 ||coef||^2) at scikit-learn's solution."""
    from sklearn.metrics import log_loss, mean_squared_error

    coef = np.asarray(sk.coef_, dtype=np.float64)
    if hasattr(sk, "predict_proba"):
        data = log_loss(y, sk.predict_proba(X), labels=sk.classes_)
    else:
        data = mean_squared_error(y, sk.predict(X))
    return data + 0.5 * float(est.alpha) * float((coef**2).sum())


def _print_train(result: dict[str, Any], comparison: dict[str, Any] | None) -> None:
    metric_rows = []
    for split_name in ("train", "val"):
        if f"{split_name}_loss" not in result:
            continue
        row = {"": split_name, "tabloader loss": result[f"{split_name}_loss"]}
        for m in ("accuracy", "r2", "rmse"):
            if f"{split_name}_{m}" in result:
                row[f"tabloader {m}"] = result[f"{split_name}_{m}"]
        if comparison is not None:
            row["sklearn loss"] = comparison.get(f"{split_name}_loss")
            for m in ("accuracy", "r2", "rmse"):
                if f"{split_name}_{m}" in comparison:
                    row[f"sklearn {m}"] = comparison[f"{split_name}_{m}"]
            row["loss diff"] = result[f"{split_name}_loss"] - comparison[f"{split_name}_loss"]
        metric_rows.append(row)
    info = [
        ("model", result["model"]),
        ("data", result["data"]),
        (
            "rows (train / val)",
            f"{result['rows']:,} ({result['train_rows']:,} / {result['val_rows']:,})",
        ),
        ("features", result["features"]),
    ]
    if result.get("classes") is not None:
        info.append(("classes", result["classes"]))
    if result.get("dropped_rows"):
        info.append(("rows dropped (missing values)", result["dropped_rows"]))
    info += [("epochs", result["epochs"]), ("fit seconds", result["fit_seconds"])]
    if comparison is not None:
        info += [
            ("sklearn estimator", comparison["estimator"]),
            ("sklearn fit seconds", comparison["fit_seconds"]),
            (
                "fit time ratio (tabloader / sklearn)",
                result["fit_seconds"] / max(comparison["fit_seconds"], 1e-9),
            ),
            (
                "objective: tabloader / sklearn",
                f"{_fmt(comparison['objective_tabloader'])} / {_fmt(comparison['objective'])}",
            ),
            ("max |coef difference|", comparison["max_coef_diff"]),
        ]
    if "model_file" in result:
        info.append(("model saved to", result["model_file"]))
    if "plot" in result:
        info.append(("plot", result["plot"]))
    print(_kv_table(info))
    print()
    print(format_table(metric_rows))


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed; install the extra: "
            "pip install 'tabloader[plot]'"
        ) from None


def _plot(est: Any, path: str, comparison: dict[str, Any] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = est.history_
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(hist)]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [h.get("train_loss") for h in hist], label="train loss", marker=".")
    if any(h.get("val_loss") is not None for h in hist):
        ax.plot(epochs, [h.get("val_loss") for h in hist], label="validation loss", marker=".")
    if comparison is not None:
        ax.axhline(comparison["objective"], color="k", ls="--", lw=1, label="scikit-learn optimum")
    ax.set_xlabel("epoch")
    ax.set_ylabel("objective")
    ax.set_title(f"{type(est).__name__}")
    ax.legend()
    fig.tight_layout()
    tmp = atomic_path(path)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)


# --------------------------------------------------------------------------- predict
def cmd_predict(args: argparse.Namespace) -> int:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tabloader.datasets import read_dataset
    from tabloader.trainers import load

    est = load(args.model)
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

    X = pd.DataFrame(ds.features.numpy(), columns=ds.feature_names)
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        pred = est.classes_[np.argmax(proba, axis=1)]
        cols: dict[str, Any] = {"prediction": pred}
        for k, c in enumerate(est.classes_):
            cols[f"proba_{c}"] = proba[:, k]
    else:
        cols = {"prediction": np.asarray(est.predict(X)).reshape(-1)}
    df = pd.DataFrame(cols)
    if args.out is None:
        df.to_csv(sys.stdout, index=False)
        return 0
    out = args.out
    tmp = atomic_path(out)
    try:
        if out.lower().endswith((".parquet", ".pq")):
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        elif out.lower().endswith((".csv", ".txt")):
            df.to_csv(tmp, index=False)
        else:
            raise UsageError(f"--out should end in .csv or .parquet, but got {out!r}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {len(df):,} predictions to {out}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- inspect
def cmd_inspect(args: argparse.Namespace) -> int:
    from tabloader.datasets._inspect import inspect_source

    info = inspect_source(
        args.data,
        target=None if args.target is None else _column_ref(args.target),
        **_csv_kwargs(args),
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
            print(_kv_table([(k, t[k]) for k in ("mean", "std", "min", "max")]))
    return 0


# --------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from tabloader._demo import run_demo

    table = run_demo(verbose=not args.quiet and not args.json)
    if args.json:
        write_json(table)
    else:
        print(format_table(table))
    return 0
