"""``tabloader demo``: train all three models from files and compare with scikit-learn."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np

from tabloader.cli._args import MODELS
from tabloader.cli._evaluate import compare_with_sklearn, evaluate, raw_targets

__all__ = ["run_demo", "write_data", "DEMO_TABLES"]

#: (name, scikit-learn loader, target column, model, alpha)
DEMO_TABLES = (
    ("diabetes", "load_diabetes", "target", "linear", 0.0),
    ("breast_cancer", "load_breast_cancer", "target", "logistic", 1e-2),
    ("wine", "load_wine", "target", "softmax", 1e-2),
)


def _write_tables(folder: str) -> list[tuple[str, str, str, str, float]]:
    """Write each table to CSV and Parquet; returns (table, format, path, model, alpha)."""
    import sklearn.datasets as skd

    out = []
    for name, loader, target, model, alpha in DEMO_TABLES:
        frame = getattr(skd, loader)(as_frame=True).frame
        if model != "linear":  # class labels as text, as users' files have them
            names = getattr(skd, loader)().target_names
            frame[target] = np.asarray(names)[frame[target].to_numpy()]
        csv_path = os.path.join(folder, f"{name}.csv")
        pq_path = os.path.join(folder, f"{name}.parquet")
        frame.to_csv(csv_path, index=False)
        frame.to_parquet(pq_path, index=False)
        out.append((name, "CSV", csv_path, model, alpha))
        out.append((name, "Parquet", pq_path, model, alpha))
    return out


def write_data(folder: str) -> list[str]:
    """Write the demo's tables to ``folder`` (created if needed); returns the paths.

    ``diabetes`` (regression, 442 x 10), ``breast_cancer`` (binary, 569 x 30, labels
    ``malignant``/``benign``) and ``wine`` (3 classes, 178 x 13, labels ``class_0``...),
    each as ``.csv`` and ``.parquet`` with the label in a column named ``target``.
    """
    os.makedirs(folder, exist_ok=True)
    return [path for _, _, path, _, _ in _write_tables(folder)]


def run_demo(verbose: bool = True, seed: int = 0) -> list[dict[str, Any]]:
    """Run the demo; returns one row per (table, format) with both libraries' results.

    Each table is split 80/20 (stratified for classification) with ``seed``; the
    tabloader trainer runs with its defaults (plus ``alpha``) from the files through
    :func:`tabloader.loaders.make_loader`, and scikit-learn's estimator with the same
    objective is fitted on the same training rows.
    """
    from sklearn.exceptions import ConvergenceWarning

    from tabloader import trainers
    from tabloader.datasets import read_dataset, split

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tabloader-demo-") as folder:
        for table, fmt, path, model, alpha in _write_tables(folder):
            cls_name, task = MODELS[model]
            ds = read_dataset(path, target="target", task=task)
            train_ds, val_ds = split(ds, [0.8, 0.2], seed=seed, stratify=task != "regression")
            est = getattr(trainers, cls_name)(alpha=alpha, random_state=seed)
            with warnings.catch_warnings():
                # the table's "epochs" column says when max_epochs was reached
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = time.perf_counter()
                est.fit(train_ds)  # through make_loader(device=...): one index_select a batch
                seconds = time.perf_counter() - t0
                sk = compare_with_sklearn(est, train_ds, val_ds, task)
            ours = evaluate(est, val_ds.features, raw_targets(val_ds), task, "val")
            metric = "accuracy" if task != "regression" else "r2"
            rows.append(
                {
                    "table": table,
                    "file": fmt,
                    "model": f"{cls_name}(alpha={alpha:g})",
                    "rows": len(ds),
                    "features": ds.n_features,
                    "epochs": int(est.n_iter_),
                    "objective": sk["objective_tabloader"],
                    "sklearn objective": sk["objective"],
                    "metric": "accuracy" if task != "regression" else "R^2",
                    "val metric": ours[f"val_{metric}"],
                    "sklearn val metric": sk[f"val_{metric}"],
                    "max |coef diff|": sk["max_coef_diff"],
                    "seconds": seconds,
                    "sklearn seconds": sk["fit_seconds"],
                }
            )
            if verbose:
                print(
                    f"trained {cls_name} on {os.path.basename(path)} in {seconds:.2f} s",
                    file=sys.stderr,
                )
    return rows
