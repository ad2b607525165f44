"""Minibatch gradient-descent trainers with a scikit-learn interface.

:class:`LinearRegressor`, :class:`LogisticClassifier` and :class:`SoftmaxClassifier`
train linear models with closed-form gradients through tabloader's loaders;
:class:`LinearCore` is the reusable functional core (one step, one epoch, the loss).
"""

from tabloader.trainers._base import LinearRegressor, LogisticClassifier, SoftmaxClassifier
from tabloader.trainers._compare import compare, sklearn_equivalent
from tabloader.trainers._core import LinearCore, iter_batches, lbfgs_fit
from tabloader.trainers._io import load_model as load
from tabloader.trainers._io import save_model as save

__all__ = [
    "LinearCore",
    "LinearRegressor",
    "LogisticClassifier",
    "SoftmaxClassifier",
    "compare",
    "iter_batches",
    "lbfgs_fit",
    "load",
    "save",
    "sklearn_equivalent",
]
