"""scikit-learn estimators with the same objective, and a side-by-side comparison."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tabloader.trainers import _losses
from tabloader.trainers._estimators import BaseTrainer

__all__ = ["sklearn_equivalent", "compare"]


def sklearn_equivalent(estimator: Any, n_samples: float) -> Any:
    """The scikit-learn estimator that minimises the same objective as ``estimator``.

    tabloader minimises ``sum_i s_i l_i / S + alpha / 2 * ||W||^2`` with ``S`` the sum of
    the sample weights (``n_samples`` without weights). Multiplying by ``S`` (or by
    ``1 / (alpha * S)``) gives scikit-learn's objectives:

    - ``LinearRegressor``: ``Ridge(alpha=alpha * S / 2)``, or ``LinearRegression()``
      when ``alpha == 0``;
    - ``LogisticClassifier`` / ``SoftmaxClassifier``:
      ``LogisticRegression(C=1 / (alpha * S), solver="newton-cholesky")``, or
      ``C=np.inf`` (no penalty, lbfgs) when ``alpha == 0``; multinomial for more than
      2 classes.

    Parameters
    ----------
    estimator : LinearRegressor, LogisticClassifier or SoftmaxClassifier
        Fitted or not; only its parameters are read.
    n_samples : float
        ``S``: the number of training rows, or the sum of the sample weights.

    Returns
    -------
    sklearn estimator
        Unfitted.
    """
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    if not isinstance(estimator, BaseTrainer):
        raise TypeError(
            f"estimator should be a tabloader trainer, but got {type(estimator).__name__}"
        )
    if not float(n_samples) > 0:
        raise ValueError(f"n_samples should be positive, but got n_samples={n_samples!r}")
    alpha = float(estimator.alpha)
    fit_intercept = bool(estimator.fit_intercept)
    if estimator.task.kind == "regression":
        if alpha == 0:
            return LinearRegression(fit_intercept=fit_intercept)
        return Ridge(alpha=alpha * float(n_samples) / 2, fit_intercept=fit_intercept, tol=1e-10)
    C = np.inf if alpha == 0 else 1.0 / (alpha * float(n_samples))
    # newton-cholesky reaches the optimum of the penalised objective on raw tables, where
    # lbfgs stops up to ~1e-3 away in the coefficients (benchmarks set solver="lbfgs")
    solver = "lbfgs" if alpha == 0 else "newton-cholesky"
    return LogisticRegression(
        C=C, fit_intercept=fit_intercept, max_iter=10_000, tol=1e-8, solver=solver
    )


def _objective(est: Any, X: np.ndarray, y: np.ndarray, alpha: float) -> float:
    """tabloader's objective for any fitted linear model with ``coef_``/``intercept_``."""
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    Z = X @ coef.T + np.atleast_1d(est.intercept_)
    if not hasattr(est, "classes_"):
        return _losses.objective("regression", Z, y, coef=coef, alpha=alpha)
    kind = "binary" if Z.shape[1] == 1 else "multiclass"
    idx = np.searchsorted(est.classes_, y)
    return _losses.objective(kind, Z, idx, coef=coef, alpha=alpha)


def compare(
    estimator: Any,
    X: Any,
    y: Any,
    X_val: Any = None,
    y_val: Any = None,
) -> Any:
    """Fit ``estimator`` (a clone) and its scikit-learn equivalent; tabulate the results.

    Parameters
    ----------
    estimator : LinearRegressor, LogisticClassifier or SoftmaxClassifier
        Its parameters are used; ``estimator`` itself is not modified.
    X, y : array-like
        Training data.
    X_val, y_val : array-like, optional
        Held-out data: adds ``val_loss`` and ``val_metric`` columns.

    Returns
    -------
    pandas.DataFrame
        One row per estimator (``"tabloader"``, the scikit-learn class name), columns
        ``train_loss`` (the objective above), ``train_metric`` (R^2 or accuracy),
        ``val_loss``/``val_metric`` when validating, ``max_coef_diff`` and
        ``fit_seconds``.

        ``max_coef_diff`` is the largest absolute difference between the two fits'
        coefficients **and intercepts** (``coef_`` and ``intercept_`` flattened and
        concatenated; NaN when their shapes differ), on the tabloader row; 0 on the
        scikit-learn row. It is the one definition of this column (the CLI's
        ``--compare-sklearn`` and the demo report it too).
    """
    import pandas as pd
    from sklearn.base import clone

    ours = clone(estimator)
    Xn = np.asarray(X, dtype=np.float64)
    yn = np.asarray(y)
    ref = sklearn_equivalent(ours, Xn.shape[0])
    alpha = float(ours.alpha)
    rows = []
    coefs = {}
    for name, est in (("tabloader", ours), (type(ref).__name__, ref)):
        t0 = time.perf_counter()
        est.fit(Xn, yn)
        seconds = time.perf_counter() - t0
        row = {
            "estimator": name,
            "train_loss": _objective(est, Xn, yn, alpha),
            "train_metric": float(est.score(Xn, yn)),
        }
        if X_val is not None:
            Xv = np.asarray(X_val, dtype=np.float64)
            yv = np.asarray(y_val)
            row["val_loss"] = _objective(est, Xv, yv, 0.0)
            row["val_metric"] = float(est.score(Xv, yv))
        row["fit_seconds"] = seconds
        rows.append(row)
        c = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
        i = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
        coefs[name] = np.concatenate([c.ravel(), i.ravel()])
    a, b = coefs.values()
    diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("nan")
    rows[0]["max_coef_diff"] = diff
    rows[1]["max_coef_diff"] = 0.0
    df = pd.DataFrame(rows).set_index("estimator")
    cols = [c for c in df.columns if c != "fit_seconds"] + ["fit_seconds"]
    return df[cols]
