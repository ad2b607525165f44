"""scikit-learn's estimator checks over the three trainers, with their default parameters."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from tabloader.trainers import LinearRegressor, LogisticClassifier, SoftmaxClassifier

# Weighting a row by 2 and repeating it twice give the same objective (tested with
# lbfgs in test_trainers.py), but not the same iterates: on these small tables the
# defaults run L-BFGS (optimizer="auto"), which stops at its tolerance (gradient
# max-norm tol / 100 in its coordinates), 3e-8 to 5e-6 apart in the coefficients,
# where the check asks rtol=1e-7 (minibatch SGD/Adam would differ in their batches).
_SW_REASON = (
    "same objective, different iterates: L-BFGS stops at its tolerance, 3e-8 to 5e-6 "
    "apart (see test_trainers.py::test_sample_weight_equals_repetition_and_matches_sklearn)"
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
