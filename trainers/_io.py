"""Saving and loading fitted trainers: one file of tensors plus JSON metadata."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tabloader.errors import ModelFileError

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "tabloader.trainers"
FORMAT_VERSION = 1


def _json_param(value: Any) -> Any:
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(estimator: Any, path: str | os.PathLike, *, metadata: dict | None = None) -> None:
    """Write a fitted trainer to ``path`` atomically (temporary file, then ``os.replace``).

    The file is a :func:`torch.save` dict of float64 tensors (``coef``, ``intercept``,
    ``mean``, ``scale``) and one JSON string ``metadata`` (class, parameters, classes,
    feature names, ``n_iter_``, ``history_``, versions). No pickled objects.

    Parameters
    ----------
    estimator : LinearRegressor, LogisticClassifier or SoftmaxClassifier
        A fitted trainer.
    path : str or os.PathLike
        Destination file.
    metadata : dict, optional
        Extra JSON-serialisable information, returned as ``metadata_`` by
        :func:`load_model`.
    """
    import sklearn
    from sklearn.utils.validation import check_is_fitted

    from tabloader import __version__

    check_is_fitted(estimator)
    coef, intercept = estimator._raw_params()
    meta: dict[str, Any] = {
        "class": type(estimator).__name__,
        "params": {k: _json_param(v) for k, v in estimator.get_params().items()},
        "n_features_in": int(estimator.n_features_in_),
        "n_iter": int(estimator.n_iter_),
        "history": estimator.history_,
        "feature_names": (
            None
            if getattr(estimator, "feature_names_in_", None) is None
            else [str(c) for c in estimator.feature_names_in_]
        ),
        "user": metadata if metadata is not None else getattr(estimator, "metadata_", None),
        "versions": {
            "tabloader": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
        },
    }
    if hasattr(estimator, "classes_"):
        classes = np.asarray(estimator.classes_)
        if classes.dtype.kind not in "biufUSO":
            raise ValueError(
                f"classes_ should be numbers, strings or booleans to be saved, "
                f"but got dtype {classes.dtype}"
            )
        meta["classes"] = classes.tolist()
        meta["classes_dtype"] = classes.dtype.str if classes.dtype.kind != "O" else "O"
    try:
        meta_json = json.dumps(meta)
    except TypeError as exc:
        raise ValueError(f"the model's metadata is not JSON-serialisable: {exc}") from exc
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": meta_json,
        "coef": torch.from_numpy(np.ascontiguousarray(coef)),
        "intercept": torch.from_numpy(np.ascontiguousarray(intercept)),
        "mean": torch.from_numpy(np.asarray(estimator.mean_, dtype=np.float64)),
        "scale": torch.from_numpy(np.asarray(estimator.scale_, dtype=np.float64)),
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_model(path: str | os.PathLike) -> Any:
    """Read a trainer written by :func:`save_model` (``torch.load(weights_only=True)``).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``estimator.save(path)``.

    Returns
    -------
    LinearRegressor, LogisticClassifier or SoftmaxClassifier
        The fitted estimator, its ``model_`` on the CPU.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    tabloader.errors.ModelFileError
        When the file is not a tabloader model file.
    """
    from tabloader.trainers import _base

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(
            f"{str(path)!r} is not a tabloader model file (torch.load with "
            f"weights_only=True failed: {type(exc).__name__})"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ModelFileError(
            f"{str(path)!r} is not a tabloader model file: expected format {FORMAT!r}, "
            f"but got {state.get('format') if isinstance(state, dict) else type(state).__name__!r}"
        )
    if state.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} has format_version={state.get('format_version')!r}; "
            f"this tabloader reads format_version={FORMAT_VERSION}"
        )
    try:
        meta = json.loads(state["metadata"])
        cls = {
            "LinearRegressor": _base.LinearRegressor,
            "LogisticClassifier": _base.LogisticClassifier,
            "SoftmaxClassifier": _base.SoftmaxClassifier,
        }[meta["class"]]
        est = cls(**meta["params"])
        coef = state["coef"].double().numpy()  # [F, K]
        intercept = state["intercept"].double().numpy()
        fitted = est._coef_shapes(coef, intercept)
        if "classes" in meta:
            dt = meta["classes_dtype"]
            fitted["classes_"] = np.asarray(meta["classes"], dtype=object if dt == "O" else dt)
        fitted["n_features_in_"] = int(meta["n_features_in"])
        if meta.get("feature_names") is not None:
            fitted["feature_names_in_"] = np.asarray(meta["feature_names"], dtype=object)
        fitted["n_iter_"] = int(meta["n_iter"])
        fitted["history_"] = list(meta["history"])
        fitted["mean_"] = state["mean"].double().numpy()
        fitted["scale_"] = state["scale"].double().numpy()
        fitted["device_"] = "cpu"
        fitted["converged_"] = None
        fitted["metadata_"] = meta.get("user") or {}
        model = torch.nn.Linear(coef.shape[0], coef.shape[1], bias=bool(est.fit_intercept))
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(coef.T.copy()))
            if est.fit_intercept:
                model.bias.copy_(torch.from_numpy(intercept))
        fitted["model_"] = model
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(
            f"{str(path)!r} is a damaged tabloader model file: {type(exc).__name__}: {exc}"
        ) from exc
    est.__dict__.update(fitted)
    return est
