"""Minibatch gradient-descent trainers with a scikit-learn interface.

:class:`LinearRegressor`, :class:`LogisticClassifier` and :class:`SoftmaxClassifier`
train linear models with closed-form gradients through tabloader's loaders;
:class:`LinearCore` is the reusable functional core (one step, one epoch, the loss).

Layout (each module imports only those above it)::

    _losses      every loss, objective and metric formula (sufficient statistics)
    _params      the validated parameters (a frozen dataclass)
    _core        LinearCore: one step, one epoch, evaluation
    _lbfgs       full-batch L-BFGS
    _distributed process groups, the data-parallel epoch and reductions
    _loop        the epoch loop and its small parts (averaging, early stopping, ...)
    _data        inputs as tensors, target encoding, the pass over a loader
    _validation  fit's validation set (X_val, y_val) as tensors
    _fit         the one fit path: any input -> make_loader -> loop -> raw model
    _io          model files (no estimator import)
    _estimators  the scikit-learn estimators (thin glue) and load
    _compare     compare / sklearn_equivalent
"""

from tabloader.trainers._compare import compare, sklearn_equivalent
from tabloader.trainers._core import LinearCore, iter_batches
from tabloader.trainers._distributed import (
    DistributedContext,
    init_distributed,
    is_main_process,
    shutdown_distributed,
)
from tabloader.trainers._estimators import (
    LinearRegressor,
    LogisticClassifier,
    SoftmaxClassifier,
    load,
)
from tabloader.trainers._io import save_model as save
from tabloader.trainers._lbfgs import lbfgs_fit
from tabloader.trainers._params import resolve_batch_size

__all__ = [
    "DistributedContext",
    "LinearCore",
    "LinearRegressor",
    "LogisticClassifier",
    "SoftmaxClassifier",
    "compare",
    "init_distributed",
    "is_main_process",
    "iter_batches",
    "lbfgs_fit",
    "load",
    "resolve_batch_size",
    "save",
    "shutdown_distributed",
    "sklearn_equivalent",
]
