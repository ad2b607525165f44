"""A validation set given to ``fit`` (``X_val``, ``y_val``, ``sample_weight_val``) as tensors.

The rows are checked against the training data (the feature count, the names of named
columns) and the targets encoded with the training classes, so that the validation loss
is the training objective evaluated on other rows. ``validation_fraction`` holds out rows
of the training data instead; either becomes ``TrainData.val``, one mechanism: its loss
(and metric) goes into ``history_`` every epoch, the stopping rule watches it, and the
best epoch's parameters are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.utils import check_array
from torch.utils.data import DataLoader, IterableDataset

from tabloader.datasets import TabularDataset
from tabloader.trainers._data import Task, check_finite_tensor, sample_weights
from tabloader.trainers._loop import Tensors

__all__ = ["Validation"]


def _labels(ds: TabularDataset) -> np.ndarray:
    """A dataset's targets as values (regression) or labels (its ``classes_``)."""
    t = ds.targets.detach().cpu().numpy()  # type: ignore[union-attr]
    if ds.task == "regression" or ds.classes_ is None:
        return t.reshape(-1)
    return np.asarray(ds.classes_)[t.reshape(-1).astype(np.int64)]


def _names(X: Any) -> np.ndarray | None:
    """The column names of a DataFrame with string column names, else None."""
    cols = getattr(X, "columns", None)
    if cols is None or not all(isinstance(c, str) for c in cols):
        return None
    return np.asarray(list(cols), dtype=object)


def _class_codes(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Indices of labels ``y`` in the training ``classes``; ValueError for other labels."""
    order = np.argsort(classes, kind="stable")
    known = classes[order]
    try:
        pos = np.minimum(np.searchsorted(known, y), len(known) - 1)
        bad = np.asarray(known[pos] != y, dtype=bool).reshape(-1)
    except TypeError:  # labels of another type than the classes
        pos, bad = np.zeros(len(y), dtype=np.intp), np.ones(len(y), dtype=bool)
    if bad.any():
        unseen = list(dict.fromkeys(y[bad].tolist()))[:10]
        raise ValueError(
            f"y_val has labels that are not among the training classes {classes.tolist()}: {unseen}"
        )
    return order[pos]


@dataclass(frozen=True)
class Validation:
    """What ``fit`` got as its validation set, checked by :meth:`tensors`.

    ``X`` is an array, a DataFrame, a tensor or a
    :class:`~tabloader.datasets.TabularDataset` with targets (then ``y`` is None).
    """

    X: Any
    y: Any = None
    sample_weight: Any = None

    @classmethod
    def of(cls, X_val: Any, y_val: Any, sample_weight_val: Any) -> Validation | None:
        """The validation set of ``fit``'s arguments (None: none given)."""
        if X_val is None:
            if y_val is not None or sample_weight_val is not None:
                raise ValueError(
                    "y_val and sample_weight_val need X_val, but got X_val=None and a "
                    "value for them"
                )
            return None
        if isinstance(X_val, (DataLoader, IterableDataset)):
            raise TypeError(
                "X_val should be an array, a DataFrame, a tensor or a TabularDataset (it is "
                f"evaluated every epoch), but got a {type(X_val).__name__}; read a stream's "
                "files into memory with tabloader.datasets.read_dataset"
            )
        return cls(X_val, y_val, sample_weight_val)

    def _features_and_targets(self) -> tuple[torch.Tensor, np.ndarray, np.ndarray | None]:
        """Float32 features (CPU), the raw targets, and the column names (if any)."""
        X, y = self.X, self.y
        if isinstance(X, TabularDataset):
            if y is not None:
                raise ValueError(
                    "y_val should be None when X_val is a TabularDataset, but got y_val"
                )
            if X.targets is None:
                raise ValueError(
                    "X_val should have targets, but got a features-only TabularDataset"
                )
            Xt = X.features.detach().to("cpu", torch.float32)
            check_finite_tensor("X_val", Xt)
            return Xt, _labels(X), np.asarray(X.feature_names, dtype=object)
        if y is None:
            raise ValueError("y_val should be given with X_val, but got y_val=None")
        if isinstance(X, torch.Tensor):
            if X.ndim != 2:
                raise ValueError(
                    f"X_val should be 2-D [N, F], but got a tensor of shape {tuple(X.shape)}"
                )
            Xt = X.detach().to("cpu", torch.float32)
            check_finite_tensor("X_val", Xt)
            names = None
        else:
            Xn = check_array(X, dtype=[np.float32, np.float64], input_name="X_val")
            Xt = torch.from_numpy(np.ascontiguousarray(Xn, dtype=np.float32))
            names = _names(X)
        y_np = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        return Xt, y_np, names

    def tensors(
        self,
        task: Task,
        classes: np.ndarray | None,
        n_features: int,
        feature_names: np.ndarray | None,
        dev: torch.device,
    ) -> Tensors:
        """``(X, y, w)`` on ``dev``: targets encoded as the training targets are."""
        Xt, y, names = self._features_and_targets()
        if Xt.shape[1] != n_features:
            raise ValueError(
                f"X_val has {Xt.shape[1]} features, but the training data has {n_features}"
            )
        if feature_names is not None and names is not None and list(names) != list(feature_names):
            raise ValueError(
                f"X_val should have the training data's features {list(feature_names)}, in "
                f"that order, but got {list(names)}"
            )
        n = int(Xt.shape[0])
        if n < 1:
            raise ValueError("X_val should have at least one row, but got 0")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(
                f"y_val should be 1-D with one value per row of X_val ({n}), "
                f"but got shape {y.shape}"
            )
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("Input y_val contains NaN or infinity.")
        if task.kind == "regression":
            if y.dtype.kind not in "biuf":
                raise ValueError(f"y_val should be numeric for regression, but got dtype {y.dtype}")
            codes: np.ndarray = y.astype(np.float64)
        else:
            assert classes is not None
            codes = _class_codes(y, np.asarray(classes))
        w = (
            None
            if self.sample_weight is None
            else sample_weights(self.sample_weight, n, dev, "sample_weight_val")
        )
        return Xt.to(dev), task.y_tensor(codes, dev), w
