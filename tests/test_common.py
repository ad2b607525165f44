"""scikit-learn's estimator checks over the three trainers, with their default parameters."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from tabloader.trainers import LinearRegressor, LogisticClassifier, SoftmaxClassifier

# Minibatch SGD/Adam shuffles rows and splits them into batches: weighting a row by 2
# and repeating it twice give the same objective (tested exactly with lbfgs in
# test_trainers.py) but not the same sequence of minibatches, hence not bitwise-close
# coefficients after a finite number of epochs.
_SW_REASON = (
    "same objective but different minibatch sequences: equal only at the optimum "
    "(see test_trainers.py::test_sample_weight_equals_repetition for the lbfgs check)"
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _expected_failed_checks(estimator):
    return {"check_sample_weight_equivalence_on_dense_data": _SW_REASON}


@parametrize_with_checks(
    [
        LinearRegressor(random_state=0),
        LogisticClassifier(random_state=0),
        SoftmaxClassifier(random_state=0),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
