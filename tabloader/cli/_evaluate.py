"""Metrics of fitted estimators and the side-by-side fit with scikit-learn.

Used by ``train`` (``--compare-sklearn``) and ``demo``. The scikit-learn estimator is
:func:`tabloader.trainers.sklearn_equivalent`, and the figures follow
:func:`tabloader.trainers.compare`'s definitions (objective = mean loss + alpha/2 ||coef||^2;
``max_coef_diff`` over the coefficients *and* intercepts), computed for the model the
command already fitted instead of for a refitted clone.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

__all__ = ["compare_with_sklearn", "evaluate", "max_coef_diff", "named", "raw_targets"]


def evaluate(est: Any, X: Any, y_raw: np.ndarray, task: str, prefix: str) -> dict[str, float]:
    """Data loss and metric of a fitted estimator, computed with scikit-learn's metrics.

    The loss is the mean per-row loss the trainers minimise (squared error, or the
    log-loss) without the L2 term, so it compares across estimators.
    """
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

    X = named(X, est)
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


def named(X: Any, est: Any) -> Any:
    """A tensor as a DataFrame with the estimator's feature names (so names are checked)."""
    names = getattr(est, "feature_names_in_", None)
    if names is None or not hasattr(X, "detach"):
        return X
    import pandas as pd

    return pd.DataFrame(X.detach().cpu().numpy(), columns=list(names))


def raw_targets(ds: Any) -> np.ndarray:
    """The target values of a dataset in their original labels."""
    t = ds.targets.detach().cpu().numpy()
    if ds.task == "regression":
        return t.reshape(-1).astype(np.float64)
    codes = t.reshape(-1).astype(np.int64)
    return np.asarray(ds.classes_[codes])


def max_coef_diff(a: Any, b: Any) -> float | None:
    """Max absolute difference of two fitted linear models' coefficients and intercepts.

    :func:`tabloader.trainers.compare`'s ``max_coef_diff``; None when the shapes differ.
    """
    pa, pb = (
        np.concatenate(
            [
                np.atleast_2d(np.asarray(m.coef_, dtype=np.float64)).ravel(),
                np.atleast_1d(np.asarray(m.intercept_, dtype=np.float64)).ravel(),
            ]
        )
        for m in (a, b)
    )
    return float(np.max(np.abs(pa - pb))) if pa.shape == pb.shape else None


def compare_with_sklearn(est: Any, train_ds: Any, val_ds: Any, task: str) -> dict[str, Any]:
    """Fit scikit-learn's estimator with the same objective as ``est`` on the same rows.

    Returns scikit-learn's data losses and metrics (``train_*``, ``val_*``), its
    ``fit_seconds``, ``objective`` (tabloader's objective at scikit-learn's solution),
    ``objective_tabloader`` (at ``est``'s) and ``max_coef_diff``.
    """
    from tabloader.trainers import sklearn_equivalent

    X_tr = train_ds.features.detach().cpu().numpy().astype(np.float64)
    y_tr = raw_targets(train_ds)
    sk = sklearn_equivalent(est, len(X_tr))
    t0 = time.perf_counter()
    sk.fit(X_tr, y_tr)
    sk_seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"estimator": repr(sk)}
    out.update(evaluate(sk, X_tr, y_tr, task, "train"))
    if val_ds is not None:
        X_val = val_ds.features.detach().cpu().numpy().astype(np.float64)
        out.update(evaluate(sk, X_val, raw_targets(val_ds), task, "val"))
    out["fit_seconds"] = sk_seconds
    out["max_coef_diff"] = max_coef_diff(est, sk)
    penalty = 0.5 * float(est.alpha) * float((np.asarray(sk.coef_, dtype=np.float64) ** 2).sum())
    out["objective"] = float(out["train_loss"]) + penalty
    out["objective_tabloader"] = float(est.loss(named(train_ds.features, est), y_tr))
    return out
