"""Saving and loading fitted trainers: one file of tensors plus JSON metadata.

This module reads a fitted estimator's public attributes and writes the file, and
reads a file back into a :class:`ModelState`; it never imports the estimators (they
rebuild themselves from a :class:`ModelState`, see ``tabloader.trainers.load``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tabloader.errors import ModelFileError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelState",
    "damaged",
    "raw_params",
    "read_model",
    "save_model",
]

FORMAT = "tabloader.trainers"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelState:
    """What a model file holds: the class, its parameters and the fitted state."""

    class_name: str
    params: dict[str, Any]
    coef: np.ndarray  # [F, K]
    intercept: np.ndarray  # [K]
    mean: np.ndarray
    scale: np.ndarray
    classes: np.ndarray | None
    n_features_in: int
    feature_names: np.ndarray | None
    n_iter: int
    history: list[Any]
    user: dict[str, Any]


def raw_params(estimator: Any) -> tuple[np.ndarray, np.ndarray]:
    """``coef`` ``[F, K]`` and ``intercept`` ``[K]`` of a fitted linear model."""
    coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
    return coef.T.copy(), np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))


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
        :func:`tabloader.trainers.load`.
    """
    import sklearn
    from sklearn.utils.validation import check_is_fitted

    from tabloader import __version__

    check_is_fitted(estimator)
    coef, intercept = raw_params(estimator)
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


def _read_state(path: Path) -> dict[str, Any]:
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
    return state


def damaged(path: Any, exc: BaseException) -> ModelFileError:
    """The error of a model file whose content does not make a model."""
    return ModelFileError(
        f"{str(path)!r} is a damaged tabloader model file: {type(exc).__name__}: {exc}"
    )


def read_model(path: str | os.PathLike) -> ModelState:
    """Read a file written by :func:`save_model` (``torch.load(weights_only=True)``).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    tabloader.errors.ModelFileError
        When the file is not a tabloader model file, or a damaged one.
    """
    path = Path(path)
    state = _read_state(path)
    try:
        meta = json.loads(state["metadata"])
        classes = None
        if "classes" in meta:
            dt = meta["classes_dtype"]
            classes = np.asarray(meta["classes"], dtype=object if dt == "O" else dt)
        names = meta.get("feature_names")
        return ModelState(
            class_name=str(meta["class"]),
            params=dict(meta["params"]),
            coef=state["coef"].double().numpy(),
            intercept=state["intercept"].double().numpy(),
            mean=state["mean"].double().numpy(),
            scale=state["scale"].double().numpy(),
            classes=classes,
            n_features_in=int(meta["n_features_in"]),
            feature_names=None if names is None else np.asarray(names, dtype=object),
            n_iter=int(meta["n_iter"]),
            history=list(meta["history"]),
            user=meta.get("user") or {},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged(path, exc) from exc
