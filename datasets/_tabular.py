"""The in-memory map-style dataset that every reader builds."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from tabloader._checks import check_choice, value_error
from tabloader.datasets._build import Built
from tabloader.datasets._columns import TASKS, check_dtype
from tabloader.datasets._convert import overflow_error
from tabloader.datasets._frames import tensors_from_arrays, tensors_from_arrow, tensors_from_pandas
from tabloader.datasets._precision import EXACT_LIMIT, PrecisionCheck
from tabloader.errors import MissingValueError, TargetError

__all__ = ["TASKS", "TabularDataset", "register_path_reader"]

#: ``read_dataset``, registered by ``_open`` (which imports the file readers, themselves
#: subclasses of TabularDataset: a registry instead of an import circle)
_PATH_READER: list[Callable[..., Any]] = []


def register_path_reader(reader: Callable[..., Any]) -> None:
    """Make ``reader`` (``read_dataset``) the implementation of ``TabularDataset.from_path``."""
    _PATH_READER[:] = [reader]


def _as_index(idx: Any, n: int) -> torch.Tensor | int | slice:
    """Normalise an index into an int, a slice, or a 1-D int64 tensor."""
    if isinstance(idx, (int, np.integer)):
        i = int(idx)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a dataset of {n} rows")
        return i
    if isinstance(idx, slice):
        if idx.step is not None and idx.step < 0:  # torch slices cannot step backwards
            return torch.arange(*idx.indices(n))
        return idx
    t = idx if isinstance(idx, torch.Tensor) else torch.as_tensor(np.asarray(idx))
    if t.dtype == torch.bool:
        if t.shape != (n,):
            raise IndexError(f"boolean mask should have shape ({n},), but got {tuple(t.shape)}")
        return t.nonzero().flatten()
    if t.dtype.is_floating_point or t.dtype.is_complex:
        raise IndexError(f"indices should be integers, but got dtype {t.dtype}")
    if t.ndim == 0:
        return _as_index(int(t), n)
    t = t.reshape(-1).to(torch.int64)
    if t.numel():
        lo, hi = int(t.min()), int(t.max())
        if lo < -n or hi >= n:
            bad = lo if lo < -n else hi
            raise IndexError(f"index {bad} is out of range for a dataset of {n} rows")
        if lo < 0:
            t = torch.where(t < 0, t + n, t)
    return t


class TabularDataset(Dataset):
    """A map-style dataset of one float32 feature matrix and one target tensor.

    Rows are indexed in one tensor operation: ``ds[i]`` returns one row ``(x, y)``
    with ``x`` of shape ``[F]``; ``ds[[i, j, k]]``, ``ds[a:b]`` or ``ds[index_tensor]``
    return the whole batch ``(X[idx], y[idx])`` at once. It works unchanged with a
    plain :class:`torch.utils.data.DataLoader`; :func:`tabloader.loaders.make_loader`
    uses the whole-batch path.

    The constructor takes tensors that are already encoded and checks them as the readers
    check files: NaN or inf features or targets, and a multiclass target that is not a
    class index (``1.7``, ``-1``, or ``5`` with three ``classes``) are errors; integers that ``dtype`` cannot hold exactly are counted in a warning. To
    encode raw labels or apply a missing-value policy, use :meth:`from_numpy`.

    Parameters
    ----------
    features : torch.Tensor or array-like
        Feature matrix ``[N, F]``; converted once to a contiguous, writable tensor of
        ``dtype``.
    targets : torch.Tensor or array-like, optional
        Targets already encoded for ``task``: float ``[N, 1]`` (regression, binary 0/1)
        or int64 ``[N]`` (multiclass class indices ``0..K-1``). ``None`` for a
        features-only dataset, whose rows are then just ``x``.
    feature_names : sequence of str, optional
        One name per feature column; defaults to ``"0"``, ``"1"``, ...
    target_name : str, optional
        Name of the target column.
    task : {"regression", "binary", "multiclass"}, optional
        What the targets are. Required when ``targets`` is given.
    classes : array-like, optional
        The original class labels, sorted; ``classes[k]`` is the label of class index ``k``.
    source : str, optional
        Where the data came from, used in messages and ``repr``.
    categories : dict, optional
        The levels of each one-hot encoded column (``categories_``).
    fill_values : dict, optional
        The values filled in for missing cells (``fill_values_``).
    n_dropped : int, default 0
        Rows dropped for missing values (``n_dropped_``).
    dtype : torch.float32 or torch.float64, default torch.float32
        The dtype of the features and of a regression or binary target.

    Attributes
    ----------
    features : torch.Tensor
        ``[N, F]`` float32 (or float64), contiguous, row-major, writable (no copy is made
        on access).
    targets : torch.Tensor or None
        ``[N, 1]`` float32 (or float64) or ``[N]`` int64.
    classes_ : numpy.ndarray or None
        Class labels of a classification task, in the order of the class indices.
    categories_ : dict
        For each one-hot encoded column, its levels in the order of the output columns.
    fill_values_ : dict
        For ``missing="mean"``, the value filled in for each column that had missing cells.
    n_dropped_ : int
        For ``missing="drop"``, how many rows were dropped.
    """

    def __init__(
        self,
        features: Any,
        targets: Any = None,
        *,
        feature_names: Sequence[str] | None = None,
        target_name: str | None = None,
        task: str | None = None,
        classes: Any = None,
        source: str | None = None,
        categories: Mapping[str, list[Any]] | None = None,
        fill_values: Mapping[str, float] | None = None,
        n_dropped: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        np_dtype = check_dtype(dtype)
        X = _to_float_matrix(features, np_dtype)
        n, f = X.shape
        if feature_names is None:
            feature_names = [str(j) for j in range(f)]
        feature_names = [str(c) for c in feature_names]
        if len(feature_names) != f:
            raise ValueError(
                f"feature_names should have one name per feature column ({f}), "
                f"but got {len(feature_names)} names"
            )
        _check_features(features, X, feature_names, source)
        y = None
        if targets is not None:
            if task is None:  # required with targets
                raise value_error("task", f"one of {list(TASKS)}", task)
            check_choice("task", task, TASKS)
            y = _encoded_targets(targets, task, classes, X.dtype, source)
            if y.shape[0] != n:
                raise ValueError(
                    f"features and targets should have the same number of rows, "
                    f"but got {n} and {y.shape[0]}"
                )
        elif task is not None:
            check_choice("task", task, TASKS)
        self.features: torch.Tensor = X
        self.targets: torch.Tensor | None = y
        self.feature_names: list[str] = feature_names
        self.target_name = target_name
        self.task = task
        self.classes_ = None if classes is None else np.asarray(classes)
        self.source = source
        self.categories_: dict[str, list[Any]] = dict(categories or {})
        self.fill_values_: dict[str, float] = dict(fill_values or {})
        self.n_dropped_: int = int(n_dropped)

    def _adopt(self, built: Built) -> None:
        """Hold ``built``'s tensors and encoding (checked and encoded by the converter)."""
        kw = built.dataset_kwargs()
        self.features = kw["features"]
        self.targets = kw["targets"]
        self.feature_names = list(kw["feature_names"])
        self.target_name = kw["target_name"]
        self.task = kw["task"]
        classes = kw["classes"]
        self.classes_ = None if classes is None else np.asarray(classes)
        self.source = kw["source"]
        self.categories_ = dict(kw["categories"] or {})
        self.fill_values_ = dict(kw["fill_values"] or {})
        self.n_dropped_ = int(kw["n_dropped"])

    # ------------------------------------------------------------------ constructors
    @classmethod
    def _from_built(cls, built: Built) -> TabularDataset:
        """A dataset of class ``cls`` holding ``built``'s tensors and encoding."""
        ds = cls.__new__(cls)
        TabularDataset._adopt(ds, built)
        return ds

    @classmethod
    def from_tensors(cls, X: Any, y: Any = None, **kwargs: Any) -> TabularDataset:
        """Build from a feature matrix and raw target values (tensors or numpy arrays).

        The target values are encoded like a file's target column: see
        :meth:`from_numpy`.
        """
        return cls.from_numpy(X, y, **kwargs)

    @classmethod
    def from_numpy(
        cls,
        X: Any,
        y: Any = None,
        *,
        task: str | None = None,
        feature_names: Sequence[str] | None = None,
        target_name: str | None = None,
        missing: str = "error",
        dtype: torch.dtype = torch.float32,
    ) -> TabularDataset:
        """Build from a numeric ``[N, F]`` array (numpy or torch) and raw target values.

        ``y`` holds raw labels or values (any label type for classification); it is
        encoded following ``task`` (inferred when omitted, see :func:`infer_task`).
        ``dtype`` is the features' dtype (float32 or float64).
        """
        built = tensors_from_arrays(
            X,
            y,
            task=task,
            feature_names=feature_names,
            target_name=target_name,
            missing=missing,
            dtype=dtype,
        )
        return cls._from_built(built)

    @classmethod
    def from_pandas(cls, df: Any, *, target: Any = None, **spec: Any) -> TabularDataset:
        """Build from a :class:`pandas.DataFrame`; ``target`` and ``spec`` as for files."""
        return cls._from_built(tensors_from_pandas(df, target=target, **spec))

    @classmethod
    def from_path(cls, source: Any, **kwargs: Any) -> TabularDataset:
        """Read CSV or Parquet files, choosing the reader by format (see ``read_dataset``)."""
        if not _PATH_READER:  # pragma: no cover - tabloader.datasets registers it on import
            raise RuntimeError("import tabloader.datasets to read files")
        return _PATH_READER[0](source, **kwargs)

    @classmethod
    def from_arrow(cls, table: Any, *, target: Any = None, **spec: Any) -> TabularDataset:
        """Build from a :class:`pyarrow.Table`; ``target`` and ``spec`` as for files."""
        return cls._from_built(tensors_from_arrow(table, target=target, **spec))

    # ------------------------------------------------------------------ protocol
    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, idx: Any):
        i = _as_index(idx, len(self))
        if isinstance(i, torch.Tensor):
            x = self.features.index_select(0, i)
            if self.targets is None:
                return x
            return x, self.targets.index_select(0, i)
        x = self.features[i]
        if self.targets is None:
            return x
        return x, self.targets[i]

    @property
    def n_features(self) -> int:
        """Number of feature columns ``F`` (after one-hot encoding)."""
        return self.features.shape[1]

    @property
    def n_classes(self) -> int | None:
        """Number of classes of a classification task, else ``None``."""
        return None if self.classes_ is None else len(self.classes_)

    def subset(self, indices: Any) -> TabularDataset:
        """A new dataset of the given rows (copied into contiguous tensors), same metadata."""
        i = _as_index(indices, len(self))
        if isinstance(i, int):
            i = torch.tensor([i])
        elif isinstance(i, slice):
            i = torch.arange(len(self))[i]
        out = copy.copy(self)
        out.features = self.features.index_select(0, i)
        out.targets = None if self.targets is None else self.targets.index_select(0, i)
        return out

    def to(self, device: Any) -> TabularDataset:
        """Move the tensors to ``device`` (e.g. ``"cuda"``), in place; returns ``self``."""
        self.features = self.features.to(device)
        if self.targets is not None:
            self.targets = self.targets.to(device)
        return self

    def __repr__(self) -> str:
        parts = [f"n_rows={len(self)}", f"n_features={self.n_features}"]
        if self.task is not None:
            parts.append(f"task={self.task!r}")
        if self.target_name is not None:
            parts.append(f"target={self.target_name!r}")
        if self.classes_ is not None:
            parts.append(f"n_classes={len(self.classes_)}")
        if self.source:
            parts.append(f"source={self.source!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _to_float_matrix(features: Any, dtype: np.dtype) -> torch.Tensor:
    want = torch.float64 if dtype == np.float64 else torch.float32
    if isinstance(features, torch.Tensor):
        X = features.detach()
        if X.dtype.is_complex or X.dtype == torch.bool:
            raise TypeError(f"features should be a real-valued tensor, but got dtype {X.dtype}")
        if X.dtype != want:
            X = X.to(want)
    else:
        arr = np.asarray(features)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"features should be a numeric array, but got dtype {arr.dtype}; "
                "encode non-numeric columns first (files and DataFrames: categorical=[...])"
            )
        with np.errstate(over="ignore"):
            arr = np.ascontiguousarray(arr, dtype=dtype)
        if not arr.flags.writeable:
            arr = arr.copy()
        X = torch.from_numpy(arr)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(f"features should be a 2-D [N, F] matrix, but got shape {tuple(X.shape)}")
    return X.contiguous()


def _as_numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _check_features(given: Any, X: torch.Tensor, names: list[str], source: str | None) -> None:
    """NaN or inf features are an error (a finite value beyond float32, an overflow error);
    integers that the dtype rounds are counted in a warning, as the readers do."""
    where = source or "the features"
    if X.numel() and not bool(torch.isfinite(X.sum()) or torch.isfinite(X).all()):
        bad = ~torch.isfinite(X)
        cols = torch.nonzero(bad.any(0)).flatten().tolist()
        src = _as_numpy(given).reshape(X.shape[0], -1)
        details = []
        for j in cols:
            rows = torch.nonzero(bad[:, j]).flatten()
            first = int(rows[0])
            if src.dtype.kind in "iuf" and np.isfinite(src[first, j]):
                raise overflow_error(names[j], where, f"row {first}", src[first, j].item())
            details.append(f"column {names[j]!r}: {len(rows)}, first at row {first}")
        raise MissingValueError(
            f"{'features' if source is None else f'features of {source}'} have NaN or inf "
            f"values ({'; '.join(details)}); fill or drop "
            "them first, or build the dataset with TabularDataset.from_numpy(X, y, "
            "missing='drop' or 'mean')"
        )
    src = _as_numpy(given)
    if src.dtype.kind not in "iuf" or not src.size:
        return
    if src.dtype.kind == "f" and (src.dtype.itemsize <= X.element_size() or X.element_size() == 8):
        return  # a float type into one as wide: nothing is rounded
    src = src.reshape(src.shape[0], -1)
    limit = EXACT_LIMIT[np.dtype(str(X.dtype).removeprefix("torch."))]
    with np.errstate(invalid="ignore"):
        if src.max() <= limit and src.min() >= -limit:
            return
    check = PrecisionCheck(names, np.dtype(str(X.dtype).removeprefix("torch.")))
    for j, name in enumerate(names):
        check.observe_values(name, np.ascontiguousarray(src[:, j]))
    check.warn(where)


def _encoded_targets(
    targets: Any, task: str, classes: Any, dtype: torch.dtype, source: str | None
) -> torch.Tensor:
    """``targets`` as the tensor of ``task``, refusing what no reader would produce: NaN or
    inf, or a multiclass target that is not a class index (``1.7``, ``-1``, or
    ``k >= len(classes)``)."""
    of = "" if source is None else f" of {source}"
    y = torch.as_tensor(targets).detach()
    if y.dtype.is_complex:
        raise TypeError(f"targets should be real numbers, but got dtype {y.dtype}")
    y = y.reshape(-1) if task == "multiclass" else y.reshape(-1, 1)
    flat = y.reshape(-1)
    if flat.dtype.is_floating_point:
        bad = ~torch.isfinite(flat)
        if bool(bad.any()):
            row = int(torch.nonzero(bad)[0])
            raise MissingValueError(
                f"targets{of} have {int(bad.sum())} NaN or inf values, first at row "
                f"{row}; drop those rows first, or build the dataset with "
                "TabularDataset.from_numpy(X, y, missing='drop')"
            )
    if task != "multiclass":
        return y.to(dtype).contiguous()
    k = None if classes is None else len(np.asarray(classes).reshape(-1))
    integral = flat == torch.floor(flat) if flat.dtype.is_floating_point else None
    ok = flat >= 0 if integral is None else integral & (flat >= 0)
    if k is not None:
        ok &= flat < k
    expected = "integer class indices " + (
        f"0..{k - 1} (classes= has {k} labels)" if k else "0, 1, 2, ..."
    )
    if not bool(ok.all()):
        row = int(torch.nonzero(~ok)[0])
        value = flat[row : row + 1].cpu().numpy()[0]  # float32 1.7 shown as 1.7
        raise TargetError(
            f"{task} targets{of} should be {expected}, but row {row} has {value!s}; "
            "encode the labels first (classes_[k] is the label of index k), or pass the "
            "raw labels to TabularDataset.from_numpy(X, y), which encodes them"
        )
    return y.to(torch.int64).contiguous()
