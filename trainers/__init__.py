"""Minibatch gradient-descent trainers with a scikit-learn interface.

:class:`LinearRegressor`, :class:`LogisticClassifier` and :class:`SoftmaxClassifier`
train linear models with closed-form gradients through tabloader's loaders;
:class:`LinearCore` is the reusable functional core (one step, one epoch, the loss).
"""

from tabloader.trainers._base import (
    LinearRegressor,
    LogisticClassifier,
    SoftmaxClassifier,
    resolve_batch_size,
)
from tabloader.trainers._compare import compare, sklearn_equivalent
from tabloader.trainers._core import LinearCore, iter_batches, lbfgs_fit
from tabloader.trainers._distributed import (
    DistributedContext,
    init_distributed,
    is_main_process,
    shutdown_distributed,
)
from tabloader.trainers._io import load_model as load
from tabloader.trainers._io import save_model as save

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
