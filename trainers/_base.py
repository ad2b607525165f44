"""The scikit-learn estimators, thin over :class:`~tabloader.trainers._core.LinearCore`."""

from __future__ import annotations

import functools
import math
import numbers
import time
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch.utils.data import DataLoader, TensorDataset

from tabloader.datasets import TabularDataset
from tabloader.trainers._core import LinearCore, lbfgs_fit
from tabloader.trainers._distributed import data_signature, get_context

__all__ = ["LinearRegressor", "LogisticClassifier", "SoftmaxClassifier"]

_OPTIMIZERS = ("sgd", "adam", "lbfgs")
_SCHEDULES = ("plateau", "constant")
_PLATEAU_FACTOR = 5.0  # lr is divided by this on each plateau ...
_PLATEAU_REDUCTIONS = 3  # ... this many times before training stops
_MIN_PATIENCE_STEPS = 100
_MAX_PATIENCE_ROWS = 1_000_000
_STATS_CHUNK = 1 << 16
_AVERAGE_SKIP = 0.5  # a restarted average leaves out this fraction of an epoch
_INITS = ("zeros", "torch")
# L-BFGS stops when the gradient's max-norm falls below tol * this: at tol=1e-4 the
# objective is then within ~1e-6 relative of the optimum on raw real tables (the
# gradient is small long before the loss is, along nearly collinear features)
_LBFGS_TOL_FACTOR = 1e-2
_FITTED = (
    "coef_",
    "intercept_",
    "classes_",
    "n_features_in_",
    "feature_names_in_",
    "n_iter_",
    "history_",
    "model_",
    "mean_",
    "scale_",
    "device_",
    "converged_",
    "metadata_",
)


# ---------------------------------------------------------------------- validation
def _bad(name: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{name} should be {expected}, but got {name}={value!r}")


def _check_real(name, v, low, high=math.inf, *, low_open=False, none_ok=False):
    if v is None and none_ok:
        return None
    lo = "(" if low_open else "["
    rng = f"a real number in {lo}{low}, {high}{']' if high != math.inf else ')'}"
    if none_ok:
        rng += " or None"
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v):
        raise _bad(name, rng, v)
    if v < low or (low_open and v == low) or v > high:
        raise _bad(name, rng, v)
    return float(v)


def _check_int(name, v, low, *, none_ok=False):
    if v is None and none_ok:
        return None
    what = "a positive integer" if low == 1 else f"an integer >= {low}"
    if none_ok:
        what += " or None"
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
        raise _bad(name, what, v)
    return int(v)


def _check_batch_size(v):
    if isinstance(v, str) and v == "auto":
        return v
    if v is None or (not isinstance(v, bool) and isinstance(v, numbers.Integral) and v >= 1):
        return v
    raise _bad("batch_size", "a positive integer, 'auto' or None", v)


def _check_choice(name, v, choices):
    if not isinstance(v, str) or v not in choices:
        raise _bad(name, f"one of {list(choices)}", v)
    return v


def _check_bool(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise _bad(name, "a bool (True or False)", v)
    return bool(v)


def _check_verbose(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Integral) and v >= 0:
        return bool(v)
    raise _bad("verbose", "a bool or a non-negative integer", v)


def _check_distributed(v):
    if (isinstance(v, str) and v == "auto") or isinstance(v, (bool, np.bool_)):
        return v if isinstance(v, str) else bool(v)
    raise _bad("distributed", "'auto', True or False", v)


def _resolve_device(device: Any) -> torch.device:
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise _bad("device", "'auto' or a torch device such as 'cpu' or 'cuda'", device) from exc


def _seed_from(random_state: Any) -> int:
    """A 63-bit seed from ``random_state`` without touching any global RNG."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(2, np.uint32).view(np.uint64)[0] >> 1)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    raise _bad("random_state", "None, an int, or a numpy RandomState/Generator", random_state)


def _check_finite_tensor(name: str, t: torch.Tensor) -> None:
    if t.dtype.is_floating_point and not bool(torch.isfinite(t).all()):
        raise ValueError(f"Input {name} contains NaN or infinity.")


def _is_stream(X: Any) -> bool:
    from tabloader.datasets import TabularStream

    return isinstance(X, TabularStream)


def _score_targets(X: Any, y: Any) -> Any:
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


class _Moments:
    """Count, mean and sum of squared deviations of columns, merged batch by batch.

    Chan, Golub and LeVeque's pairwise update in float64: exact and numerically stable
    (no ``E[x^2] - E[x]^2`` cancellation), for loaders and streams of any length.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean = np.zeros(0)
        self.m2 = np.zeros(0)

    def add(self, cols: torch.Tensor) -> None:
        nb = int(cols.shape[0])
        if nb == 0:
            return
        mb = cols.mean(0)
        m2b = ((cols - mb) ** 2).sum(0).numpy()
        self._merge(nb, mb.numpy(), m2b)

    def _merge(self, nb: int, mb: np.ndarray, m2b: np.ndarray) -> None:
        if self.n == 0:
            self.n, self.mean, self.m2 = nb, mb.astype(np.float64), m2b.astype(np.float64)
            return
        tot = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / tot)
        self.m2 = self.m2 + m2b + delta**2 * (self.n * nb / tot)
        self.n = tot

    def all_reduce(self, ctx: Any) -> None:
        """Merge the ranks' moments: the global mean first, then deviations about it."""
        d = len(self.mean)
        tot = ctx.sum(np.concatenate([[self.n], self.n * self.mean]))
        n = int(tot[0])
        gmean = tot[1 : 1 + d] / max(n, 1)
        m2 = ctx.sum(self.m2 + self.n * (self.mean - gmean) ** 2) if d else self.m2
        self.n, self.mean, self.m2 = n, gmean, np.asarray(m2, dtype=np.float64)


# ---------------------------------------------------------------------- base class
class _BaseTrainer(BaseEstimator):
    """Shared parameters, ``fit`` and ``save``; subclasses set ``_kind``."""

    _kind = "regression"

    def __init__(
        self,
        *,
        lr: float = 0.03,
        max_epochs: int = 1000,
        batch_size: int | str | None = "auto",
        optimizer: str = "adam",
        momentum: float = 0.9,
        lr_schedule: str = "plateau",
        alpha: float = 0.0,
        fit_intercept: bool = True,
        init: str = "zeros",
        standardize: bool = True,
        shuffle: bool = True,
        drop_last: bool = False,
        random_state: Any = None,
        tol: float | None = 1e-4,
        n_iter_no_change: int = 5,
        validation_fraction: float | None = None,
        device: Any = "auto",
        verbose: bool = False,
        warm_start: bool = False,
        distributed: bool | str = "auto",
        average: bool = True,
    ) -> None:
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.momentum = momentum
        self.lr_schedule = lr_schedule
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.init = init
        self.standardize = standardize
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.random_state = random_state
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.device = device
        self.verbose = verbose
        self.warm_start = warm_start
        self.distributed = distributed
        self.average = average

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ params
    def _validated_params(self) -> dict[str, Any]:
        p = {
            "lr": _check_real("lr", self.lr, 0.0, low_open=True),
            "max_epochs": _check_int("max_epochs", self.max_epochs, 1),
            "batch_size": _check_batch_size(self.batch_size),
            "optimizer": _check_choice("optimizer", self.optimizer, _OPTIMIZERS),
            "momentum": _check_real("momentum", self.momentum, 0.0, 1.0),
            "alpha": _check_real("alpha", self.alpha, 0.0),
            "fit_intercept": _check_bool("fit_intercept", self.fit_intercept),
            "init": _check_choice("init", self.init, _INITS),
            "lr_schedule": _check_choice("lr_schedule", self.lr_schedule, _SCHEDULES),
            "standardize": _check_bool("standardize", self.standardize),
            "shuffle": _check_bool("shuffle", self.shuffle),
            "drop_last": _check_bool("drop_last", self.drop_last),
            "tol": _check_real("tol", self.tol, 0.0, none_ok=True),
            "n_iter_no_change": _check_int("n_iter_no_change", self.n_iter_no_change, 1),
            "validation_fraction": _check_real(
                "validation_fraction",
                self.validation_fraction,
                0.0,
                1.0,
                low_open=True,
                none_ok=True,
            ),
            "verbose": _check_verbose(self.verbose),
            "warm_start": _check_bool("warm_start", self.warm_start),
            "distributed": _check_distributed(self.distributed),
            "average": _check_bool("average", self.average),
        }
        if p["validation_fraction"] == 1.0:
            raise _bad("validation_fraction", "a real number in (0.0, 1.0) or None", 1.0)
        p["device"] = _resolve_device(self.device)
        p["seed"] = _seed_from(self.random_state)
        return p

    # ------------------------------------------------------------------ data
    def _encode_y(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Encode raw targets: float values (regression) or class indices."""
        raise NotImplementedError

    def _n_outputs(self, n_classes: int | None) -> int:
        return 1

    def _prepare(self, X, y, sample_weight, p):
        """Return (X, y, w, classes, feature_names, n_features) on the device."""
        dev = p["device"]
        fitted: dict[str, Any] = {}
        if isinstance(X, TabularDataset):
            if y is not None:
                raise ValueError("y should be None when X is a TabularDataset, but got y")
            if X.targets is None:
                raise ValueError("the dataset should have targets, but got a features-only dataset")
            if X.task not in self._kind_tasks:
                raise ValueError(
                    f"{type(self).__name__} needs a dataset with task in {list(self._kind_tasks)}, "
                    f"but got task={X.task!r}"
                )
            Xt = X.features.to(dev)
            _check_finite_tensor("X", Xt)
            yt = X.targets.to(dev)
            _check_finite_tensor("y", yt)
            classes = None if X.classes_ is None else np.asarray(X.classes_)
            if self._kind != "regression":
                if classes is None:
                    classes = np.arange(int(yt.max()) + 1)
                self._check_n_classes(classes)
                if self._kind == "binary":
                    yt = yt.reshape(-1, 1).to(torch.float32)
                else:
                    yt = yt.reshape(-1).to(torch.int64)
            else:
                yt = yt.reshape(-1, 1).to(torch.float32)
            fitted["feature_names_in_"] = np.asarray(X.feature_names, dtype=object)
            fitted["n_features_in_"] = X.n_features
        elif isinstance(X, torch.Tensor):
            if y is None:
                raise ValueError(
                    f"{type(self).__name__} requires y to be passed, but the target y is None"
                )
            if X.ndim != 2:
                raise ValueError(
                    f"Expected 2D array, got {X.ndim}D tensor instead of shape [N, F]: "
                    f"got shape {tuple(X.shape)}"
                )
            Xt = X.detach().to(dev, torch.float32)
            _check_finite_tensor("X", Xt)
            y_np = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
            if y_np.ndim > 1 and y_np.shape[1] == 1:
                y_np = y_np.ravel()
            if y_np.ndim != 1 or y_np.shape[0] != Xt.shape[0]:
                raise ValueError(
                    f"y should be 1-D with one value per row of X ({Xt.shape[0]}), "
                    f"but got shape {y_np.shape}"
                )
            y_enc, classes = self._encode_y(y_np)
            yt = self._y_tensor(y_enc, dev)
            fitted["n_features_in_"] = int(Xt.shape[1])
        else:
            X_np, y_np = validate_data(
                self,
                X,
                y,
                reset=True,
                dtype=[np.float32, np.float64],
                y_numeric=self._kind == "regression",
            )
            y_enc, classes = self._encode_y(y_np)
            X32 = np.ascontiguousarray(X_np, dtype=np.float32)
            if not X32.flags.writeable:
                X32 = X32.copy()
            Xt = torch.from_numpy(X32).to(dev)
            yt = self._y_tensor(y_enc, dev)
            fitted["n_features_in_"] = int(X_np.shape[1])
            if hasattr(self, "feature_names_in_"):
                fitted["feature_names_in_"] = self.feature_names_in_
        if Xt.shape[0] < 1:
            raise ValueError(f"Found array with 0 sample(s) (shape={tuple(Xt.shape)})")
        w = None
        if sample_weight is not None:
            sw = (
                sample_weight.detach().cpu().numpy()
                if isinstance(sample_weight, torch.Tensor)
                else np.asarray(sample_weight, dtype=np.float64)
            )
            if sw.ndim == 0:
                sw = np.full(Xt.shape[0], float(sw))
            sw = np.asarray(sw, dtype=np.float64).reshape(-1) if sw.ndim == 1 else sw
            if sw.ndim != 1 or sw.shape[0] != Xt.shape[0]:
                raise ValueError(
                    f"sample_weight should have shape ({Xt.shape[0]},), but got shape {sw.shape}"
                )
            if not np.all(np.isfinite(sw)) or np.any(sw < 0) or sw.sum() <= 0:
                raise ValueError(
                    "sample_weight should be finite, non-negative and not all zero, "
                    "but got sample_weight with negative, NaN, inf or only zero values"
                )
            w = torch.from_numpy(sw * (len(sw) / sw.sum())).to(dev, torch.float32)
        return Xt, yt, w, classes, fitted

    def _y_tensor(self, y_enc: np.ndarray, dev: torch.device) -> torch.Tensor:
        if self._kind == "multiclass":
            return torch.from_numpy(np.asarray(y_enc, dtype=np.int64)).to(dev)
        return torch.from_numpy(np.asarray(y_enc, dtype=np.float32).reshape(-1, 1)).to(dev)

    def _check_n_classes(self, classes: np.ndarray) -> None:
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {classes[0]!r}"
            )

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> _BaseTrainer:
        """Fit the model by minibatch gradient descent (or full-batch L-BFGS).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), DataFrame, tensor, \
TabularDataset, stream or DataLoader
            Training features; or a :class:`~tabloader.datasets.TabularDataset` with
            encoded targets; or a stream (:class:`~tabloader.datasets.ParquetStream`,
            :class:`~tabloader.datasets.CsvStream`: its own batch size, order and
            sharding apply, ``batch_size``/``shuffle`` here do not); or a DataLoader
            yielding ``(X, y)`` batches (then ``y`` must be ``None``; classes are the
            class indices or labels it yields). Streams and loaders get their
            standardisation statistics from one extra, exact pass.
        y : array-like of shape (n_samples,), optional
            Targets (any label type for the classifiers).
        sample_weight : array-like of shape (n_samples,), optional
            Per-row weights: the loss is the weighted mean ``sum(s_i l_i) / sum(s_i)``.

        Returns
        -------
        self
        """
        warm = bool(self.warm_start) and hasattr(self, "coef_")
        previous = {k: self.__dict__[k] for k in _FITTED if k in self.__dict__}
        if not self.warm_start:
            for name in _FITTED:
                self.__dict__.pop(name, None)
        try:
            p = self._validated_params()
            p["dist"] = self._distributed_context(p)
            if _is_stream(X):
                # a tabloader stream: its own batch size, order and sharding
                from tabloader.loaders import make_loader

                X = make_loader(X)
            if isinstance(X, DataLoader):
                if y is not None or sample_weight is not None:
                    raise ValueError(
                        "y and sample_weight should be None when X is a DataLoader, "
                        "but got a value for them"
                    )
                result = self._fit_loader(X, p, warm)
            else:
                result = self._fit_arrays(X, y, sample_weight, p, warm)
        except BaseException:
            # no partial model: drop what validation set; warm starts keep the old fit
            for name in _FITTED:
                self.__dict__.pop(name, None)
            if self.warm_start:
                self.__dict__.update(previous)
            raise
        # only now, when everything succeeded, do the fitted attributes appear
        for name in _FITTED:
            self.__dict__.pop(name, None)
        self.__dict__.update(result)
        return self

    def _distributed_context(self, p):
        """The process group's context (None: train alone); rank 0's seed for all."""
        if p["distributed"] is False:
            return None
        ctx = get_context(p["device"])
        if ctx is None:
            if p["distributed"] is True:
                raise ValueError(
                    "distributed=True needs an initialised torch.distributed process "
                    "group with several ranks (or a launch by torchrun), but found none"
                )
            return None
        p["seed"] = ctx.broadcast_seed(p["seed"])
        return ctx

    def _make_core(
        self, p, n_features, n_outputs, penalty_scale, warm, mean, scale, y_mean=0.0, y_scale=1.0
    ):
        core = LinearCore(
            self._kind,
            n_features,
            n_outputs,
            optimizer="adam" if p["optimizer"] == "lbfgs" else p["optimizer"],
            lr=p["lr"],
            momentum=p["momentum"],
            alpha=p["alpha"],
            fit_intercept=p["fit_intercept"],
            penalty_scale=penalty_scale,
            implicit_penalty=True,
            device=p["device"],
        )
        if warm:
            coef, intercept = self._raw_params()
            if coef.shape[0] != n_features:
                raise ValueError(
                    f"X has {n_features} features, but {type(self).__name__} was fitted with "
                    f"{coef.shape[0]} features (warm_start=True)"
                )
            if intercept.shape[0] != n_outputs:
                raise ValueError(
                    "warm_start=True needs the same classes as the previous fit, "
                    f"but got {n_outputs} outputs instead of {intercept.shape[0]}"
                )
            # raw W, b -> standardised space: W_s = W * scale, b_s = b + mean @ W
            Ws = coef * scale[:, None] / y_scale
            bs = (intercept + mean @ coef - y_mean) / y_scale
            core.set_params(
                torch.from_numpy(Ws.astype(np.float32)), torch.from_numpy(bs.astype(np.float32))
            )
        elif p["init"] == "torch":
            g = torch.Generator().manual_seed(p["seed"])
            bound = 1.0 / math.sqrt(n_features) if n_features else 0.0
            Wi = (torch.rand(n_outputs, n_features, generator=g) * 2 - 1) * bound
            bi = (torch.rand(n_outputs, generator=g) * 2 - 1) * bound
            if not p["fit_intercept"]:
                bi.zero_()
            core.set_params(Wi.t(), bi)
        return core

    def _target_stats(self, y, w, p) -> tuple[float, float]:
        """Regression with ``standardize``: optimise on ``(y - mean) / std``.

        The objective only changes by the constant factor ``std**2`` (the penalty on
        the raw coefficients scales the same way), so its minimiser is unchanged.
        """
        if self._kind != "regression" or not p["standardize"]:
            return 0.0, 1.0
        yd = y.double().view(-1)
        wd = torch.ones_like(yd) if w is None else w.double()
        wd = wd / wd.sum()
        m = float((yd * wd).sum()) if p["fit_intercept"] else 0.0
        sd = math.sqrt(float((((yd - m) ** 2) * wd).sum()))
        if not sd > 1e-12 * max(1.0, abs(m)):
            sd = 1.0
        return m, sd

    def _standardize_stats(self, X, w, p):
        n_f = X.shape[1]
        if not p["standardize"]:
            return np.zeros(n_f), np.ones(n_f)
        if w is None:
            # two passes over row chunks: float32 sums per chunk, float64 across
            # chunks (X.mean(0, dtype=float64) and a full-size temporary are 10x slower)
            n = X.shape[0]
            chunks = [(s, min(n, s + _STATS_CHUNK)) for s in range(0, n, _STATS_CHUNK)]
            mean = sum(X[s:e].sum(0).double() for s, e in chunks) / n
            m32 = mean.float()
            buf = torch.empty(min(n, _STATS_CHUNK), X.shape[1], device=X.device)
            var = torch.zeros(X.shape[1], dtype=torch.float64, device=X.device)
            for s, e in chunks:
                c = torch.sub(X[s:e], m32, out=buf[: e - s])
                var += c.mul_(c).sum(0).double()
            var /= n
        else:
            wd = w.double() / w.double().sum()
            mean = (X.double() * wd[:, None]).sum(0)
            var = (((X.double() - mean) ** 2) * wd[:, None]).sum(0)
        mean = mean.cpu().numpy()
        std = np.sqrt(var.cpu().numpy())
        std[~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
        if not p["fit_intercept"]:
            mean = np.zeros_like(mean)
        return mean, std

    def _fit_arrays(self, X, y, sample_weight, p, warm):
        Xt, yt, w, classes, fitted = self._prepare(X, y, sample_weight, p)
        dev = p["device"]
        if p["dist"] is not None:
            # every rank holds the whole table; make_loader gives each its shard
            p["dist"].check_consistent(
                data_signature(
                    X,
                    n_features=Xt.shape[1],
                    n_rows=Xt.shape[0],
                    feature_names=fitted.get("feature_names_in_"),
                    classes=classes,
                    task=self._kind,
                    checksum=float(Xt.sum(dtype=torch.float64))
                    + float(yt.sum(dtype=torch.float64)),
                )
            )
        n_outputs = self._n_outputs(None if classes is None else len(classes))
        if warm and self._kind != "regression" and not np.array_equal(classes, self.classes_):
            raise ValueError(
                f"warm_start=True needs the classes of the previous fit {list(self.classes_)}, "
                f"but got {list(classes)}"
            )
        # validation split (seeded), before the statistics
        Xv = yv = wv = None
        if p["validation_fraction"] is not None:
            n = Xt.shape[0]
            n_val = math.ceil(n * p["validation_fraction"])
            if n_val < 1 or n - n_val < 1:
                raise ValueError(
                    f"validation_fraction={p['validation_fraction']} leaves no training or no "
                    f"validation rows out of {n}"
                )
            g = torch.Generator().manual_seed(p["seed"] + 1)
            perm = torch.randperm(n, generator=g).to(dev)
            iv, itr = perm[:n_val], perm[n_val:]
            Xv, yv = Xt.index_select(0, iv), yt.index_select(0, iv)
            wv = None if w is None else w.index_select(0, iv)
            Xt, yt = Xt.index_select(0, itr), yt.index_select(0, itr)
            w = None if w is None else w.index_select(0, itr)
        mean, scale = self._standardize_stats(Xt, w, p)
        if p["standardize"]:
            m32 = torch.from_numpy(mean).to(dev, torch.float32)
            s32 = torch.from_numpy(scale).to(dev, torch.float32)
            Xs = (Xt - m32).div_(s32)
            Xvs = None if Xv is None else (Xv - m32).div_(s32)
            pscale = torch.from_numpy(1.0 / scale**2).to(torch.float32)
        else:
            Xs, Xvs, pscale = Xt, Xv, None
        y_mean, y_scale = self._target_stats(yt, w, p)
        if (y_mean, y_scale) != (0.0, 1.0):
            yt = (yt - y_mean) / y_scale
            yv = None if yv is None else (yv - y_mean) / y_scale
        core = self._make_core(
            p, Xs.shape[1], n_outputs, pscale, warm, mean, scale, y_mean, y_scale
        )
        factor = y_scale**2
        history: list[dict[str, float]] = []
        n_rows = Xs.shape[0]
        bs = resolve_batch_size(p["batch_size"], n_rows)
        theta64 = None
        if p["optimizer"] == "lbfgs":
            t0 = time.perf_counter()

            def cb(loss: float) -> None:
                rec = {"epoch": len(history) + 1, "train_loss": loss * factor}
                if Xvs is not None:
                    rec["val_loss"] = core.loss(Xvs, yv, wv) * factor
                rec["seconds"] = time.perf_counter() - t0
                history.append(rec)

            n_iter, converged, theta64 = lbfgs_fit(
                core,
                Xs,
                yt,
                w,
                max_iter=p["max_epochs"],
                tol=(p["tol"] or 0.0) * _LBFGS_TOL_FACTOR,
                callback=cb,
            )
            if Xvs is not None and history:
                # validation metric of the final model, on the last record
                history[-1]["val_metric"] = core.metric(Xvs, yv, wv)
            if not converged:
                warnings.warn(
                    f"L-BFGS did not converge in max_epochs={p['max_epochs']} iterations; "
                    "increase max_epochs",
                    ConvergenceWarning,
                    stacklevel=2,
                )
        else:
            tensors = (Xs, yt) if w is None else (Xs, yt, w)
            batches = self._epoch_source(tensors, bs, p)
            n_iter, converged = self._loop(
                core,
                batches,
                p,
                history,
                (Xs, yt, w),
                (Xvs, yv, wv) if Xvs is not None else None,
                factor=factor,
            )
        result = dict(fitted)
        result.update(self._finish(core, mean, scale, theta64, classes, dev, y_mean, y_scale))
        result["n_iter_"] = n_iter
        result["history_"] = history
        result["converged_"] = converged
        return result

    def _epoch_source(self, tensors, bs, p):
        """A re-iterable of batches: tabloader's loader over the device-resident data."""
        from tabloader.loaders import make_loader

        ctx = p.get("dist")
        if bs >= tensors[0].shape[0] and not p["drop_last"]:
            # full batch: the whole data, no gather (order does not change the mean)
            if ctx is not None:  # this rank's share of it
                return [tuple(t[ctx.rank :: ctx.world_size].contiguous() for t in tensors)]
            return [tensors]
        shard = (
            {}
            if ctx is None
            else {"rank": ctx.rank, "world_size": ctx.world_size, "remainder": "uneven"}
        )
        ds = TensorDataset(*tensors)
        return make_loader(
            ds,
            batch_size=bs,
            shuffle=p["shuffle"],
            drop_last=p["drop_last"],
            seed=p["seed"] % (2**63),
            device=p["device"],
            **shard,
        )

    def _loop(self, core, batches, p, history, train, val, *, streaming=False, factor=1.0):
        best = math.inf
        no_improve = 0
        best_params = None
        tol = p["tol"]
        converged = False
        epoch = 0
        reductions = 0
        ctx = p.get("dist")
        loss = core.loss if ctx is None else functools.partial(ctx.loss, core)
        metric = core.metric if ctx is None else functools.partial(ctx.metric, core)
        # Polyak-Ruppert averaging (in-memory data): the average runs over epochs for
        # as long as it beats the last iterate; it restarts, leaving out the first
        # half of the epoch, when the iterate wins (the descent, not noise, dominates)
        averaging = p["average"] and not streaming
        restart_average = True
        steps = len(batches) if hasattr(batches, "__len__") else 0
        for epoch in range(1, p["max_epochs"] + 1):
            t0 = time.perf_counter()
            if averaging and restart_average:
                core.start_average(skip=int(steps * _AVERAGE_SKIP))
                restart_average = False
            bar = None
            cb = None
            if p["verbose"] and (ctx is None or ctx.is_main):
                from tqdm.auto import tqdm

                total = len(batches) if hasattr(batches, "__len__") else None
                bar = tqdm(total=total, desc=f"epoch {epoch}", leave=False)

                def cb(i, bar=bar):
                    bar.update(1)
                    if i % 50 == 0:
                        bar.set_postfix(loss=f"{core.running_loss():.5g}")

            track = streaming or bar is not None
            if ctx is None:
                steps = core.run_epoch(batches, track_loss=track, callback=cb)
            else:  # one all-reduce of the gradient per step
                steps = ctx.run_epoch(
                    core,
                    batches,
                    track_loss=track,
                    callback=cb,
                    drop_last=p["drop_last"] and not streaming,
                )
            if steps == 0:
                raise ValueError("the data yielded no batch (drop_last=True with too few rows?)")
            if streaming:
                train_loss = core.running_loss() * factor
            else:
                train_loss = loss(*train) * factor
                if averaging and core.avg_count > 1:
                    # continue from the average when it is the better point (it is
                    # when SGD noise, not the descent, limits the last iterate)
                    last = core.params.clone()
                    core.params.copy_(core.avg)
                    avg_loss = loss(*train) * factor
                    if avg_loss <= train_loss:
                        train_loss = avg_loss
                    else:
                        core.params.copy_(last)
                        restart_average = True
            if bar is not None:
                bar.set_postfix(loss=f"{train_loss:.5g}")
                bar.close()
            if not math.isfinite(train_loss):
                raise FloatingPointError(
                    f"the training loss diverged to {train_loss} at epoch {epoch}; "
                    f"lower lr (got lr={p['lr']}) or use standardize=True"
                )
            rec = {"epoch": epoch, "train_loss": train_loss}
            watch = train_loss
            if val is not None:
                rec["val_loss"] = loss(*val) * factor
                rec["val_metric"] = metric(*val)
                watch = rec["val_loss"]
            if p["device"].type == "cuda":
                torch.cuda.synchronize(p["device"])
            rec["seconds"] = time.perf_counter() - t0
            history.append(rec)
            if tol is not None:
                # losses are >= 0: "no improvement" is relative to the best so far
                if watch > best * (1.0 - tol):
                    no_improve += 1
                else:
                    no_improve = 0
                if watch < best:
                    best = watch
                    if val is not None:
                        best_params = core.params.clone()
                # patience: n_iter_no_change epochs but no more than _MAX_PATIENCE_ROWS rows
                # (an epoch of a big table is a long, precise check), and at least
                # _MIN_PATIENCE_STEPS steps (tiny data has few steps per epoch; momentum
                # oscillates over many)
                rows = core._loss_rows if streaming else train[0].shape[0]
                patience = min(p["n_iter_no_change"], math.ceil(_MAX_PATIENCE_ROWS / max(rows, 1)))
                if no_improve >= max(patience, math.ceil(_MIN_PATIENCE_STEPS / steps)):
                    if p["lr_schedule"] == "plateau" and reductions < _PLATEAU_REDUCTIONS:
                        reductions += 1
                        core.lr /= _PLATEAU_FACTOR
                        no_improve = 0
                        continue
                    converged = True
                    break
        if best_params is not None:
            core.params.copy_(best_params)
        if tol is not None and not converged:
            warnings.warn(
                f"Maximum number of epochs (max_epochs={p['max_epochs']}) reached before "
                "the loss stopped improving; increase max_epochs",
                ConvergenceWarning,
                stacklevel=3,
            )
        return epoch, converged

    def _fit_loader(self, loader, p, warm):
        """Fit from a DataLoader of (X, y) batches: standardisation from one pass.

        The pass merges per-batch float64 means and squared deviations (Chan et al.),
        so the statistics are exact and stable even for large offsets.
        """
        dev = p["device"]
        classes = None
        moments = _Moments()
        n_features = None
        max_label = -1
        for batch in loader:
            Xb, yb = batch[0], batch[1]
            Xb = torch.as_tensor(Xb)
            if Xb.ndim != 2:
                raise ValueError(
                    f"the loader should yield 2-D X batches, but got {tuple(Xb.shape)}"
                )
            _check_finite_tensor("X", Xb)
            if n_features is None:
                n_features = Xb.shape[1]
            elif Xb.shape[1] != n_features:
                raise ValueError(
                    f"the loader's batches should all have {n_features} features, "
                    f"but got {Xb.shape[1]}"
                )
            cols = Xb.detach().double().cpu()
            yb = torch.as_tensor(yb)
            if self._kind != "regression":
                if yb.dtype.is_floating_point and not bool((yb == yb.round()).all()):
                    raise ValueError(
                        "the loader's y should hold class indices 0..K-1, but got "
                        "non-integer values"
                    )
                if yb.numel() and int(yb.min()) < 0:
                    raise ValueError("the loader's y should hold class indices >= 0")
                max_label = max(max_label, int(yb.max()) if yb.numel() else -1)
            else:
                _check_finite_tensor("y", yb)
                cols = torch.cat([cols, yb.detach().double().cpu().reshape(-1, 1)], dim=1)
            moments.add(cols)
        ds = getattr(loader, "dataset", None)
        ctx = p["dist"]
        if ctx is not None:
            # each rank read its own shard: check, then merge the statistics
            ctx.check_consistent(
                data_signature(
                    loader if ds is None else ds,
                    n_features=-1 if n_features is None else n_features,
                    feature_names=getattr(ds, "feature_names", None),
                    classes=getattr(ds, "classes_", None),
                    task=self._kind,
                )
            )
            if n_features is not None:
                moments.all_reduce(ctx)
                max_label = int(ctx.max([max_label])[0])
        n = moments.n
        if n == 0:
            raise ValueError("the loader yielded no rows")
        if self._kind != "regression":
            classes = getattr(ds, "classes_", None)
            classes = np.arange(max_label + 1) if classes is None else np.asarray(classes)
            self._check_n_classes(classes)
        mean = moments.mean[:n_features].copy()
        var = moments.m2[:n_features] / n
        if p["standardize"]:
            scale = np.sqrt(var)
            scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
            if not p["fit_intercept"]:
                mean = np.zeros_like(mean)
        else:
            mean, scale = np.zeros(n_features), np.ones(n_features)
        y_mean, y_scale = 0.0, 1.0
        if self._kind == "regression" and p["standardize"]:
            y_mu, y_var = float(moments.mean[-1]), float(moments.m2[-1]) / n
            y_mean = y_mu if p["fit_intercept"] else 0.0
            # root mean square of y - y_mean: the std, or the RMS without an intercept
            y_scale = math.sqrt(y_var + (y_mu - y_mean) ** 2)
            if not y_scale > 1e-12 * max(1.0, abs(y_mean)):
                y_scale = 1.0
        n_outputs = self._n_outputs(None if classes is None else len(classes))
        pscale = torch.from_numpy(1.0 / scale**2).float() if p["standardize"] else None
        core = self._make_core(p, n_features, n_outputs, pscale, warm, mean, scale, y_mean, y_scale)
        m32 = torch.from_numpy(mean).to(dev, torch.float32)
        s32 = torch.from_numpy(scale).to(dev, torch.float32)
        kind = self._kind

        class _Batches:
            def __iter__(self_inner):
                for batch in loader:
                    Xb = torch.as_tensor(batch[0]).to(dev, torch.float32, non_blocking=True)
                    yb = torch.as_tensor(batch[1]).to(dev, non_blocking=True)
                    if p["standardize"]:
                        Xb = (Xb - m32).div_(s32)
                    if kind == "multiclass":
                        yb = yb.reshape(-1).long()
                    else:
                        yb = yb.reshape(-1, 1).float()
                    if (y_mean, y_scale) != (0.0, 1.0):
                        yb = (yb - y_mean) / y_scale
                    yield Xb, yb

            def __len__(self_inner):
                return len(loader)

        if p["optimizer"] == "lbfgs":
            raise ValueError(
                "optimizer='lbfgs' needs the full data in memory; pass arrays or a "
                "TabularDataset, but got a DataLoader"
            )
        history: list[dict[str, float]] = []
        n_iter, converged = self._loop(
            core, _Batches(), p, history, None, None, streaming=True, factor=y_scale**2
        )
        result = {"n_features_in_": int(n_features)}
        names = getattr(ds, "feature_names", None)
        if names is not None and len(names) == n_features:
            result["feature_names_in_"] = np.asarray(names, dtype=object)
        result.update(self._finish(core, mean, scale, None, classes, dev, y_mean, y_scale))
        result["n_iter_"] = n_iter
        result["history_"] = history
        result["converged_"] = converged
        return result

    def _finish(self, core, mean, scale, theta64, classes, dev, y_mean=0.0, y_scale=1.0):
        """Raw-space coefficients from the standardised-space parameters."""
        P = theta64 if theta64 is not None else core.params.double().cpu().numpy()
        f = core.n_features
        Ws, bs = P[:f], P[f]
        W = Ws * (y_scale / scale[:, None])  # [F, K]
        b = bs * y_scale + y_mean - mean @ W
        if not core.fit_intercept:
            b = np.zeros_like(b)
        model = torch.nn.Linear(f, core.n_outputs, bias=core.fit_intercept)
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(W.T.copy()))
            if core.fit_intercept:
                model.bias.copy_(torch.from_numpy(b))
        out = self._coef_shapes(W, b)
        out.update(
            model_=model.to(dev),
            mean_=mean,
            scale_=scale,
            device_=str(dev),
        )
        if classes is not None:
            out["classes_"] = classes
        return out

    def _coef_shapes(self, W: np.ndarray, b: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def _raw_params(self) -> tuple[np.ndarray, np.ndarray]:
        """``coef`` ``[F, K]`` and ``intercept`` ``[K]`` of the fitted model."""
        coef = np.atleast_2d(np.asarray(self.coef_, dtype=np.float64))
        return coef.T.copy(), np.atleast_1d(np.asarray(self.intercept_, dtype=np.float64))

    # ------------------------------------------------------------------ core reuse
    def to_core(self, device: Any = "cpu") -> LinearCore:
        """A :class:`LinearCore` holding the fitted raw-space parameters.

        It evaluates ``loss(X, y)`` on raw features and can continue training
        (for example one ``run_epoch`` per rank in distributed training).
        """
        check_is_fitted(self)
        coef, intercept = self._raw_params()
        core = LinearCore(
            self._kind,
            coef.shape[0],
            coef.shape[1],
            optimizer="adam" if self.optimizer == "lbfgs" else self.optimizer,
            lr=float(self.lr),
            momentum=float(self.momentum),
            alpha=float(self.alpha),
            fit_intercept=bool(self.fit_intercept),
            device=device,
        )
        core.set_params(torch.from_numpy(coef).float(), torch.from_numpy(intercept).float())
        return core

    # ------------------------------------------------------------------ predict
    def _validate_X_predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if isinstance(X, TabularDataset):
            # by name, so that a dataset with other columns is caught, not mispredicted
            import pandas as pd

            X = pd.DataFrame(X.features.detach().cpu().numpy(), columns=X.feature_names)
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def _raw_scores(self, X: Any) -> np.ndarray:
        Xn = np.asarray(self._validate_X_predict(X), dtype=np.float64)
        coef, intercept = self._raw_params()
        return Xn @ coef + intercept

    def loss(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The training objective (mean loss + ``alpha / 2 * ||coef||^2``) on ``(X, y)``.

        Computed in float64 with the fitted raw-space coefficients.
        """
        Z = self._raw_scores(X)
        y = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        li = self._per_row_loss(Z, y)
        mean = float(np.average(li, weights=w))
        coef, _ = self._raw_params()
        return mean + 0.5 * float(self.alpha) * float((coef**2).sum())

    # ------------------------------------------------------------------ save/load
    def save(self, path: Any, *, metadata: dict | None = None) -> None:
        """Write the fitted model to one file, atomically (see :func:`tabloader.trainers.load`).

        ``metadata`` (a JSON-serialisable dict) is stored too and comes back as the
        loaded estimator's ``metadata_``.
        """
        from tabloader.trainers._io import save_model

        save_model(self, path, metadata=metadata)

    @classmethod
    def load(cls, path: Any):
        """Read a model written by :meth:`save`; refuses any other file."""
        from tabloader.trainers._io import load_model

        est = load_model(path)
        if not isinstance(est, cls):
            from tabloader.errors import ModelFileError

            raise ModelFileError(
                f"{path} holds a {type(est).__name__}, not a {cls.__name__}; "
                "use tabloader.trainers.load to read any model"
            )
        return est


# ---------------------------------------------------------------------- regressor
class LinearRegressor(RegressorMixin, _BaseTrainer):
    """Linear regression (mean squared error) trained by minibatch gradient descent.

    Minimises ``mean_i s_i (y_i - x_i.w - b)^2 / mean(s) + alpha / 2 * ||w||^2``
    (the intercept is not penalised), the objective of scikit-learn's
    :class:`~sklearn.linear_model.Ridge` with ``alpha_ridge = alpha * sum(s) / 2``
    (``LinearRegression`` when ``alpha=0``).

    Parameters
    ----------
    lr : float, default=0.03
        Learning rate (initial, see ``lr_schedule``).
    max_epochs : int, default=1000
        Most passes over the data (L-BFGS: iterations); early stopping usually ends
        training much sooner.
    batch_size : int, "auto" or None, default="auto"
        Rows per step; ``None`` is the full batch (one step per epoch). ``"auto"`` is
        256, or 1024 from 262,144 training rows on, where the per-step overhead of
        small batches dominates and one epoch of 1024-row steps already gets within
        0.1% of the optimum (see the benchmark).
    optimizer : {"adam", "sgd", "lbfgs"}, default="adam"
        ``"lbfgs"`` solves the full-batch problem with SciPy's L-BFGS-B in float64.
    momentum : float, default=0.9
        SGD momentum (``torch.optim.SGD`` semantics); ignored by Adam and L-BFGS.
    lr_schedule : {"plateau", "constant"}, default="plateau"
        ``"plateau"``: when the watched loss has not improved for the patience, divide
        the learning rate by 5 (at most 3 times) before stopping; ``"constant"``:
        stop at the first plateau.
    alpha : float, default=0.0
        L2 strength on the coefficients.
    fit_intercept : bool, default=True
        Learn an intercept.
    init : {"zeros", "torch"}, default="zeros"
        Zero initialisation, or ``nn.Linear``'s default (uniform in
        ``±1/sqrt(n_features)``) seeded by ``random_state``.
    standardize : bool, default=True
        Optimise on standardised features (better conditioning); ``coef_``,
        ``intercept_``, predictions and the objective stay in the raw feature space.
    shuffle : bool, default=True
        New row order every epoch.
    drop_last : bool, default=False
        Drop the last short batch of each epoch.
    random_state : int, RandomState or None, default=None
        Seed of the shuffling, the validation split and ``init="torch"``.
    tol : float or None, default=1e-4
        A plateau is ``n_iter_no_change`` epochs (and at least 100 steps) in which the
        watched loss did not fall below ``best * (1 - tol)``; ``None`` runs all
        ``max_epochs`` with a constant learning rate. For L-BFGS: stop when the
        gradient's max-norm (in the solver's standardised, preconditioned
        coordinates) is below ``tol / 100``.
    n_iter_no_change : int, default=5
        Patience of the early stopping, in epochs; on big data at most the epochs
        that see 1,000,000 rows (one epoch of a 1M-row table is a precise check).
    validation_fraction : float or None, default=None
        Hold out this fraction (seeded) and watch its loss instead of the training
        loss; the best epoch's parameters are kept.
    device : str or torch.device, default="auto"
        ``"auto"`` is CUDA when available, else the CPU. The data is moved there once.
    verbose : bool, default=False
        A tqdm progress bar per epoch with the running loss.
    warm_start : bool, default=False
        Start from the previous fit's coefficients.
    distributed : {"auto", True, False}, default="auto"
        Data-parallel training over an initialised ``torch.distributed`` process
        group, or when launched by ``torchrun`` (the group is then created: gloo on
        the CPU, NCCL with CUDA). Every rank passes the whole table and trains on
        its shard of each epoch (``batch_size`` rows per rank and step; one
        all-reduce of the gradient per step), giving the weights of one process
        with ``batch_size * world_size``. ``False`` trains alone on this process;
        ``True`` fails without a process group. See ``docs/distributed.md``.
    average : bool, default=True
        Polyak-Ruppert averaging (SGD/Adam on in-memory data): the mean of the
        iterates, from the second half of an epoch on, is kept across epochs while
        its training loss beats the last iterate's, and training continues from it;
        otherwise the average restarts. For these convex losses it removes the noise
        floor of minibatch steps at a constant ``lr``. With one step per epoch
        (``batch_size=None``) it changes nothing; ``False`` keeps the plain iterates.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on named columns.
    n_iter_ : int
        Epochs run (L-BFGS: iterations).
    history_ : list of dict
        Per epoch: ``train_loss``, ``val_loss`` and ``val_metric`` (when validating),
        ``seconds``.
    model_ : torch.nn.Linear
        The fitted model in raw feature space.
    mean_, scale_ : ndarray
        Standardisation statistics (zeros and ones without standardisation).
    """

    _kind = "regression"
    _kind_tasks = ("regression",)

    def _encode_y(self, y):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"y should be numeric for regression, but got dtype {y.dtype}")
        y = y.astype(np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        return y, None

    def _coef_shapes(self, W, b):
        return {"coef_": W[:, 0].copy(), "intercept_": float(b[0])}

    def _per_row_loss(self, Z, y):
        return (Z[:, 0] - np.asarray(y, dtype=np.float64).reshape(-1)) ** 2

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values, shape ``(n_samples,)``."""
        return self._raw_scores(X)[:, 0]

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """R^2 of the predictions (``y`` defaults to a TabularDataset's own targets)."""
        y = _score_targets(X, y)
        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))


# ---------------------------------------------------------------------- classifiers
AUTO_BATCH_LARGE_FROM = 1 << 18


def resolve_batch_size(batch_size: int | str | None, n_rows: int) -> int:
    """The rows per step that ``batch_size`` means for ``n_rows`` training rows."""
    if batch_size is None:
        return max(n_rows, 1)
    if batch_size == "auto":
        batch_size = 1024 if n_rows >= AUTO_BATCH_LARGE_FROM else 256
    return max(1, min(int(batch_size), n_rows))


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


class _ClassifierBase(ClassifierMixin, _BaseTrainer):
    def _encode_y(self, y):
        y = np.asarray(y)
        if y.ndim != 1:
            y = y.reshape(-1)
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        if not _small_nonneg_ints(y):  # integer labels are class labels by construction
            check_classification_targets(y)
        classes, y_enc = _unique_inverse(y)
        self._check_n_classes(classes)
        return y_enc, classes

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels (from ``classes_``)."""
        Z = self._raw_scores(X)
        idx = (Z[:, 0] > 0).astype(np.intp) if Z.shape[1] == 1 else Z.argmax(1)
        return self.classes_[idx]

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Accuracy. Labels never seen in ``fit`` raise a ``ValueError``.

        ``y`` defaults to a TabularDataset's own targets (as labels).
        """
        y = np.asarray(_score_targets(X, y))
        check_is_fitted(self)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels not seen during fit: {unseen.tolist()}; "
                f"the fitted classes are {self.classes_.tolist()}"
            )
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    def _per_row_loss(self, Z, y):
        y = np.asarray(y).reshape(-1)
        idx = np.searchsorted(self.classes_, y)
        if np.any(idx >= len(self.classes_)) or np.any(
            self.classes_[np.minimum(idx, len(self.classes_) - 1)] != y
        ):
            raise ValueError("y contains labels not seen during fit")
        if Z.shape[1] == 1:
            z = Z[:, 0]
            return np.logaddexp(0.0, z) - idx * z
        m = Z.max(1, keepdims=True)
        lse = (m + np.log(np.exp(Z - m).sum(1, keepdims=True)))[:, 0]
        return lse - Z[np.arange(len(idx)), idx]


class LogisticClassifier(_ClassifierBase):
    """Binary logistic regression (sigmoid + cross-entropy from logits), trained by SGD/Adam.

    Minimises ``sum_i s_i log(1 + exp(-t_i z_i)) / sum(s) + alpha / 2 * ||w||^2``, the
    objective of scikit-learn's :class:`~sklearn.linear_model.LogisticRegression` with
    ``C = 1 / (alpha * sum(s))`` (no penalty, ``C=np.inf``, when ``alpha=0``).
    Parameters are those of :class:`LinearRegressor`.

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    classes_ : ndarray of shape (2,)
        The two labels (any type); ``classes_[1]`` is the positive class.
    n_features_in_, feature_names_in_, n_iter_, history_, model_, mean_, scale_
        As for :class:`LinearRegressor`; ``history_`` records accuracy as ``val_metric``.
    """

    _kind = "binary"
    _kind_tasks = ("binary",)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _check_n_classes(self, classes):
        super()._check_n_classes(classes)
        if len(classes) > 2:
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"multiclass: LogisticClassifier needs exactly 2 classes, but got "
                f"{len(classes)} classes; use SoftmaxClassifier for multiclass targets"
            )

    def _coef_shapes(self, W, b):
        return {"coef_": W.T.copy(), "intercept_": b.copy()}

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits of the positive class ``classes_[1]``, shape ``(n_samples,)``."""
        return self._raw_scores(X)[:, 0]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, 2)``."""
        z = self.decision_function(X)
        p1 = np.exp(-np.logaddexp(0.0, -z))
        return np.column_stack([1.0 - p1, p1])

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log class probabilities, shape ``(n_samples, 2)``."""
        z = self.decision_function(X)
        return np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])


class SoftmaxClassifier(_ClassifierBase):
    """Multinomial logistic regression (softmax + cross-entropy), trained by SGD/Adam.

    Minimises ``sum_i s_i (logsumexp(z_i) - z_{i,y_i}) / sum(s) + alpha / 2 * ||W||_F^2``,
    scikit-learn's multinomial :class:`~sklearn.linear_model.LogisticRegression`
    objective with ``C = 1 / (alpha * sum(s))`` (``C=np.inf`` when ``alpha=0``).
    Parameters are those of :class:`LinearRegressor`.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features)
        One row per class, also for 2 classes.
    intercept_ : ndarray of shape (n_classes,)
    classes_ : ndarray of shape (n_classes,)
    n_features_in_, feature_names_in_, n_iter_, history_, model_, mean_, scale_
        As for :class:`LinearRegressor`.
    """

    _kind = "multiclass"
    _kind_tasks = ("binary", "multiclass")

    def _n_outputs(self, n_classes):
        return int(n_classes)

    def _coef_shapes(self, W, b):
        return {"coef_": W.T.copy(), "intercept_": b.copy()}

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``(n_samples, n_classes)``; for 2 classes ``z_1 - z_0``, shape ``(n_samples,)``."""
        Z = self._raw_scores(X)
        return Z[:, 1] - Z[:, 0] if Z.shape[1] == 2 else Z

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log-softmax of the logits, ``(n_samples, n_classes)``."""
        Z = self._raw_scores(X)
        m = Z.max(1, keepdims=True)
        return Z - (m + np.log(np.exp(Z - m).sum(1, keepdims=True)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the logits, ``(n_samples, n_classes)``."""
        return np.exp(self.predict_log_proba(X))
