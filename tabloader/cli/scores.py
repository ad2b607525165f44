"""``tabloader evaluate``: score a saved model on labelled files with scikit-learn's metrics."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from tabloader.cli._args import UsageError, check_plot, column_ref
from tabloader.cli._evaluate import raw_targets
from tabloader.cli._input import model_spec, read_for_model
from tabloader.cli._output import fmt, format_table, kv_table, save_figure, write_json
from tabloader.cli._paths import check_outputs, writing

__all__ = ["classification_scores", "cmd_evaluate", "regression_scores"]


def _py(v: Any) -> Any:
    """A NumPy scalar as a plain Python value (for JSON and messages)."""
    return v.item() if isinstance(v, np.generic) else v


def classification_scores(est: Any, X: Any, y: np.ndarray) -> dict[str, Any]:
    """Accuracy, log loss, per-class precision/recall/F1/support, confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        log_loss,
        precision_recall_fscore_support,
    )

    classes = np.asarray(est.classes_)
    unseen = sorted({_py(v) for v in y} - {_py(c) for c in classes}, key=str)
    if unseen:
        raise UsageError(
            f"the data has labels the model never saw: {unseen[:10]}; the model's classes "
            f"are {[_py(c) for c in classes]}"
        )
    proba = est.predict_proba(X)
    pred = classes[np.argmax(proba, axis=1)]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "log_loss": float(log_loss(y, proba, labels=classes)),
        "classes": [_py(c) for c in classes],
        "per_class": [
            {
                "class": _py(c),
                "precision": float(p[k]),
                "recall": float(r[k]),
                "f1": float(f[k]),
                "support": int(s[k]),
            }
            for k, c in enumerate(classes)
        ],
        "confusion_matrix": confusion_matrix(y, pred, labels=classes).tolist(),
    }


def regression_scores(est: Any, X: Any, y: np.ndarray) -> dict[str, Any]:
    """R^2, RMSE and MAE."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    pred = np.asarray(est.predict(X), dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    return {
        "r2": float(r2_score(y, pred)) if len(y) > 1 else float("nan"),
        "rmse": math.sqrt(mean_squared_error(y, pred)),
        "mae": float(mean_absolute_error(y, pred)),
    }


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``tabloader evaluate MODEL FILE...``: the metrics of a saved model on labelled data."""
    check_plot(args.plot)
    check_outputs([("--plot", args.plot)], [("MODEL", args.model), ("DATA", args.data)])
    from tabloader.trainers import load

    est = load(args.model)
    spec = model_spec(est, args.model)
    target = column_ref(args.target) if args.target is not None else spec.get("target")
    if target is None:
        raise UsageError(
            f"{args.model} does not say which column is the target (it was not saved by "
            "'tabloader train'); pass --target"
        )
    classifier = hasattr(est, "predict_proba")
    spec.setdefault("task", None if classifier else "regression")
    source = args.data[0] if len(args.data) == 1 else list(args.data)
    got = read_for_model(est, spec, args, source, target=target)
    y = raw_targets(got.ds)
    scores = (classification_scores if classifier else regression_scores)(est, got.X, y)
    result: dict[str, Any] = {
        "model": args.model,
        "estimator": type(est).__name__,
        "data": list(args.data),
        "target": got.ds.target_name,
        "rows": len(y),
        **({"dropped_rows": got.dropped} if got.dropped else {}),
        **scores,
    }
    if args.plot:
        _plot(est, got.X, y, result, args.plot)
        result["plot"] = args.plot
    if args.json:
        write_json(result)
    else:
        _print(result)
    return 0


def _print(result: dict[str, Any]) -> None:
    pairs: list[tuple[str, Any]] = [
        ("model", f"{result['model']} ({result['estimator']})"),
        ("data", ", ".join(result["data"])),
        ("target", result["target"]),
        ("rows", result["rows"]),
    ]
    if result.get("dropped_rows"):
        pairs.append(("rows dropped (missing values)", result["dropped_rows"]))
    names = {"accuracy": "accuracy", "log_loss": "log loss", "r2": "R^2", "rmse": "RMSE"}
    names["mae"] = "MAE"
    pairs += [(label, result[k]) for k, label in names.items() if k in result]
    if "plot" in result:
        pairs.append(("plot", result["plot"]))
    print(kv_table(pairs))
    if "per_class" not in result:
        return
    print()
    print(format_table(result["per_class"], ["class", "precision", "recall", "f1", "support"]))
    print()
    print("confusion matrix (rows: true class, columns: predicted class)")
    head = "true \\ predicted"
    rows = [
        {head: c, **{fmt(p): n for p, n in zip(result["classes"], counts)}}
        for c, counts in zip(result["classes"], result["confusion_matrix"])
    ]
    print(format_table(rows, [head, *(fmt(c) for c in result["classes"])]))


def _plot(est: Any, X: Any, y: np.ndarray, result: dict[str, Any], path: str) -> None:
    """The confusion matrix, or predicted-vs-true and residuals-vs-predicted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "confusion_matrix" in result:
        cm = np.asarray(result["confusion_matrix"])
        labels = [str(c) for c in result["classes"]]
        side = 3.0 + 0.5 * len(labels)
        fig, ax = plt.subplots(figsize=(side + 1, side), dpi=100)
        im = ax.imshow(cm, cmap="Blues")
        fig.colorbar(im, ax=ax)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                dark = cm[i, j] > cm.max() / 2
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="w" if dark else "k")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{result['estimator']}: accuracy {result['accuracy']:.4f}")
    else:
        pred = np.asarray(est.predict(X), dtype=np.float64).reshape(-1)
        yt = np.asarray(y, dtype=np.float64)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
        a1.scatter(yt, pred, s=8, alpha=0.6)
        lo, hi = float(min(yt.min(), pred.min())), float(max(yt.max(), pred.max()))
        a1.plot([lo, hi], [lo, hi], "k--", lw=1)
        a1.set_xlabel("true")
        a1.set_ylabel("predicted")
        a1.set_title(f"R^2 {result['r2']:.4f}, RMSE {result['rmse']:.4g}")
        a2.scatter(pred, yt - pred, s=8, alpha=0.6)
        a2.axhline(0.0, color="k", ls="--", lw=1)
        a2.set_xlabel("predicted")
        a2.set_ylabel("residual (true - predicted)")
        a2.set_title(f"MAE {result['mae']:.4g}")
    with writing(f"--plot {path}"):
        save_figure(fig, path)
