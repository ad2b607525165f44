"""The scikit-learn estimators: thin glue over the fit path (:mod:`._fit`).

Each estimator stores its constructor arguments, validates them in ``fit``
(:func:`~tabloader.trainers._params.validate_params`), hands the data to
:func:`~tabloader.trainers._fit.fit_model`, and predicts with the raw-space
coefficients; losses and metrics come from :mod:`._losses`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.validation import check_is_fitted, validate_data

from tabloader.datasets import TabularDataset
from tabloader.errors import ModelFileError
from tabloader.trainers import _losses
from tabloader.trainers._core import LinearCore
from tabloader.trainers._data import Task, score_targets, table_size
from tabloader.trainers._fit import FitResult, WarmStart, fit_model
from tabloader.trainers._io import ModelState, damaged, raw_params, read_model, save_model
from tabloader.trainers._params import limit_threads, validate_params
from tabloader.trainers._validation import Validation

__all__ = ["BaseTrainer", "LinearRegressor", "LogisticClassifier", "SoftmaxClassifier", "load"]

# fmt: off
FITTED = (
    "coef_", "intercept_", "classes_", "n_features_in_", "feature_names_in_", "n_iter_",
    "history_", "model_", "mean_", "scale_", "device_", "converged_", "metadata_",
)
# fmt: on


def _module(coef: np.ndarray, intercept: np.ndarray, fit_intercept: bool) -> torch.nn.Linear:
    """``torch.nn.Linear`` with raw ``coef`` ``[F, K]`` and ``intercept`` ``[K]``."""
    model = torch.nn.Linear(coef.shape[0], coef.shape[1], bias=fit_intercept)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(coef.T.copy()))
        if fit_intercept and model.bias is not None:
            model.bias.copy_(torch.from_numpy(intercept))
    return model


class BaseTrainer(BaseEstimator):
    """Shared parameters, ``fit``, ``loss`` and ``save``; subclasses set ``_kind``."""

    _kind = "regression"
    _kind_tasks: tuple[str, ...] = ("regression",)

    def __init__(
        self,
        *,
        lr: float = 0.03,
        max_epochs: int = 1000,
        batch_size: int | str | None = "auto",
        optimizer: str = "auto",
        momentum: float = 0.9,
        lr_schedule: str = "plateau",
        alpha: float = 1e-4,
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

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        tags.non_deterministic = False
        return tags

    @property
    def task(self) -> Task:
        """What this estimator learns (loss kind, accepted dataset tasks)."""
        return Task(self._kind, self._kind_tasks, type(self).__name__)

    # ------------------------------------------------------------------ fitted state
    def _fitted(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k in FITTED}

    def _clear_fitted(self) -> None:
        for name in FITTED:
            if name in vars(self):
                delattr(self, name)

    def _set_fitted(self, attrs: dict[str, Any]) -> None:
        self._clear_fitted()
        for name, value in attrs.items():
            setattr(self, name, value)

    def _coef_shapes(self, W: np.ndarray, b: np.ndarray) -> dict[str, Any]:
        return {"coef_": W.T.copy(), "intercept_": b.copy()}

    def _attributes(self, res: FitResult) -> dict[str, Any]:
        out = self._coef_shapes(res.coef, res.intercept)
        if res.classes is not None:
            out["classes_"] = res.classes
        out["n_features_in_"] = int(res.n_features)
        if res.feature_names is not None:
            out["feature_names_in_"] = res.feature_names
        model = _module(res.coef, res.intercept, bool(self.fit_intercept)).to(res.device)
        out.update(
            n_iter_=res.n_iter,
            history_=res.history,
            converged_=res.converged,
            model_=model,
            mean_=res.mean,
            scale_=res.scale,
            device_=str(res.device),
        )
        return out

    def _restore(self, state: ModelState) -> None:
        """Become the fitted model a file holds (see :func:`load`)."""
        attrs = self._coef_shapes(state.coef, state.intercept)
        if state.classes is not None:
            attrs["classes_"] = state.classes
        attrs["n_features_in_"] = state.n_features_in
        if state.feature_names is not None:
            attrs["feature_names_in_"] = state.feature_names
        attrs.update(
            n_iter_=state.n_iter,
            history_=state.history,
            mean_=state.mean,
            scale_=state.scale,
            device_="cpu",
            converged_=None,
            metadata_=state.user,
            model_=_module(state.coef, state.intercept, bool(self.fit_intercept)),
        )
        self._set_fitted(attrs)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        X_val: Any = None,
        y_val: Any = None,
        sample_weight_val: Any = None,
    ) -> BaseTrainer:
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
            standardisation statistics from one extra, exact pass (over a copy of a
            stream: its position, a resumed epoch, stays for training).
        y : array-like of shape (n_samples,), optional
            Targets (any label type for the classifiers).
        sample_weight : array-like of shape (n_samples,), optional
            Per-row weights: the loss is the weighted mean ``sum(s_i l_i) / sum(s_i)``.
        X_val, y_val, sample_weight_val : optional
            A validation set in memory (arrays, a DataFrame, a tensor, or a
            TabularDataset with ``y_val=None``), as ``validation_fraction``'s split:
            ``history_`` records its ``val_loss`` and ``val_metric`` every epoch, the
            stopping rule watches its loss, the best epoch is kept. Not with
            ``validation_fraction``.

        Returns
        -------
        self
        """
        warm = None
        if bool(self.warm_start) and hasattr(self, "coef_"):
            coef, intercept = raw_params(self)
            warm = WarmStart(coef, intercept, getattr(self, "classes_", None))
        previous = self._fitted()
        if not self.warm_start:
            self._clear_fitted()
        try:
            params = validate_params(self)
            with limit_threads(*table_size(X), params.device):  # the data preparation
                val = Validation.of(X_val, y_val, sample_weight_val)
                result = fit_model(self, self.task, X, y, sample_weight, params, warm, val)
        except BaseException:
            # no partial model: drop what validation set; warm starts keep the old fit
            self._clear_fitted()
            if self.warm_start:
                self._set_fitted(previous)
            raise
        # only now, when everything succeeded, do the fitted attributes appear
        self._set_fitted(self._attributes(result))
        return self

    # ------------------------------------------------------------------ core reuse
    def to_core(self, device: Any = "cpu") -> LinearCore:
        """A :class:`LinearCore` holding the fitted raw-space parameters.

        It evaluates ``loss(X, y)`` on raw features and can continue training
        (for example one ``run_epoch`` per rank in distributed training).
        """
        check_is_fitted(self)
        coef, intercept = raw_params(self)
        core = LinearCore(
            self._kind,
            coef.shape[0],
            coef.shape[1],
            optimizer="adam" if self.optimizer in ("lbfgs", "auto") else self.optimizer,
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
        if isinstance(X, (torch.utils.data.DataLoader, torch.utils.data.IterableDataset)):
            raise TypeError(
                "X should be an array, a DataFrame, a tensor or a TabularDataset to predict, "
                f"but got a {type(X).__name__}, which yields batches in its own order; predict "
                "on read_dataset(path, ...) (in memory), or batch by batch on DataFrames"
            )
        if isinstance(X, TabularDataset):
            # by name, so that a dataset with other columns is caught, not mispredicted
            import pandas as pd

            X = pd.DataFrame(X.features.detach().cpu().numpy(), columns=X.feature_names)
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def _raw_scores(self, X: Any) -> np.ndarray:
        Xn = np.asarray(self._validate_X_predict(X), dtype=np.float64)
        coef, intercept = raw_params(self)
        with limit_threads(Xn.shape[0], Xn.shape[1] * coef.shape[1], torch.device("cpu")):
            return Xn @ coef + intercept  # the thread rule for NumPy's BLAS too

    def _target_codes(self, y: Any) -> np.ndarray:
        return np.asarray(y, dtype=np.float64).reshape(-1)

    def loss(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The training objective (mean loss + ``alpha / 2 * ||coef||^2``) on ``(X, y)``.

        Computed in float64 with the fitted raw-space coefficients.
        """
        Z = self._raw_scores(X)
        y = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        coef, _ = raw_params(self)
        codes = self._target_codes(y)
        with limit_threads(Z.shape[0], Z.shape[1] * coef.shape[0], torch.device("cpu")):
            return _losses.objective(self._kind, Z, codes, w, coef, float(self.alpha))

    # ------------------------------------------------------------------ save/load
    def save(self, path: Any, *, metadata: dict | None = None) -> None:
        """Write the fitted model to one file, atomically (see :func:`tabloader.trainers.load`).

        ``metadata`` (a JSON-serialisable dict) is stored too and comes back as the
        loaded estimator's ``metadata_``.
        """
        save_model(self, path, metadata=metadata)

    @classmethod
    def load(cls, path: Any) -> Any:
        """Read a model written by :meth:`save`; refuses any other file."""
        est = load(path)
        if not isinstance(est, cls):
            raise ModelFileError(
                f"{path} holds a {type(est).__name__}, not a {cls.__name__}; "
                "use tabloader.trainers.load to read any model"
            )
        return est


# ---------------------------------------------------------------------- regressor
class LinearRegressor(RegressorMixin, BaseTrainer):
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
        256, or from 262,144 training rows on 1024 to 4096 (at least 200 steps an
        epoch), where the per-step overhead of small batches dominates and one epoch
        already gets within 0.1% of the optimum (see ``resolve_batch_size``).
    optimizer : {"auto", "adam", "sgd", "lbfgs"}, default="auto"
        ``"lbfgs"`` solves the full-batch problem with SciPy's L-BFGS-B in float64.
        ``"auto"``: ``"lbfgs"`` for in-memory tables under 100,000 training rows
        (``AUTO_LBFGS_ROWS``; milliseconds, and within ~1e-6 of the optimum), else
        ``"adam"`` (loaders, streams, distributed training and big tables).
    momentum : float, default=0.9
        SGD momentum (``torch.optim.SGD`` semantics); ignored by Adam and L-BFGS.
    lr_schedule : {"plateau", "constant"}, default="plateau"
        ``"plateau"``: when the watched loss has not improved for the patience, divide
        the learning rate by 5 (at most 3 times) before stopping; ``"constant"``:
        stop at the first plateau.
    alpha : float, default=1e-4
        L2 strength on the coefficients (scikit-learn's ``SGDClassifier`` default). It
        gives every table a finite, unique optimum: with ``alpha=0`` separable classes
        (iris, wine, digits) have none and the coefficients grow for as long as
        training runs. ``alpha=0`` is still accepted (the lecture's configuration).
    fit_intercept : bool, default=True
        Learn an intercept.
    init : {"zeros", "torch"}, default="zeros"
        Zero initialisation, or ``nn.Linear``'s default (uniform in
        ``±1/sqrt(n_features)``) seeded by ``random_state``.
    standardize : bool, default=True
        Optimise in preconditioned coordinates; ``coef_``, ``intercept_``, predictions
        and the objective stay in the raw feature space. Up to 2,048 features they are
        whitened (covariance eigenvalues floored at ``alpha``: the objective is
        unchanged), beyond standardised (see :mod:`tabloader.trainers._precond`).
    shuffle : bool, default=True
        New row order every epoch.
    drop_last : bool, default=False
        Drop the last short batch of each epoch.
    random_state : int, RandomState or None, default=None
        Seed of the shuffling, the validation split and ``init="torch"``.
    tol : float or None, default=1e-4
        The stopping rule on the objective: stop when the watched objective (the
        training objective -- on a fixed seeded subset of 65,536 rows for bigger
        tables -- or the held-out loss) changed by less than ``tol`` (relative, down
        or up) over the last epoch (the epochs of 100 steps on tiny data). A ``ConvergenceWarning``
        names the last relative decrease when ``max_epochs`` stops training first.
        ``None`` runs all ``max_epochs`` with a constant learning rate. For L-BFGS:
        stop when the gradient's max-norm (in the solver's preconditioned
        coordinates) is below ``tol / 100``.
    n_iter_no_change : int, default=5
        Epochs without a new best objective (the iterates oscillate) before
        ``lr_schedule`` divides the learning rate or stops; on big data at most the
        epochs that see 1,000,000 rows.
    validation_fraction : float or None, default=None
        Hold out this fraction (seeded) and watch its loss instead of the training
        loss; the best epoch's parameters are kept. (Or give ``fit`` an ``X_val``.)
    device : str or torch.device, default="auto"
        ``"auto"`` is CUDA when available, else the CPU. The data is moved there once.
        On the CPU, ``fit`` uses ``rows * features // 2**22`` intra-op threads (1 to
        ``torch.get_num_threads()``, restored after): see ``resolve_threads``.
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
        Per epoch: ``train_loss``, ``val_loss`` (the objective on the validation set)
        and ``val_metric`` (when validating), ``seconds``.
    model_ : torch.nn.Linear
        The fitted model in raw feature space.
    mean_, scale_ : ndarray
        Standardisation statistics (zeros and ones without standardisation).
    """

    _kind = "regression"
    _kind_tasks = ("regression",)

    def _coef_shapes(self, W: np.ndarray, b: np.ndarray) -> dict[str, Any]:
        return {"coef_": W[:, 0].copy(), "intercept_": float(b[0])}

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values, shape ``(n_samples,)``."""
        return self._raw_scores(X)[:, 0]

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """R^2 of the predictions (``y`` defaults to a TabularDataset's own targets)."""
        y = score_targets(X, y)
        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))


# ---------------------------------------------------------------------- classifiers
class _ClassifierBase(ClassifierMixin, BaseTrainer):
    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels (from ``classes_``)."""
        Z = self._raw_scores(X)
        idx = (Z[:, 0] > 0).astype(np.intp) if Z.shape[1] == 1 else Z.argmax(1)
        return self.classes_[idx]

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Accuracy. Labels never seen in ``fit`` raise a ``ValueError``.

        ``y`` defaults to a TabularDataset's own targets (as labels).
        """
        y = np.asarray(score_targets(X, y))
        check_is_fitted(self)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels not seen during fit: {unseen.tolist()}; "
                f"the fitted classes are {self.classes_.tolist()}"
            )
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    def _target_codes(self, y: Any) -> np.ndarray:
        """Class indices of labels ``y`` (a ValueError for labels not seen in fit)."""
        y = np.asarray(y).reshape(-1)
        idx = np.searchsorted(self.classes_, y)
        if np.any(idx >= len(self.classes_)) or np.any(
            self.classes_[np.minimum(idx, len(self.classes_) - 1)] != y
        ):
            raise ValueError("y contains labels not seen during fit")
        return idx


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

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

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


CLASSES: dict[str, type[BaseTrainer]] = {
    "LinearRegressor": LinearRegressor,
    "LogisticClassifier": LogisticClassifier,
    "SoftmaxClassifier": SoftmaxClassifier,
}


def load(path: Any) -> BaseTrainer:
    """Read a model written by ``estimator.save(path)`` (``torch.load(weights_only=True)``).

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
    state = read_model(path)
    try:
        est = CLASSES[state.class_name](**state.params)
        est._restore(state)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged(path, exc) from exc
    return est
