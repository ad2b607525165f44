"""Training inputs as tensors: the target encoding of a task, and the checks of the data.

:class:`Task` says what a trainer learns (its loss kind, the dataset tasks it accepts,
how raw targets are encoded). :func:`prepare_memory` turns arrays, DataFrames, tensors
and :class:`~tabloader.datasets.TabularDataset` into device tensors;
:func:`scan_loader` makes the one exact pass over a DataLoader (or stream) that gives
its feature statistics, feature count and classes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from tabloader._stats import FeatureStats
from tabloader.datasets import TabularDataset
from tabloader.errors import TargetError

__all__ = [
    "CONTINUOUS_FRACTION",
    "CONTINUOUS_MIN_CLASSES",
    "LoaderScan",
    "Prepared",
    "Task",
    "check_not_continuous",
    "prepare_memory",
    "sample_weights",
    "scan_loader",
    "score_targets",
    "table_size",
]

#: A classifier refuses a float target with more than CONTINUOUS_MIN_CLASSES distinct
#: values that are also more than CONTINUOUS_FRACTION of the rows: it looks continuous
#: (scikit-learn's diabetes: 214 whole-number values stored as floats in 442 rows).
CONTINUOUS_MIN_CLASSES = 20
#: the loader pass also gathers X^T X up to this many columns (the preconditioner's)
WHITEN_CROSS_COLUMNS = 2049
CONTINUOUS_FRACTION = 0.05


def check_finite_tensor(name: str, t: torch.Tensor) -> None:
    if t.dtype.is_floating_point and not bool(torch.isfinite(t).all()):
        raise ValueError(f"Input {name} contains NaN or infinity.")


def check_not_continuous(classes: np.ndarray, n_rows: int, owner: str) -> None:
    """A :class:`~tabloader.errors.TargetError` when float ``classes`` look continuous.

    Continuous: float labels, more than :data:`CONTINUOUS_MIN_CLASSES` of them and more
    than :data:`CONTINUOUS_FRACTION` of ``n_rows``. Integer or string labels are class
    labels by construction: they are how to insist on a classifier.
    """
    classes = np.asarray(classes)
    k = len(classes)
    if classes.dtype.kind != "f" or k <= max(CONTINUOUS_MIN_CLASSES, CONTINUOUS_FRACTION * n_rows):
        return
    raise TargetError(
        f"{owner} got a float target with {k} distinct values in {n_rows} rows, which "
        f"looks continuous (more than {CONTINUOUS_MIN_CLASSES} values and more than "
        f"{CONTINUOUS_FRACTION:.0%} of the rows); use LinearRegressor (CLI: --model "
        "linear) for a continuous target, or pass the labels as integers or strings "
        "(for example y.astype(int)) to insist on one class per value"
    )


def _small_nonneg_ints(y: np.ndarray) -> bool:
    return y.dtype.kind in "iu" and y.size > 0 and int(y.min()) >= 0 and int(y.max()) < 1 << 20


def _unique_inverse(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(y, return_inverse=True)``; a counting pass for small integer labels.

    Sorting a million labels costs ~50 ms; ``bincount`` plus a lookup table ~5 ms.
    """
    if _small_nonneg_ints(y):
        counts = np.bincount(y)
        classes = np.flatnonzero(counts).astype(y.dtype)
        lut = np.zeros(len(counts), dtype=np.int64)
        lut[classes] = np.arange(len(classes))
        return classes, lut[y]
    return np.unique(y, return_inverse=True)


@dataclass(frozen=True)
class Task:
    """What a trainer learns.

    Attributes
    ----------
    kind : {"regression", "binary", "multiclass"}
        The loss (see :mod:`._losses`).
    accepts : tuple of str
        The :class:`~tabloader.datasets.TabularDataset` tasks it trains on.
    owner : str
        The estimator's class name, for messages.
    """

    kind: str
    accepts: tuple[str, ...]
    owner: str

    def n_outputs(self, classes: np.ndarray | None) -> int:
        return len(classes) if self.kind == "multiclass" and classes is not None else 1

    def check_classes(self, classes: np.ndarray) -> None:
        if len(classes) < 2:
            raise ValueError(
                f"{self.owner} needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {classes[0]!r}"
            )
        if self.kind == "binary" and len(classes) > 2:
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"multiclass: {self.owner} needs exactly 2 classes, but got "
                f"{len(classes)} classes; use SoftmaxClassifier for multiclass targets"
            )

    def encode_y(self, y: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Raw targets as float values (regression) or class indices, and the classes."""
        y = np.asarray(y)
        if self.kind == "regression":
            if y.dtype.kind not in "biuf":
                raise ValueError(f"y should be numeric for regression, but got dtype {y.dtype}")
            y = y.astype(np.float64)
            if not np.all(np.isfinite(y)):
                raise ValueError("Input y contains NaN or infinity.")
            return y, None
        y = y.reshape(-1)
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        if not _small_nonneg_ints(y):  # integer labels are class labels by construction
            check_classification_targets(y)
        classes, y_enc = _unique_inverse(y)
        check_not_continuous(classes, y.shape[0], self.owner)
        self.check_classes(classes)
        return y_enc, classes

    def y_tensor(self, y: Any, device: torch.device) -> torch.Tensor:
        """Encoded targets on ``device``: int64 ``[n]`` (multiclass) or float32 ``[n, 1]``."""
        if self.kind == "multiclass":
            return torch.as_tensor(y).reshape(-1).to(device, torch.int64)
        return torch.as_tensor(y).reshape(-1, 1).to(device, torch.float32)


@dataclass
class Prepared:
    """In-memory training data on the device.

    ``owned``: ``X`` is this fit's own copy (a dtype or device conversion made it), so
    the preconditioner may overwrite it instead of allocating a second table.
    """

    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor | None
    classes: np.ndarray | None
    n_features: int
    feature_names: np.ndarray | None
    owned: bool = False


def _from_dataset(task: Task, X: TabularDataset, y: Any, dev: torch.device) -> Prepared:
    if y is not None:
        raise ValueError("y should be None when X is a TabularDataset, but got y")
    if X.targets is None:
        raise ValueError("the dataset should have targets, but got a features-only dataset")
    if X.task not in task.accepts:
        raise ValueError(
            f"{task.owner} needs a dataset with task in {list(task.accepts)}, "
            f"but got task={X.task!r}"
        )
    Xt = X.features.to(dev)
    check_finite_tensor("X", Xt)
    yt = X.targets.to(dev)
    check_finite_tensor("y", yt)
    classes = None if X.classes_ is None else np.asarray(X.classes_)
    if task.kind != "regression":
        if classes is None:
            classes = np.arange(int(yt.max()) + 1)
        check_not_continuous(classes, int(yt.shape[0]), task.owner)
        task.check_classes(classes)
    names = np.asarray(X.feature_names, dtype=object)
    owned = Xt.data_ptr() != X.features.data_ptr()
    return Prepared(Xt, task.y_tensor(yt, dev), None, classes, X.n_features, names, owned)


def _from_tensor(task: Task, X: torch.Tensor, y: Any, dev: torch.device) -> Prepared:
    if y is None:
        raise ValueError(f"{task.owner} requires y to be passed, but the target y is None")
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D tensor instead of shape [N, F]: "
            f"got shape {tuple(X.shape)}"
        )
    Xt = X.detach().to(dev, torch.float32)
    check_finite_tensor("X", Xt)
    y_np = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if y_np.ndim > 1 and y_np.shape[1] == 1:
        y_np = y_np.ravel()
    if y_np.ndim != 1 or y_np.shape[0] != Xt.shape[0]:
        raise ValueError(
            f"y should be 1-D with one value per row of X ({Xt.shape[0]}), "
            f"but got shape {y_np.shape}"
        )
    y_enc, classes = task.encode_y(y_np)
    owned = Xt.data_ptr() != X.data_ptr()
    return Prepared(Xt, task.y_tensor(y_enc, dev), None, classes, int(Xt.shape[1]), None, owned)


def _from_array(est: Any, task: Task, X: Any, y: Any, dev: torch.device) -> Prepared:
    X_np, y_np = validate_data(
        est, X, y, reset=True, dtype=[np.float32, np.float64], y_numeric=task.kind == "regression"
    )
    y_enc, classes = task.encode_y(y_np)
    X32 = np.ascontiguousarray(X_np, dtype=np.float32)
    if not X32.flags.writeable:
        X32 = X32.copy()
    owned = not np.may_share_memory(X32, X_np)
    names = getattr(est, "feature_names_in_", None)  # set by validate_data for named columns
    Xt = torch.from_numpy(X32).to(dev)
    owned = owned or dev.type != "cpu"
    return Prepared(Xt, task.y_tensor(y_enc, dev), None, classes, int(X_np.shape[1]), names, owned)


def sample_weights(
    sample_weight: Any, n: int, dev: torch.device, name: str = "sample_weight"
) -> torch.Tensor:
    """Weights normalised to mean 1, float32 on ``dev`` (``name``: for messages)."""
    sw = (
        sample_weight.detach().cpu().numpy()
        if isinstance(sample_weight, torch.Tensor)
        else np.asarray(sample_weight, dtype=np.float64)
    )
    if sw.ndim == 0:
        sw = np.full(n, float(sw))
    sw = np.asarray(sw, dtype=np.float64).reshape(-1) if sw.ndim == 1 else sw
    if sw.ndim != 1 or sw.shape[0] != n:
        raise ValueError(f"{name} should have shape ({n},), but got shape {sw.shape}")
    if not np.all(np.isfinite(sw)) or np.any(sw < 0) or sw.sum() <= 0:
        raise ValueError(
            f"{name} should be finite, non-negative and not all zero, "
            f"but got {name} with negative, NaN, inf or only zero values"
        )
    return torch.from_numpy(sw * (len(sw) / sw.sum())).to(dev, torch.float32)


def score_targets(X: Any, y: Any) -> Any:
    """``y`` as an array; a TabularDataset ``X`` supplies its own (decoded) targets."""
    if y is None:
        if not isinstance(X, TabularDataset) or X.targets is None:
            raise ValueError(
                "y should be given unless X is a TabularDataset with targets, "
                f"but got y=None and X of type {type(X).__name__}"
            )
        t = X.targets.detach().cpu().numpy()
        if X.classes_ is None:
            return t.reshape(-1)
        return X.classes_[t.reshape(-1).astype(np.int64)]
    return y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y


def table_size(X: Any) -> tuple[int, int]:
    """``(rows, features)`` of in-memory ``X`` for the thread rule (loaders: unbounded)."""
    if isinstance(X, TabularDataset):
        X = X.features
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        return 1 << 40, 1
    return int(shape[0]), int(shape[1])


def prepare_memory(
    est: Any, task: Task, X: Any, y: Any, sample_weight: Any, dev: torch.device
) -> Prepared:
    """Validate and move in-memory training data to ``dev``.

    ``est`` is only handed to :func:`sklearn.utils.validation.validate_data` (which
    records ``n_features_in_`` and ``feature_names_in_`` on it).
    """
    if isinstance(X, TabularDataset):
        prep = _from_dataset(task, X, y, dev)
    elif isinstance(X, torch.Tensor):
        prep = _from_tensor(task, X, y, dev)
    else:
        prep = _from_array(est, task, X, y, dev)
    if prep.X.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={tuple(prep.X.shape)})")
    if sample_weight is not None:
        prep.w = sample_weights(sample_weight, int(prep.X.shape[0]), dev)
    return prep


@dataclass
class LoaderScan:
    """What one pass over a loader found: feature statistics (features, then the
    target for regression), the feature count, the largest class index."""

    stats: FeatureStats
    n_features: int | None
    max_label: int


def _check_labels(yb: torch.Tensor) -> int:
    if yb.dtype.is_floating_point and not bool((yb == yb.round()).all()):
        raise ValueError(
            "the loader's y should hold class indices 0..K-1, but got non-integer values"
        )
    if yb.numel() and int(yb.min()) < 0:
        raise ValueError("the loader's y should hold class indices >= 0")
    return int(yb.max()) if yb.numel() else -1


def scan_loader(loader: Iterable[Any], task: Task) -> LoaderScan:
    """One exact pass over ``(X, y)`` batches: checks, float64 statistics (Chan-merged)."""
    stats: FeatureStats | None = None
    n_features: int | None = None
    max_label = -1
    for batch in loader:
        Xb = torch.as_tensor(batch[0])
        if Xb.ndim != 2:
            raise ValueError(f"the loader should yield 2-D X batches, but got {tuple(Xb.shape)}")
        check_finite_tensor("X", Xb)
        if n_features is None:
            n_features = Xb.shape[1]
        elif Xb.shape[1] != n_features:
            raise ValueError(
                f"the loader's batches should all have {n_features} features, but got {Xb.shape[1]}"
            )
        cols = Xb.detach().cpu()
        yb = torch.as_tensor(batch[1])
        if task.kind != "regression":
            max_label = max(max_label, _check_labels(yb))
        else:
            check_finite_tensor("y", yb)
            y_col = yb.detach().cpu().reshape(-1, 1).to(torch.float64)
            cols = torch.cat([cols.to(torch.float64), y_col], dim=1)
        part = FeatureStats.of(cols, cross=cols.shape[1] <= WHITEN_CROSS_COLUMNS)
        stats = part if stats is None else stats.merge(part)
    if stats is None:
        stats = FeatureStats.empty(0)
    return LoaderScan(stats, n_features, max_label)
