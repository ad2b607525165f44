"""The one fit path: any input -> batches through ``make_loader`` -> one loop -> raw model.

:func:`fit_model` takes arrays, DataFrames, tensors, a
:class:`~tabloader.datasets.TabularDataset`, a DataLoader or a stream. In-memory data
(:class:`MemorySource`) is validated, split, standardised once on the device and read
through :func:`~tabloader.loaders.make_loader`; a stream becomes a loader through
``make_loader`` too, and loaders (:class:`LoaderSource`) give their statistics from one
exact pass (over a fresh copy of a stream, see :func:`statistics_batches`) and are
standardised batch by batch. A validation set (``validation_fraction``'s split, or
``fit``'s ``X_val``) is held in memory and standardised once. Both then train the same
:class:`~tabloader.trainers._core.LinearCore` in :func:`~tabloader.trainers._loop.run_loop`
(or full-batch L-BFGS), and the result is mapped back to raw feature space.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from torch.utils.data import DataLoader, TensorDataset

from tabloader._stats import FeatureStats
from tabloader.datasets import TabularStream
from tabloader.loaders import make_loader
from tabloader.trainers._core import LinearCore
from tabloader.trainers._data import Prepared, Task, prepare_memory, scan_loader
from tabloader.trainers._distributed import DistributedContext, data_signature, get_context
from tabloader.trainers._lbfgs import lbfgs_fit
from tabloader.trainers._loop import SAMPLE_ROWS, Tensors, TrainData, run_loop
from tabloader.trainers._params import FitParams, limit_threads, resolve_batch_size
from tabloader.trainers._precond import WHITEN_MAX_FEATURES, Standardization, empty_table
from tabloader.trainers._validation import Validation

__all__ = ["FitResult", "WarmStart", "distributed_context", "fit_model"]

# L-BFGS stops when the gradient's max-norm falls below tol * this: at tol=1e-4 the
# objective is then within ~1e-6 relative of the optimum on raw real tables (the
# gradient is small long before the loss is, along nearly collinear features)
LBFGS_TOL_FACTOR = 1e-2


@dataclass(frozen=True)
class WarmStart:
    """The previous fit's raw ``coef`` ``[F, K]``, ``intercept`` ``[K]`` and classes."""

    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray | None


@dataclass
class FitResult:
    """A fit in raw feature space (``coef`` ``[F, K]``, ``intercept`` ``[K]``)."""

    coef: np.ndarray
    intercept: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    classes: np.ndarray | None
    n_features: int
    feature_names: np.ndarray | None
    history: list[dict[str, float]]
    n_iter: int
    converged: bool
    device: torch.device


def distributed_context(params: FitParams) -> tuple[DistributedContext | None, FitParams]:
    """The process group's context (None: train alone) and the params with rank 0's seed."""
    if params.distributed is False:
        return None, params
    ctx = get_context(params.device)
    if ctx is None:
        if params.distributed is True:
            raise ValueError(
                "distributed=True needs an initialised torch.distributed process "
                "group with several ranks (or a launch by torchrun), but found none"
            )
        return None, params
    return ctx, params.with_seed(ctx.broadcast_seed(params.seed))


# ---------------------------------------------------------------------- sources
def _take(t: Tensors, idx: torch.Tensor | None) -> Tensors:
    """The rows ``idx`` of ``(X, y, w)`` (all of them when ``idx`` is None)."""
    if idx is None:
        return t
    X, y, w = t
    Xi = torch.index_select(X, 0, idx, out=empty_table(len(idx), X.shape[1], X.device))
    return Xi, y.index_select(0, idx), None if w is None else w.index_select(0, idx)


class MemorySource:
    """Arrays, frames, tensors and datasets: on the device, split, standardised once."""

    in_memory = True

    def __init__(
        self,
        prep: Prepared,
        X: Any,
        task: Task,
        params: FitParams,
        ctx: Any,
        val: Validation | None = None,
    ) -> None:
        self.prep, self.task, self.params = prep, task, params
        if ctx is not None:  # every rank holds the whole table; make_loader shards it
            checksum = float(prep.X.sum(dtype=torch.float64)) + float(
                prep.y.sum(dtype=torch.float64)
            )
            ctx.check_consistent(
                data_signature(
                    X,
                    n_features=prep.X.shape[1],
                    n_rows=prep.X.shape[0],
                    feature_names=prep.feature_names,
                    classes=prep.classes,
                    task=task.kind,
                    checksum=checksum,
                )
            )
        self.train: Tensors = (prep.X, prep.y, prep.w)
        self.val: Tensors | None = None
        self._sample: torch.Tensor | None = None
        # a split is this fit's own copy (standardised in place); X_val is the caller's
        self._val_owned = params.validation_fraction is not None
        if params.validation_fraction is not None:
            self._split(params.validation_fraction)
        elif val is not None:
            self.val = val.tensors(
                task, prep.classes, prep.n_features, prep.feature_names, prep.X.device
            )

    def _split(self, fraction: float) -> None:
        """A seeded validation split, before the statistics."""
        X = self.train[0]
        n = X.shape[0]
        n_val = math.ceil(n * fraction)
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"validation_fraction={fraction} leaves no training or no "
                f"validation rows out of {n}"
            )
        perm = torch.randperm(n, generator=self.params.validation_generator()).to(X.device)
        self.val = _take(self.train, perm[:n_val])
        self.train = _take(self.train, perm[n_val:])

    @property
    def classes(self) -> np.ndarray | None:
        return self.prep.classes

    @property
    def n_features(self) -> int:
        return self.prep.n_features

    @property
    def feature_names(self) -> np.ndarray | None:
        return self.prep.feature_names

    def sample(self) -> torch.Tensor | None:
        """The seeded sample of training rows (sorted indices on the device), or None.

        Tables of more than :data:`SAMPLE_ROWS` training rows take their
        preconditioner statistics and the per-epoch objective estimate from these
        rows: drawn without replacement from ``random_state`` (the same rows on every
        rank), once per fit.
        """
        n = int(self.train[0].shape[0])
        if n <= SAMPLE_ROWS:
            return None
        if self._sample is None:
            idx = np.sort(self.params.sample_rng().choice(n, SAMPLE_ROWS, replace=False))
            self._sample = torch.from_numpy(idx).to(self.train[0].device)
        return self._sample

    def standardization(self) -> Standardization:
        """Means, the preconditioner (and the target's scale): one float64 pass over the
        training rows, or over :meth:`sample` on bigger tables (a preconditioner needs
        no exact statistics, and the objective stays the raw one)."""
        if not self.params.standardize:
            f = self.n_features
            return Standardization.of(FeatureStats.empty(0), None, f, self.params)
        X, y, w = _take(self.train, self.sample())
        ys = FeatureStats.of(y.view(-1, 1), w) if self.task.kind == "regression" else None
        xs = FeatureStats.of(X, w, cross=X.shape[1] <= WHITEN_MAX_FEATURES)
        return Standardization.of(xs, ys, X.shape[1], self.params)

    def train_data(self, std: Standardization, ctx: Any) -> TrainData:
        # a table this fit owns (a conversion's copy, a split) is overwritten in place
        owned = self.prep.owned or self._val_owned

        def apply(t: Tensors, inplace: bool) -> Tensors:
            return (std.features(t[0], inplace=inplace), std.targets(t[1]), t[2])

        train = apply(self.train, owned)
        val = None if self.val is None else apply(self.val, self._val_owned)
        batches = self._batches(train, ctx)
        idx = self.sample()
        monitor = None if idx is None else _take(train, idx)
        return TrainData(batches, train, val, self.params.drop_last, std.factor, monitor)

    def _batches(self, train: Tensors, ctx: Any) -> Any:
        """A re-iterable of batches: tabloader's loader over the device-resident data."""
        p = self.params
        tensors = tuple(t for t in train if t is not None)
        n = tensors[0].shape[0]
        bs = resolve_batch_size(p.batch_size, n)
        if bs >= n and not p.drop_last:
            # full batch: the whole data, no gather (order does not change the mean)
            if ctx is not None:  # this rank's share of it
                return [tuple(t[ctx.rank :: ctx.world_size].contiguous() for t in tensors)]
            return [tensors]
        shard: dict[str, Any] = {}
        if ctx is not None:
            shard = {"rank": ctx.rank, "world_size": ctx.world_size, "remainder": "uneven"}
        return make_loader(
            TensorDataset(*tensors),
            batch_size=bs,
            shuffle=p.shuffle,
            drop_last=p.drop_last,
            seed=p.seed % (2**63),
            device=p.device,
            **shard,
        )


class _Standardized:
    """A loader's ``(X, y)`` batches on the device, standardised, targets encoded."""

    def __init__(self, loader: Any, std: Standardization, task: Task, dev: torch.device):
        self.loader, self.std, self.task, self.dev = loader, std, task, dev

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in self.loader:
            Xb = torch.as_tensor(batch[0]).to(self.dev, torch.float32, non_blocking=True)
            yb = torch.as_tensor(batch[1]).to(self.dev, non_blocking=True)
            yb = self.task.y_tensor(yb, self.dev)
            yield self.std.features(Xb), self.std.targets(yb)

    def __len__(self) -> int:
        return len(self.loader)


def statistics_batches(loader: Any) -> Any:
    """The batches of the statistics pass over ``loader``: a pass that leaves its position.

    Over a stream (``make_loader``'s loader, or a plain DataLoader), iterating the loader
    itself would read the rest of a resumed epoch (``stream.load_state_dict``), and
    training would start at the next epoch without those rows. The pass reads a fresh
    copy of the stream instead: the whole epoch the loader reads next, this rank's share,
    with the same settings and workers but without the resume position -- the rows the
    statistics were always taken from. Other loaders are read once as they are (a
    map-style epoch has no position within it).
    """
    stream = getattr(loader, "dataset", None)
    if not isinstance(stream, TabularStream):
        return loader
    fresh = stream.configure()  # the same settings, epoch and resume position, ...
    epoch = fresh.epoch
    fresh.set_epoch(epoch + 1)  # ... which holds for its own epoch only: dropped here
    fresh.set_epoch(epoch)
    workers = int(getattr(loader, "num_workers", 0) or 0)
    if not workers:
        return make_loader(fresh)
    context = getattr(loader, "multiprocessing_context", None)
    return make_loader(fresh, num_workers=workers, multiprocessing_context=context)


class LoaderSource:
    """A DataLoader (or a stream through ``make_loader``): statistics from one exact pass."""

    in_memory = False

    def __init__(
        self, loader: Any, task: Task, params: FitParams, ctx: Any, val: Validation | None = None
    ) -> None:
        self.loader, self.task, self.params = loader, task, params
        scan = scan_loader(statistics_batches(loader), task)
        ds = getattr(loader, "dataset", None)
        n_features = scan.n_features
        stats, max_label = scan.stats, scan.max_label
        if ctx is not None:
            # each rank read its own shard: check, then merge the statistics
            ctx.check_consistent(
                data_signature(
                    loader if ds is None else ds,
                    n_features=-1 if n_features is None else n_features,
                    feature_names=getattr(ds, "feature_names", None),
                    classes=getattr(ds, "classes_", None),
                    task=task.kind,
                )
            )
            if n_features is not None:
                stats = stats.all_reduce(ctx.sum_tensor)
                max_label = int(ctx.max([max_label])[0])
        if n_features is None or stats.count == 0:
            raise ValueError("the loader yielded no rows")
        self.stats, self.n_features = stats, int(n_features)
        self.classes: np.ndarray | None = None
        if task.kind != "regression":
            classes = getattr(ds, "classes_", None)
            self.classes = np.arange(max_label + 1) if classes is None else np.asarray(classes)
            task.check_classes(self.classes)
        names = getattr(ds, "feature_names", None)
        self.feature_names = (
            np.asarray(names, dtype=object)
            if names is not None and len(names) == self.n_features
            else None
        )
        self.val = None
        if val is not None:
            self.val = val.tensors(
                task, self.classes, self.n_features, self.feature_names, params.device
            )

    def standardization(self) -> Standardization:
        f, s = self.n_features, self.stats
        cross = None if s.cross is None else s.cross[:f, :f]
        x = FeatureStats(s.count, s.mean[:f], s.m2[:f], cross)
        y = FeatureStats(s.count, s.mean[f:], s.m2[f:]) if self.task.kind == "regression" else None
        return Standardization.of(x, y, f, self.params)

    def train_data(self, std: Standardization, ctx: Any) -> TrainData:
        batches = _Standardized(self.loader, std, self.task, self.params.device)
        val = None
        if self.val is not None:  # the caller's tensors: not in place
            val = (std.features(self.val[0]), std.targets(self.val[1]), self.val[2])
        return TrainData(batches, None, val, False, std.factor)


def open_source(
    est: Any,
    task: Task,
    X: Any,
    y: Any,
    sample_weight: Any,
    params: FitParams,
    ctx: Any,
    val: Validation | None = None,
) -> MemorySource | LoaderSource:
    """The training data as a source: a stream becomes a loader (``make_loader``)."""
    if val is not None and params.validation_fraction is not None:
        raise ValueError(
            "validation_fraction should be None when fit gets X_val (both are the "
            f"validation set: give one), but got validation_fraction={params.validation_fraction}"
        )
    if isinstance(X, TabularStream):  # its own batch size, order and sharding
        X = make_loader(X)
    if isinstance(X, DataLoader):
        if y is not None or sample_weight is not None:
            raise ValueError(
                "y and sample_weight should be None when X is a DataLoader, "
                "but got a value for them"
            )
        return LoaderSource(X, task, params, ctx, val)
    prep = prepare_memory(est, task, X, y, sample_weight, params.device)
    return MemorySource(prep, X, task, params, ctx, val)


# ---------------------------------------------------------------------- the fit
def make_core(
    task: Task,
    params: FitParams,
    n_features: int,
    n_outputs: int,
    std: Standardization,
    warm: WarmStart | None,
) -> LinearCore:
    """The core in standardised space: zeros, ``init="torch"``, or the previous fit."""
    core = LinearCore(
        task.kind,
        n_features,
        n_outputs,
        optimizer=params.step_optimizer,
        lr=params.lr,
        momentum=params.momentum,
        alpha=params.alpha,
        fit_intercept=params.fit_intercept,
        penalty_scale=std.penalty_scale(),
        implicit_penalty=True,
        device=params.device,
    )
    if warm is not None:
        coef, intercept = warm.coef, warm.intercept
        if coef.shape[0] != n_features:
            raise ValueError(
                f"X has {n_features} features, but {task.owner} was fitted with "
                f"{coef.shape[0]} features (warm_start=True)"
            )
        if intercept.shape[0] != n_outputs:
            raise ValueError(
                "warm_start=True needs the same classes as the previous fit, "
                f"but got {n_outputs} outputs instead of {intercept.shape[0]}"
            )
        Ws, bs = std.from_raw(coef, intercept)  # raw W, b -> the optimiser's coordinates
        core.set_params(
            torch.from_numpy(Ws.astype(np.float32)), torch.from_numpy(bs.astype(np.float32))
        )
    elif params.init == "torch":
        g = params.init_generator()
        bound = 1.0 / math.sqrt(n_features) if n_features else 0.0
        Wi = (torch.rand(n_outputs, n_features, generator=g) * 2 - 1) * bound
        bi = (torch.rand(n_outputs, generator=g) * 2 - 1) * bound
        if not params.fit_intercept:
            bi.zero_()
        core.set_params(Wi.t(), bi)
    return core


def _fit_lbfgs(
    core: LinearCore, data: TrainData, params: FitParams
) -> tuple[list[dict[str, float]], int, bool, np.ndarray]:
    if data.train is None:
        raise ValueError(
            "optimizer='lbfgs' needs the full data in memory; pass arrays or a "
            "TabularDataset, but got a DataLoader"
        )
    history: list[dict[str, float]] = []
    val, factor = data.val, data.factor
    t0 = time.perf_counter()

    def record(loss: float) -> None:
        rec = {"epoch": len(history) + 1, "train_loss": loss * factor}
        if val is not None:
            rec["val_loss"] = core.loss(*val) * factor
        rec["seconds"] = time.perf_counter() - t0
        history.append(rec)

    n_iter, converged, theta = lbfgs_fit(
        core,
        *data.train,
        max_iter=params.max_epochs,
        tol=(params.tol or 0.0) * LBFGS_TOL_FACTOR,
        callback=record,
    )
    if val is not None and history:
        # validation metric of the final model, on the last record
        history[-1]["val_metric"] = core.metric(*val)
    if not converged:
        warnings.warn(
            f"L-BFGS did not converge in max_epochs={params.max_epochs} iterations; "
            "increase max_epochs",
            ConvergenceWarning,
            stacklevel=4,
        )
    return history, n_iter, converged, theta


def step_rows(source: MemorySource | LoaderSource, params: FitParams) -> int:
    """The rows of one step (the thread rule's work size)."""
    if isinstance(source, LoaderSource):
        return int(getattr(source.loader, "batch_size", None) or 1024)
    n = int(source.train[0].shape[0])
    return n if params.optimizer == "lbfgs" else resolve_batch_size(params.batch_size, n)


def fit_model(
    est: Any,
    task: Task,
    X: Any,
    y: Any,
    sample_weight: Any,
    params: FitParams,
    warm: WarmStart | None = None,
    val: Validation | None = None,
) -> FitResult:
    """Fit a linear model of ``task`` on any training input; the raw-space result.

    ``val``: ``fit``'s validation set (``X_val``, ...), recorded and watched every epoch.
    """
    ctx, params = distributed_context(params)
    source = open_source(est, task, X, y, sample_weight, params, ctx, val)
    classes = source.classes
    if (
        warm is not None
        and source.in_memory
        and task.kind != "regression"
        and not np.array_equal(np.asarray(classes), np.asarray(warm.classes))
    ):
        raise ValueError(
            f"warm_start=True needs the classes of the previous fit "
            f"{list(np.asarray(warm.classes))}, but got {list(np.asarray(classes))}"
        )
    n_rows = int(source.train[0].shape[0]) if isinstance(source, MemorySource) else None
    params = params.resolve_optimizer(n_rows, ctx is not None)
    source.params = params
    std = source.standardization()
    n_outputs = task.n_outputs(classes)
    core = make_core(task, params, source.n_features, n_outputs, std, warm)
    data = source.train_data(std, ctx)
    theta = None
    with limit_threads(step_rows(source, params), source.n_features * n_outputs, params.device):
        if params.optimizer == "lbfgs":
            history, n_iter, converged, theta = _fit_lbfgs(core, data, params)
        else:
            history, n_iter, converged = run_loop(core, data, params, ctx)
    # standardised-space parameters -> raw space
    P = theta if theta is not None else core.params.double().cpu().numpy()
    W, b = std.to_raw(P, core.n_features)
    if not params.fit_intercept:
        b = np.zeros_like(b)
    return FitResult(
        coef=W,
        intercept=b,
        mean=std.mean,
        scale=std.scale,
        classes=classes,
        n_features=source.n_features,
        feature_names=source.feature_names,
        history=history,
        n_iter=n_iter,
        converged=converged,
        device=params.device,
    )
