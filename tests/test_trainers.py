"""Tests of tabloader.trainers: hand-written PyTorch loops and scikit-learn as oracles."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset

from tabloader.datasets import TabularDataset
from tabloader.errors import ModelFileError
from tabloader.trainers import (
    LinearCore,
    LinearRegressor,
    LogisticClassifier,
    SoftmaxClassifier,
    compare,
    load,
    sklearn_equivalent,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.usefixtures("one_torch_thread"),
]


MODELS = {
    "regression": LinearRegressor,
    "binary": LogisticClassifier,
    "multiclass": SoftmaxClassifier,
}


def _synthetic(kind: str, n: int = 300, f: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f)) * rng.uniform(0.5, 3.0, size=f) + rng.normal(size=f)
    w = rng.normal(size=(f, 3))
    Z = (X - X.mean(0)) / X.std(0) @ w
    if kind == "regression":
        y = Z[:, 0] * 2.0 + 1.0 + rng.normal(size=n)
    elif kind == "binary":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-Z[:, 0]))).astype(np.int64)
    else:
        y = (Z + rng.gumbel(size=(n, 3)) * 1.5).argmax(1)
    return X, y


def _real(kind: str, name: str | None = None):
    if kind == "regression":
        X, y = load_diabetes(return_X_y=True)
    elif kind == "binary":
        X, y = load_breast_cancer(return_X_y=True)
    else:
        X, y = (load_iris if name == "iris" else load_wine)(return_X_y=True)
    return StandardScaler().fit_transform(X), y


# ---------------------------------------------------------------------- the recipe
def _hand_loop(kind, X, y, lr, epochs, batch_size):
    """The lecture's loop: zero-initialised W and b, optim.SGD, F.* losses."""
    Xt = torch.as_tensor(X, dtype=torch.float32)
    k = 3 if kind == "multiclass" else 1
    W = torch.zeros(Xt.shape[1], k, requires_grad=True)
    b = torch.zeros(k, requires_grad=True)
    opt = torch.optim.SGD([W, b], lr=lr)
    if kind == "multiclass":
        yt = torch.as_tensor(y, dtype=torch.int64)
    else:
        yt = torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
    n = Xt.shape[0]
    bs = n if batch_size is None else batch_size
    for _ in range(epochs):
        for s in range(0, n, bs):
            xb, yb = Xt[s : s + bs], yt[s : s + bs]
            z = xb @ W + b
            if kind == "regression":
                loss = F.mse_loss(z, yb)
            elif kind == "binary":
                loss = F.binary_cross_entropy(torch.sigmoid(z), yb)
            else:
                loss = F.cross_entropy(z, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return W.detach().numpy().astype(np.float64), b.detach().numpy().astype(np.float64)


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("batch_size", [None, 64, 37])
def test_lecture_recipe_equals_hand_written_loop(kind, batch_size):
    X, y = _synthetic(kind, n=250)
    X = (X - X.mean(0)) / X.std(0)  # the recipe itself does not standardise
    lr, epochs = 0.05, 20
    # full batch: one step per epoch, so the default averaging is the identity; with
    # minibatches the recipe's per-step iterates need average=False
    extra = {} if batch_size is None else {"average": False}
    est = MODELS[kind](
        **extra,
        optimizer="sgd",
        momentum=0.0,
        init="zeros",
        batch_size=batch_size,
        shuffle=False,
        alpha=0.0,
        standardize=False,
        lr=lr,
        max_epochs=epochs,
        tol=None,
        device="cpu",
    ).fit(X, y)
    W, b = _hand_loop(kind, X, y, lr, epochs, batch_size)
    coef = np.atleast_2d(est.coef_)
    # float32 arithmetic in a different order: agreement to ~1e-6 relative, far
    # below the change of one step (lr * grad ~ 1e-2)
    np.testing.assert_allclose(coef, W.T, rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(np.atleast_1d(est.intercept_), b, rtol=1e-4, atol=2e-6)
    assert est.n_iter_ == epochs
    assert len(est.history_) == epochs


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_core_matches_torch_optimizers(optimizer):
    """Momentum SGD and Adam updates have torch.optim semantics (minibatches, no shuffle)."""
    X, y = _synthetic("multiclass", n=200)
    X = torch.as_tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    yt = torch.as_tensor(y)
    core = LinearCore("multiclass", 5, 3, optimizer=optimizer, lr=0.01, momentum=0.9, alpha=0.1)
    W = torch.zeros(5, 3, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    if optimizer == "sgd":
        opt = torch.optim.SGD([W, b], lr=0.01, momentum=0.9)
    else:
        opt = torch.optim.Adam([W, b], lr=0.01)
    for _ in range(3):
        batches = [(X[s : s + 32], yt[s : s + 32]) for s in range(0, 200, 32)]
        core.run_epoch(batches)
        for xb, yb in batches:
            loss = F.cross_entropy(xb @ W + b, yb) + 0.05 * (W * W).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    np.testing.assert_allclose(core.W.numpy(), W.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(core.b.numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_core_average_is_the_mean_of_the_iterates():
    X, y = _synthetic("binary", n=160)
    X = torch.as_tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
    core = LinearCore("binary", 5, 1, optimizer="adam", lr=0.05)
    core.start_average(skip=3)
    seen = []
    for s in range(0, 160, 16):
        core.step(X[s : s + 16], yt[s : s + 16])
        seen.append(core.params.double().clone())
    assert core.avg_count == len(seen) - 3
    np.testing.assert_allclose(core.avg, torch.stack(seen[3:]).mean(0), rtol=1e-5, atol=1e-6)
    core.stop_average()
    assert core.avg is None


def test_loop_parts_early_stopping_and_plateau_schedule():
    """The loop's small objects: converged when the objective fell by less than tol
    (relative) over the last epoch; a plateau is n_iter_no_change epochs without a new
    best; the schedule divides lr by 5 three times, then stops."""
    from tabloader.trainers._loop import EarlyStopping, PlateauSchedule

    core = LinearCore("regression", 2, 1, lr=1.0)
    stopping = EarlyStopping(0.1, 2, keep_best=True)
    seen = []
    for watch in (1.0, 0.5, 0.46):
        core.params.fill_(watch)
        seen.append(stopping.update(watch, core, rows=1000, steps=100))
    assert seen == ["go", "go", "converged"]
    assert stopping.gap == pytest.approx(0.04 / 0.46)
    stopping.restore_best(core)
    assert float(core.params[0, 0]) == pytest.approx(0.46)  # the best epoch's parameters
    worse = EarlyStopping(0.1, 2, keep_best=True)
    for watch in (1.0, 0.5, 0.6, 0.45):
        core.params.fill_(watch)
        seen.append(worse.update(watch, core, rows=1000, steps=100))
    assert seen[3:] == ["go", "go", "go", "go"]  # 0.45 is a new best, 10% below 0.5
    assert worse.update(0.7, core, rows=1000, steps=100) == "go"
    assert worse.update(0.8, core, rows=1000, steps=100) == "plateau"
    schedule = PlateauSchedule("plateau")
    assert [schedule.on_plateau(core) for _ in range(4)] == [True, True, True, False]
    assert core.lr == pytest.approx(1.0 / 125)
    assert not PlateauSchedule("constant").on_plateau(core)
    # a rise smaller than tol is convergence too (the noise of the last iterates), not
    # a plateau that lowers lr and runs more epochs
    rise = EarlyStopping(0.1, 2, keep_best=False)
    assert [rise.update(w, core, rows=1000, steps=100) for w in (1.0, 0.5, 0.52)] == [
        "go",
        "go",
        "converged",
    ]
    assert rise.gap == pytest.approx(-0.02 / 0.52)
    # a window of at least 100 steps: 10 steps an epoch need 10 epochs
    few = EarlyStopping(0.1, 2, keep_best=False)
    assert not any(few.plateau(1.0, core, rows=1000, steps=10) for _ in range(10))
    assert few.plateau(1.0, core, rows=1000, steps=10)


@pytest.mark.parametrize("kind", ["regression", "multiclass"])
def test_averaging_removes_the_noise_floor(kind):
    """At a constant lr (tol=None) the averaged model ends far closer to the optimum."""
    X, y = _synthetic(kind, n=20000, seed=1)
    rel = {}
    for average in (True, False):
        kw = dict(optimizer="adam", max_epochs=3, tol=None, alpha=0, random_state=0)
        est = MODELS[kind](average=average, **kw)
        est.fit(X, y)
        ref = sklearn_equivalent(est, len(y)).fit(X, y)
        classes = getattr(est, "classes_", None)
        best = _sk_objective(kind, ref.coef_, ref.intercept_, X, y, 0.0, classes)
        rel[average] = est.loss(X, y) / best - 1
    # Adam at lr=0.03 jitters ~0.2-1% above the optimum on 20k rows; the average of
    # ~200 iterates sits well below 0.1%
    assert 0 <= rel[True] <= 1e-3, rel
    assert rel[False] > 2 * rel[True], rel


# ---------------------------------------------------------------------- oracles
def _sk_objective(kind, coef, intercept, X, y, alpha, classes=None):
    coef = np.atleast_2d(coef)
    Z = X @ coef.T + np.atleast_1d(intercept)
    pen = 0.5 * alpha * (coef**2).sum()
    if kind == "regression":
        return np.mean((Z[:, 0] - y) ** 2) + pen
    idx = np.searchsorted(classes, y)
    if kind == "binary":
        return np.mean(np.logaddexp(0, Z[:, 0]) - idx * Z[:, 0]) + pen
    lse = np.log(np.exp(Z - Z.max(1, keepdims=True)).sum(1)) + Z.max(1)
    return np.mean(lse - Z[np.arange(len(y)), idx]) + pen


CASES = [
    ("regression", "real", 0.0),
    ("regression", "real", 0.1),
    ("regression", "synthetic", 0.0),
    ("binary", "real", 0.01),
    ("binary", "synthetic", 0.0),
    ("binary", "synthetic", 0.1),
    ("multiclass", "wine", 0.01),
    ("multiclass", "iris", 0.01),
    ("multiclass", "synthetic", 0.0),
]


def _data(kind, source):
    if source == "synthetic":
        return _synthetic(kind)
    return _real(kind, source)


@pytest.mark.parametrize(("kind", "source", "alpha"), CASES)
@pytest.mark.parametrize("standardize", [True, False])
def test_lbfgs_matches_sklearn(kind, source, alpha, standardize):
    X, y = _data(kind, source)
    est = MODELS[kind](
        optimizer="lbfgs", alpha=alpha, tol=1e-10, max_epochs=2000, standardize=standardize
    ).fit(X, y)
    ref = sklearn_equivalent(est, X.shape[0]).fit(X, y)
    classes = getattr(est, "classes_", None)
    ours = _sk_objective(kind, est.coef_, est.intercept_, X, y, alpha, classes)
    theirs = _sk_objective(kind, ref.coef_, ref.intercept_, X, y, alpha, classes)
    # both solve the same strictly convex problem in float64 to gradient tolerances of
    # 1e-12 (tol / 100) and 1e-8: the objectives agree to ~1e-9 relative; we ask 1e-7
    assert abs(ours - theirs) <= 1e-7 * abs(theirs)
    assert abs(est.loss(X, y) - theirs) <= 1e-7 * abs(theirs)
    if kind == "multiclass" and alpha == 0:
        # without a penalty softmax logits are defined up to a per-feature constant
        ours_c = est.coef_ - est.coef_.mean(0)
        ref_c = ref.coef_ - ref.coef_.mean(0)
    else:
        ours_c, ref_c = np.atleast_2d(est.coef_), np.atleast_2d(ref.coef_)
    # coefficient error ~ sqrt(loss error / curvature): 1e-4 relative to their scale
    scale = max(1.0, np.abs(ref_c).max())
    np.testing.assert_allclose(ours_c, ref_c, atol=1e-4 * scale)
    if kind == "regression":
        np.testing.assert_allclose(est.predict(X), ref.predict(X), atol=1e-4 * np.std(y))
    else:
        assert np.mean(est.predict(X) == ref.predict(X)) >= 0.995
        np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize(("kind", "source", "alpha"), CASES)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_minibatch_defaults_reach_sklearn_loss(kind, source, alpha, optimizer):
    """Minibatch training with the default parameters ends within 1% of the optimum."""
    X, y = _data(kind, source)
    if alpha == 0 and kind != "regression" and source != "synthetic":
        pytest.skip("separable data: no finite optimum without a penalty")
    est = MODELS[kind](optimizer=optimizer, alpha=alpha, random_state=0).fit(X, y)
    ref = sklearn_equivalent(est, X.shape[0]).fit(X, y)
    classes = getattr(est, "classes_", None)
    best = _sk_objective(kind, ref.coef_, ref.intercept_, X, y, alpha, classes)
    ours = est.loss(X, y)
    assert best <= ours * (1 + 1e-9)
    assert ours <= best * 1.01, (ours, best)


# ---------------------------------------------------------------------- inputs
@pytest.mark.parametrize("kind", list(MODELS))
def test_fit_on_arrays_frames_tensors_datasets_and_loaders(kind):
    X, y = _synthetic(kind, n=200)
    kw = dict(optimizer="lbfgs", tol=1e-9, max_epochs=500)
    ref = MODELS[kind](**kw).fit(X, y)
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    from_df = MODELS[kind](**kw).fit(df, pd.Series(y))
    np.testing.assert_array_equal(from_df.feature_names_in_, df.columns)
    from_t = MODELS[kind](**kw).fit(torch.as_tensor(X), torch.as_tensor(y))
    assert not hasattr(from_t, "feature_names_in_")
    if kind == "regression":
        ds = TabularDataset(X, y, task="regression", feature_names=list(df.columns))
    else:
        ds = TabularDataset(X, y, task=kind, classes=np.unique(y), feature_names=list(df.columns))
    from_ds = MODELS[kind](**kw).fit(ds)
    np.testing.assert_array_equal(from_ds.feature_names_in_, df.columns)
    for other in (from_df, from_t, from_ds):
        np.testing.assert_allclose(other.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(other.intercept_, ref.intercept_, rtol=1e-5, atol=1e-6)
        assert other.n_features_in_ == X.shape[1]
    # a DataLoader of (X, y) batches: minibatch training reaches the optimum
    loader = DataLoader(TensorDataset(torch.as_tensor(X).float(), torch.as_tensor(y)), 100)
    from_loader = MODELS[kind](random_state=0).fit(loader)
    assert from_loader.loss(X, y) <= ref.loss(X, y) * 1.01
    assert len(from_loader.history_) == from_loader.n_iter_


def test_fit_never_writes_into_the_callers_data():
    """The preconditioned table overwrites only a copy the fit made itself (a float64
    array's float32 copy, a validation split); float32 arrays, frames, tensors and
    datasets are read, never written, also as the validation set X_val."""
    X, y = _synthetic("binary", n=300)
    X32 = X.astype(np.float32)
    frame = pd.DataFrame(X32, columns=list("abcde"))
    ds = TabularDataset(X32, y, task="binary", classes=np.unique(y))
    inputs = [X, X32, frame, torch.as_tensor(X32), ds]
    before = [np.array(x.features if x is ds else x, dtype=np.float64, copy=True) for x in inputs]
    for x, split in [(x, s) for x in inputs for s in (None, 0.2)]:
        est = LogisticClassifier(
            optimizer="adam", max_epochs=1, tol=None, validation_fraction=split
        )
        est.fit(x) if x is ds else est.fit(x, y)
        if split is None:  # x as the validation set, and training on it
            est.fit(x, X_val=x) if x is ds else est.fit(x, y, X_val=x, y_val=y)
    for x, b in zip(inputs, before, strict=True):
        np.testing.assert_array_equal(np.asarray(x.features if x is ds else x, np.float64), b)


def test_arrays_and_loaders_share_one_statistics_module():
    """Standardisation statistics are FeatureStats (float64, Chan-merged) on every path:
    the whole table at once and 64-row batches merged give the same numbers."""
    X, y = _synthetic("regression", n=300)
    X = X * 1e-3 + 1e4  # a large offset: E[x^2] - E[x]^2 would lose every digit
    arrays = LinearRegressor(max_epochs=1, tol=None).fit(X, y)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    loader = DataLoader(TensorDataset(Xt, torch.as_tensor(y)), batch_size=64)
    batches = LinearRegressor(max_epochs=1, tol=None).fit(loader)
    np.testing.assert_allclose(batches.mean_, arrays.mean_, rtol=1e-12)
    np.testing.assert_allclose(batches.scale_, arrays.scale_, rtol=1e-9)
    exact = Xt.double().std(0, correction=0).numpy()
    np.testing.assert_allclose(arrays.scale_, exact, rtol=1e-9)


def test_any_label_type_and_score():
    X, y = _synthetic("multiclass", n=200)
    labels = np.array(["cat", "dog", "emu"], dtype=object)[y]
    est = SoftmaxClassifier(random_state=0).fit(X, labels)
    np.testing.assert_array_equal(est.classes_, ["cat", "dog", "emu"])
    assert set(est.predict(X)) <= {"cat", "dog", "emu"}
    ref = LogisticRegression(C=np.inf).fit(X, labels)
    assert est.score(X, labels) >= ref.score(X, labels) - 0.02
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(est.classes_[proba.argmax(1)], est.predict(X))
    binary = LogisticClassifier(random_state=0).fit(X, labels == "dog")
    np.testing.assert_array_equal(binary.classes_, [False, True])
    assert binary.decision_function(X).shape == (200,)


def test_sample_weight_equals_repetition_and_matches_sklearn():
    X, y = _synthetic("binary", n=120)
    sw = np.random.default_rng(1).integers(0, 4, size=len(y)).astype(float)
    kw = dict(optimizer="lbfgs", tol=1e-10, max_epochs=1000, alpha=0.05)
    weighted = LogisticClassifier(**kw).fit(X, y, sample_weight=sw)
    rep = np.repeat(np.arange(len(y)), sw.astype(int))
    repeated = LogisticClassifier(**kw).fit(X[rep], y[rep])
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, atol=1e-6)
    ref = sklearn_equivalent(weighted, sw.sum()).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(weighted.coef_, ref.coef_, atol=1e-4)
    Xr, yr = _synthetic("regression", n=120)
    reg = LinearRegressor(**kw).fit(Xr, yr, sample_weight=sw)
    ridge = Ridge(alpha=0.05 * sw.sum() / 2).fit(Xr, yr, sample_weight=sw)
    assert isinstance(sklearn_equivalent(reg, sw.sum()), Ridge)
    np.testing.assert_allclose(reg.coef_, ridge.coef_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(reg.intercept_, ridge.intercept_, rtol=1e-6, atol=1e-6)


def test_sklearn_equivalent_mapping():
    assert isinstance(sklearn_equivalent(LinearRegressor(alpha=0), 10), LinearRegression)
    assert sklearn_equivalent(LinearRegressor(), 10).alpha == pytest.approx(1e-4 * 10 / 2)
    assert sklearn_equivalent(LinearRegressor(alpha=0.2), 50).alpha == pytest.approx(5.0)
    assert np.inf == sklearn_equivalent(LogisticClassifier(alpha=0), 10).C
    assert pytest.approx(0.1) == sklearn_equivalent(SoftmaxClassifier(alpha=0.2), 50).C


def test_compare_table():
    X, y = _real("regression")
    table = compare(
        LinearRegressor(optimizer="lbfgs", alpha=0, tol=1e-10), X[:300], y[:300], X[300:], y[300:]
    )
    assert list(table.index) == ["tabloader", "LinearRegression"]
    assert {"train_loss", "train_metric", "val_loss", "val_metric", "max_coef_diff"} <= set(
        table.columns
    )
    assert table.loc["tabloader", "max_coef_diff"] < 1e-3
    np.testing.assert_allclose(table["train_loss"].iloc[0], table["train_loss"].iloc[1], rtol=1e-8)


# ---------------------------------------------------------------------- features
def test_validation_history_and_early_stopping():
    X, y = _synthetic("binary", n=400)
    est = LogisticClassifier(
        validation_fraction=0.25, random_state=0, max_epochs=500, n_iter_no_change=3
    ).fit(X, y)
    assert est.n_iter_ < 500
    assert len(est.history_) == est.n_iter_
    rec = est.history_[-1]
    assert {"train_loss", "val_loss", "val_metric", "seconds"} <= set(rec)
    assert 0.5 < rec["val_metric"] <= 1.0


def _val_oracle(kind, est, X_val, y_val):
    """The objective on the validation rows by hand: scikit-learn's data loss (MSE or
    log-loss) of the fitted model plus ``alpha / 2 * ||coef||^2``; and its metric."""
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

    penalty = est.alpha / 2 * float(np.sum(np.asarray(est.coef_) ** 2))
    if kind == "regression":
        pred = est.predict(X_val)
        return mean_squared_error(y_val, pred) + penalty, r2_score(y_val, pred)
    proba = est.predict_proba(X_val)
    return (
        log_loss(y_val, proba, labels=est.classes_) + penalty,
        accuracy_score(y_val, est.predict(X_val)),
    )


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam", "sgd"])
def test_validation_set_loss_per_epoch_is_the_loss_by_hand(kind, optimizer):
    X, y = _synthetic(kind, n=400)
    X_tr, y_tr, X_val, y_val = X[:300], y[:300], X[300:], y[300:]
    est = MODELS[kind](
        optimizer=optimizer, max_epochs=12, tol=None, alpha=1e-2, batch_size=64, random_state=0
    ).fit(X_tr, y_tr, X_val=X_val, y_val=y_val)
    hist = est.history_
    assert len(hist) == est.n_iter_ >= 2
    assert all(np.isfinite(h["val_loss"]) for h in hist)  # one validation loss per epoch
    assert [h["epoch"] for h in hist] == list(range(1, len(hist) + 1))
    loss, metric = _val_oracle(kind, est, X_val, y_val)
    # the last epoch's validation loss is that of the final coefficients (tol=None: no
    # best epoch restored), the same objective as est.loss
    assert hist[-1]["val_loss"] == pytest.approx(loss, rel=2e-6)
    assert est.loss(X_val, y_val) == pytest.approx(loss, rel=1e-9)
    assert hist[-1]["val_metric"] == pytest.approx(metric, rel=1e-5, abs=1e-6)
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]  # the curve follows the training


def test_validation_set_is_watched_and_the_best_epoch_kept():
    X, y = _synthetic("binary", n=400)
    est = LogisticClassifier(
        optimizer="adam", lr=0.1, alpha=0, max_epochs=300, n_iter_no_change=3, random_state=0
    ).fit(X[:300], y[:300], X_val=X[300:], y_val=y[300:])
    best = min(h["val_loss"] for h in est.history_)
    assert est.n_iter_ < 300
    assert est.loss(X[300:], y[300:]) == pytest.approx(best, rel=1e-5)


def test_validation_fraction_with_lbfgs_records_each_iterates_loss():
    # the L-BFGS iterates live in the solver: the validation loss was that of the
    # initial zeros (log 2) at every iteration
    X, y = _synthetic("binary", n=400)
    est = LogisticClassifier(optimizer="lbfgs", validation_fraction=0.25, random_state=0)
    hist = est.fit(X, y).history_
    assert hist[0]["val_loss"] != pytest.approx(hist[-1]["val_loss"])
    assert hist[-1]["val_loss"] < 0.9 * np.log(2)


def test_validation_set_from_datasets_frames_and_with_loaders_and_streams(tmp_path):
    from tabloader.datasets import ParquetStream, split

    X, y = _synthetic("multiclass", n=400)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    frame["y"] = np.array(["a", "b", "c"])[y]
    ds = TabularDataset.from_pandas(frame, target="y")
    train, val = split(ds, [0.75, 0.25], seed=0, stratify=True)
    kw = dict(optimizer="adam", max_epochs=4, tol=None, random_state=0)
    on_ds = SoftmaxClassifier(**kw).fit(train, X_val=val)
    X_val = pd.DataFrame(val.features.numpy(), columns=val.feature_names)
    y_val = val.classes_[val.targets.numpy()]
    on_frame = SoftmaxClassifier(**kw).fit(train, X_val=X_val, y_val=y_val)
    assert [h["val_loss"] for h in on_ds.history_] == [h["val_loss"] for h in on_frame.history_]
    assert on_ds.history_[-1]["val_loss"] == pytest.approx(on_ds.loss(X_val, y_val), rel=2e-6)
    # a stream (or loader) trains; the validation set in memory is scored every epoch
    path = tmp_path / "d.parquet"
    frame.to_parquet(path, row_group_size=100)
    stream = ParquetStream(path, target="y", batch_size=64, shuffle=True, seed=0)
    est = SoftmaxClassifier(**kw).fit(stream, X_val=X_val, y_val=y_val)
    assert len(est.history_) == est.n_iter_ == 4
    assert est.history_[-1]["val_loss"] == pytest.approx(est.loss(X_val, y_val), rel=2e-6)
    loader = DataLoader(TensorDataset(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)))
    est = SoftmaxClassifier(**kw).fit(loader, X_val=X[:50], y_val=y[:50])  # class indices
    assert est.history_[-1]["val_loss"] == pytest.approx(est.loss(X[:50], y[:50]), rel=2e-6)


@pytest.mark.parametrize(
    ("fit_kw", "error", "match"),
    [
        (dict(y_val=[0, 1]), ValueError, "need X_val"),
        (dict(X_val=np.zeros((4, 3)), y_val=[0, 1, 0, 1]), ValueError, "X_val has 3 features"),
        (dict(X_val=np.zeros((4, 5)), y_val=[0, 1, 0]), ValueError, "one value per row"),
        (dict(X_val=np.zeros((2, 5)), y_val=[0, 7]), ValueError, r"not among .* \[7\]"),
        (dict(X_val=np.zeros((2, 5))), ValueError, "y_val should be given"),
        (dict(X_val=DataLoader(TensorDataset(torch.zeros(2, 5)))), TypeError, "X_val should be"),
        (
            dict(X_val=np.zeros((2, 5)), y_val=[0, 1], sample_weight_val=[1.0]),
            ValueError,
            "sample_weight_val should have shape",
        ),
        (dict(X_val=np.full((2, 5), np.nan), y_val=[0, 1]), ValueError, "NaN"),
    ],
)
def test_validation_set_errors(fit_kw, error, match):
    X, y = _synthetic("binary", n=100)
    with pytest.raises(error, match=match):
        LogisticClassifier(max_epochs=2).fit(X, y, **fit_kw)
    with pytest.raises(ValueError, match="validation_fraction should be None when fit gets X_val"):
        LogisticClassifier(validation_fraction=0.2).fit(X, y, X_val=X[:5], y_val=y[:5])
    names = pd.DataFrame(X, columns=list("abcde"))
    with pytest.raises(ValueError, match="training data's features"):
        LogisticClassifier().fit(names, y, X_val=names[list("edcba")], y_val=y)


def test_warm_start_continues_and_verbose_bar(capsys):
    X, y = _synthetic("regression", n=300)
    kw = dict(optimizer="sgd", momentum=0.0, lr=0.01, tol=None, random_state=0)
    one = LinearRegressor(max_epochs=2, warm_start=True, **kw).fit(X, y)
    one.fit(X, y)
    loss_warm = one.loss(X, y)
    cold = LinearRegressor(max_epochs=2, **kw).fit(X, y)
    assert loss_warm < cold.loss(X, y)
    LinearRegressor(max_epochs=2, verbose=True, **kw).fit(X, y)
    assert "epoch" in capsys.readouterr().err


def test_init_torch_is_seeded():
    X, y = _synthetic("multiclass")
    kw = dict(init="torch", max_epochs=1, lr=1e-3, tol=None, shuffle=False)
    a = SoftmaxClassifier(random_state=3, **kw).fit(X, y).coef_
    b = SoftmaxClassifier(random_state=3, **kw).fit(X, y).coef_
    c = SoftmaxClassifier(random_state=4, **kw).fit(X, y).coef_
    z = SoftmaxClassifier(random_state=3, **{**kw, "init": "zeros"}).fit(X, y).coef_
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a, z)


def test_model_module_matches_predictions():
    X, y = _synthetic("multiclass")
    est = SoftmaxClassifier(random_state=0).fit(X, y)
    assert isinstance(est.model_, torch.nn.Linear)
    out = est.model_(torch.as_tensor(X, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(out, est.decision_function(X), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", list(MODELS))
def test_save_load_and_pickle_roundtrip(kind, tmp_path):
    X, y = _synthetic(kind)
    if kind != "regression":
        y = np.array(["a", "b", "c"])[y]
    df = pd.DataFrame(X, columns=list("vwxyz"))
    est = MODELS[kind](random_state=0, max_epochs=5).fit(df, y)
    path = tmp_path / "model.pt"
    est.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary left
    for back in (load(path), MODELS[kind].load(path), pickle.loads(pickle.dumps(est))):
        assert type(back) is type(est)
        np.testing.assert_array_equal(back.predict(df), est.predict(df))
        np.testing.assert_array_equal(back.feature_names_in_, est.feature_names_in_)
        assert back.get_params() == est.get_params()
        assert back.n_iter_ == est.n_iter_
    with pytest.raises(ModelFileError, match="holds a"):
        (LinearRegressor if kind != "regression" else SoftmaxClassifier).load(path)


def test_load_refuses_other_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a tabloader model file"):
        load(text)
    other = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(ModelFileError, match="expected format"):
        load(other)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "tabloader.trainers", "x": Evil()}, evil)
    with pytest.raises(ModelFileError, match="weights_only=True failed"):
        load(evil)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("lr", 0, r"lr should be a real number in \(0.0, inf\), but got lr=0"),
        ("max_epochs", 0, "max_epochs should be a positive integer, but got max_epochs=0"),
        (
            "batch_size",
            0,
            "batch_size should be a positive integer, 'auto' or None, but got batch_size=0",
        ),
        (
            "optimizer",
            "rmsprop",
            r"optimizer should be one of \['auto', 'sgd', 'adam', 'lbfgs'\], but got",
        ),
        ("init", "ones", r"init should be one of \['zeros', 'torch'\], but got init='ones'"),
        ("alpha", -1.0, "alpha should be a real number in"),
        ("momentum", 1.5, "momentum should be a real number in"),
        ("validation_fraction", 1.0, "validation_fraction should be"),
        ("device", "gpu0", "device should be 'auto' or a torch device"),
        ("batch_size", "big", "batch_size should be a positive integer, 'auto' or None"),
        ("distributed", "yes", "distributed should be 'auto', True or False"),
    ],
)
def test_invalid_parameters(param, value, match):
    X, y = _synthetic("binary", n=50)
    est = LogisticClassifier(**{param: value})
    assert est.get_params()[param] == value  # stored unchanged by __init__
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "coef_") and not hasattr(est, "n_features_in_")


# one policy (tabloader._checks): a value of the wrong type is a TypeError
@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("fit_intercept", "yes", "fit_intercept should be a bool"),
        (
            "standardize",
            1,
            r"standardize should be a bool \(True or False\), but got standardize=1",
        ),
        ("lr", "0.1", r"lr should be a real number in \(0.0, inf\), but got lr='0.1'"),
        ("max_epochs", 2.5, "max_epochs should be a positive integer, but got max_epochs=2.5"),
        ("max_epochs", True, "max_epochs should be a positive integer, but got max_epochs=True"),
        ("batch_size", 1.5, "batch_size should be a positive integer, 'auto' or None"),
        ("optimizer", 3, r"optimizer should be one of \['auto', 'sgd', 'adam', 'lbfgs'\], but got"),
        ("device", 3.5, "device should be 'auto' or a torch device"),
        ("random_state", "seed", "random_state should be None, an int"),
        ("distributed", 1.0, "distributed should be 'auto', True or False"),
    ],
)
def test_wrong_parameter_types(param, value, match):
    X, y = _synthetic("binary", n=50)
    est = LogisticClassifier(**{param: value})
    assert est.get_params()[param] == value  # stored unchanged by __init__
    with pytest.raises(TypeError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "coef_") and not hasattr(est, "n_features_in_")


def test_bad_data():
    X, y = _synthetic("binary", n=50)
    est = LogisticClassifier(max_epochs=3)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(Xn, y)
    with pytest.raises(ValueError, match="infinity"):
        LinearRegressor().fit(X, np.where(np.arange(50) == 2, np.inf, 1.0))
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.fit(torch.as_tensor(Xn), torch.as_tensor(y))
    with pytest.raises(ValueError, match="only one class"):
        est.fit(X, np.zeros(50))
    with pytest.raises(ValueError, match="Only binary classification"):
        est.fit(X, np.arange(50) % 3)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match="2D"):
        est.fit(X[:, 0], y)
    assert not hasattr(est, "n_features_in_")
    with pytest.raises(NotFittedError):
        est.predict(X)
    est.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="not seen during fit"):
        est.score(X, np.where(y == 1, 7, 0))
    with pytest.raises(ValueError, match="sample_weight should have shape"):
        LogisticClassifier().fit(X, y, sample_weight=np.ones(3))


@pytest.mark.parametrize("model", [LogisticClassifier, SoftmaxClassifier])
def test_classifiers_refuse_a_continuous_looking_target(model):
    """diabetes' target: 214 whole numbers stored as floats in 442 rows."""
    from tabloader.errors import TargetError

    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(TargetError, match=r"214 distinct values.*LinearRegressor.*astype\(int\)"):
        model().fit(X, y)
    if model is SoftmaxClassifier:
        few = (y > 140) + np.arange(442) % 2 * 2.0  # few float labels
        assert len(model(max_epochs=2).fit(X, few).classes_) == 4
        # integer labels insist on one class per value
        assert len(model(max_epochs=2).fit(X, y.astype(int)).classes_) == 214


def test_thread_rule_limits_small_fits_and_restores(monkeypatch):
    from tabloader.trainers import _fit
    from tabloader.trainers._params import THREAD_GRAIN, resolve_threads

    assert resolve_threads(500, 10, 8) == 1
    assert resolve_threads(1_000_000, 32, 8) == 7  # 32e6 // 2**22
    assert resolve_threads(4096, 320, 8) == 1  # a 10-class softmax step at batch 4096
    assert resolve_threads(4 * THREAD_GRAIN, 1, 8) == 4
    seen = []
    real = _fit.run_loop

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(_fit, "run_loop", spy)
    X, y = _synthetic("binary", n=500)
    torch.set_num_threads(2)
    LogisticClassifier(optimizer="adam", max_epochs=2, device="cpu").fit(X, y)
    assert seen == [1]
    assert torch.get_num_threads() == 2
    # NumPy's and SciPy's BLAS too (L-BFGS-B, predict): threadpoolctl, restored
    from threadpoolctl import threadpool_info, threadpool_limits

    from tabloader.trainers._params import limit_threads

    with threadpool_limits(2, user_api="blas"):
        before = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
        with limit_threads(500, 10, torch.device("cpu")) as n:
            inside = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
        after = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    assert n == 1 and set(inside) == {1} and after == before


def test_failed_refit_leaves_no_partial_model():
    X, y = _synthetic("binary", n=50)
    est = LogisticClassifier(max_epochs=2).fit(X, y)
    with pytest.raises(ValueError):
        est.fit(X, np.zeros(50))
    with pytest.raises(NotFittedError):
        est.predict(X)
    warm = LogisticClassifier(max_epochs=2, warm_start=True).fit(X, y)
    coef = warm.coef_.copy()
    with pytest.raises(ValueError):
        warm.fit(X[:, :3], y)
    np.testing.assert_array_equal(warm.coef_, coef)  # the previous fit is kept


def test_convergence_warning_when_epochs_run_out():
    X, y = _synthetic("regression", n=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="max_epochs=1"):
            LinearRegressor(max_epochs=1).fit(X, y)


# ---------------------------------------------------------------------- raw tables
# Unstandardised real tables: with standardize=True the raw-space penalty becomes
# alpha / sigma_j^2 per standardised coordinate (breast cancer: sigma_j down to ~0.003,
# so up to ~1e5 * alpha), a stiff separable quadratic on top of nearly collinear
# features. Oracle: scikit-learn's newton-cholesky solution of the same objective (its
# lbfgs stops ~2e-3 above the optimum on raw wine with alpha=1e-3).
RAW_CASES = [
    ("binary", "breast_cancer", 1e-2),
    ("binary", "breast_cancer", 1e-3),
    ("multiclass", "wine", 1e-2),
    ("multiclass", "wine", 1e-3),
]


def _raw_table(name):
    return (load_breast_cancer if name == "breast_cancer" else load_wine)(return_X_y=True)


def _raw_optimum(est, kind, X, y, alpha):
    ref = sklearn_equivalent(est, X.shape[0]).set_params(solver="newton-cholesky", tol=1e-12)
    ref.fit(X, y)
    return _sk_objective(kind, ref.coef_, ref.intercept_, X, y, alpha, est.classes_)


@pytest.mark.parametrize(("kind", "source", "alpha"), RAW_CASES)
def test_lbfgs_defaults_reach_the_optimum_on_raw_tables(kind, source, alpha):
    """Default L-BFGS (tol=1e-4, max_epochs=1000) on raw features: ~1e-8 of the optimum
    (before the penalty was preconditioned it stopped 0.03-2% above it)."""
    X, y = _raw_table(source)
    est = MODELS[kind](optimizer="lbfgs", alpha=alpha).fit(X, y)
    best = _raw_optimum(est, kind, X, y, alpha)
    ours = est.loss(X, y)
    assert est.converged_
    assert best <= ours * (1 + 1e-9)
    assert ours <= best * (1 + 1e-6), (ours, best)


@pytest.mark.parametrize(("kind", "source", "alpha"), RAW_CASES)
@pytest.mark.parametrize(("optimizer", "bound"), [("adam", 0.05), ("sgd", 0.25)])
def test_minibatch_defaults_stay_stable_on_raw_tables(kind, source, alpha, optimizer, bound):
    """The stiff penalty is taken implicitly: SGD (lr * alpha * d_j up to ~30) no longer
    diverges, Adam no longer oscillates (was 12% above the optimum on breast cancer).

    Raw wine at alpha=1e-3 (178 rows: one step per epoch, nearly separable, flat
    curvature along the separating directions) stays 9% (Adam) and 26% (SGD) above
    after 1000 steps in whitened coordinates (4% and 20% with diagonal scaling): twice
    the bound there. The default optimizer="auto" reaches ~1e-8 on it.
    """
    X, y = _raw_table(source)
    if (source, alpha) == ("wine", 1e-3):
        bound *= 2
    est = MODELS[kind](optimizer=optimizer, alpha=alpha, random_state=0).fit(X, y)
    best = _raw_optimum(est, kind, X, y, alpha)
    ours = est.loss(X, y)
    assert best <= ours * (1 + 1e-9)
    assert ours <= best * (1 + bound), (ours, best)


@pytest.mark.parametrize(("kind", "source", "alpha"), RAW_CASES)
def test_adam_defaults_within_one_percent_on_raw_tables(kind, source, alpha):
    """The defaults (optimizer="auto": whitened L-BFGS on tables this small) on raw
    features; before the preconditioner Adam stopped 1-3% above the optimum here."""
    X, y = _raw_table(source)
    est = MODELS[kind](alpha=alpha, random_state=0).fit(X, y)
    best = _raw_optimum(est, kind, X, y, alpha)
    assert est.loss(X, y) <= best * 1.01


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_core_implicit_penalty_is_the_proximal_step(optimizer):
    """One update = the optimiser's step on the loss gradient, then W_j / (1 + eta_j alpha d_j)."""
    X, y = _synthetic("binary", n=64)
    X = torch.as_tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
    d = torch.tensor([1e-4, 1.0, 30.0, 1e3, 1e5])
    lr, alpha, mom = 0.05, 0.01, 0.9
    kw = dict(optimizer=optimizer, lr=lr, momentum=mom, alpha=alpha, penalty_scale=d)
    core = LinearCore("binary", 5, 1, implicit_penalty=True, **kw)
    core.set_params(torch.linspace(-1, 1, 5).reshape(5, 1), torch.tensor([0.3]))
    W = core.W.double().clone()
    b = core.b.double().clone()
    buf = m = v = None
    for t in range(1, 4):
        z = X.double() @ W + b
        r = (torch.sigmoid(z) - yt.double()) / len(X)
        g = torch.cat([X.double().t() @ r, r.sum(0, keepdim=True)])  # loss only
        if optimizer == "sgd":
            buf = g if buf is None else mom * buf + g
            P = torch.cat([W, b.view(1, 1)]) - lr * buf
            eta = torch.full((5, 1), lr / (1 - mom), dtype=torch.float64)
        else:
            m = (1 - 0.9) * g if m is None else 0.9 * m + (1 - 0.9) * g
            v = (1 - 0.999) * g * g if v is None else 0.999 * v + (1 - 0.999) * g * g
            mh, vh = m / (1 - 0.9**t), v / (1 - 0.999**t)
            P = torch.cat([W, b.view(1, 1)]) - lr * mh / (vh.sqrt() + 1e-8)
            eta = lr / (vh[:5].sqrt() + 1e-8)
        W = P[:5] / (1 + eta * alpha * d.double().view(5, 1))
        b = P[5]
        core.step(X, yt)
    np.testing.assert_allclose(core.W.double(), W, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(core.b.double(), b, rtol=1e-4, atol=1e-6)
    if optimizer == "adam":
        return  # Adam's explicit steps stay bounded by ~lr: they oscillate instead
    # explicit SGD: lr * alpha * d_j = 50 > 2 makes the stiffest coordinate blow up
    explicit = LinearCore("binary", 5, 1, **kw)
    explicit.set_params(torch.linspace(-1, 1, 5).reshape(5, 1), torch.tensor([0.3]))
    for _ in range(3):
        explicit.step(X, yt)
    assert float(explicit.W.abs().max()) > 10 * float(core.W.abs().max())


# ---------------------------------------------------------------------- issue 11
# The defaults (only alpha set) on raw tables nobody here made: within 1e-4 relative of
# scikit-learn's objective at the same alpha (sklearn_equivalent, tight tol).
def _statsmodels_table(name):
    sm = pytest.importorskip("statsmodels.api")
    data = getattr(sm.datasets, name).load_pandas().data
    if name == "star98":  # MATHTOT: the students tested, above and below the median
        data = data.assign(MATHTOT=data.NABOVE + data.NBELOW).drop(columns=["NABOVE", "NBELOW"])
    target = {"star98": "MATHTOT", "longley": "TOTEMP", "macrodata": "realgdp"}[name]
    y = data.pop(target).to_numpy(np.float64)
    return data.select_dtypes("number").to_numpy(np.float64), y


def _raw_defaults_table(name):
    from sklearn.datasets import load_digits

    loaders = {
        "diabetes": load_diabetes,
        "breast_cancer": load_breast_cancer,
        "wine": load_wine,
        "digits": load_digits,
    }
    if name in loaders:
        return loaders[name](return_X_y=True)
    return _statsmodels_table(name)


RAW_DEFAULT_TABLES = [
    ("regression", "diabetes"),
    ("binary", "breast_cancer"),
    ("multiclass", "wine"),
    ("multiclass", "digits"),
    ("regression", "star98"),
    ("regression", "longley"),
    ("regression", "macrodata"),
]


@pytest.mark.parametrize(("kind", "source"), RAW_DEFAULT_TABLES)
@pytest.mark.parametrize("alpha", [1e-2, 1e-4])
def test_defaults_reach_sklearn_objective_on_raw_tables(kind, source, alpha):
    X, y = _raw_defaults_table(source)
    est = MODELS[kind](alpha=alpha, random_state=0).fit(X, y)
    ref = sklearn_equivalent(est, X.shape[0])
    ref.set_params(**{k: v for k, v in {"tol": 1e-10, "max_iter": 10_000}.items()
                      if k in ref.get_params()})  # fmt: skip
    ref.fit(X, y)
    classes = getattr(est, "classes_", None)
    theirs = _sk_objective(kind, ref.coef_, ref.intercept_, X, y, alpha, classes)
    ours = _sk_objective(kind, est.coef_, est.intercept_, X, y, alpha, classes)
    assert ours <= theirs * (1 + 1e-4), (ours, theirs)


def test_auto_batch_size_grows_with_big_tables():
    """256 rows; from 262,144 rows the largest power of two leaving 200 steps an epoch,
    1024 to 4096 (the step's fixed cost dominates smaller batches there)."""
    from tabloader.trainers import resolve_batch_size

    sizes = {n: resolve_batch_size("auto", n) for n in (100, 262_143, 262_144, 409_600,
                                                      819_199, 1_000_000, 10**8)}  # fmt: skip
    assert list(sizes.values()) == [100, 256, 1024, 2048, 2048, 4096, 4096]
    assert resolve_batch_size(None, 10) == 10 and resolve_batch_size(64, 10) == 10


def test_lbfgs_curvature_refresh_converges_on_nearly_separable_digits():
    """Raw digits at alpha=1e-4: the covariance alone leaves L-BFGS ~1,000 iterations
    (the max_epochs cap); rebuilt from the curvature it converges in a few hundred."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = SoftmaxClassifier(alpha=1e-4).fit(X, y)
    assert est.converged_ and est.n_iter_ < 400, est.n_iter_
    ref = sklearn_equivalent(est, X.shape[0]).set_params(tol=1e-10).fit(X, y)
    theirs = _sk_objective("multiclass", ref.coef_, ref.intercept_, X, y, 1e-4, est.classes_)
    assert est.loss(X, y) <= theirs * (1 + 1e-6)


@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_big_tables_take_statistics_from_a_seeded_sample(kind):
    """Above SAMPLE_ROWS training rows the preconditioner (and mean_/scale_) come from
    a seeded sample: not exact, but the objective is the raw one, so the optimum is
    scikit-learn's all the same."""
    from tabloader.trainers._loop import SAMPLE_ROWS

    n = SAMPLE_ROWS + 4_000
    X, y = _synthetic(kind, n=n, f=4, seed=3)
    X = X * [1.0, 1e3, 1e-2, 5.0] + [0.0, 1e4, 3.0, -2.0]
    est = MODELS[kind](alpha=1e-3, random_state=0).fit(X, y)  # auto: L-BFGS below 100k
    assert not np.allclose(est.mean_, X.mean(0), rtol=1e-12, atol=0)  # a sample ...
    assert np.all(np.abs(est.mean_ - X.mean(0)) < 0.05 * X.std(0))
    np.testing.assert_allclose(est.scale_, X.std(0), rtol=0.05)  # ... of the table
    same = MODELS[kind](alpha=1e-3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(same.mean_, est.mean_)  # seeded
    ref = sklearn_equivalent(est, n).set_params(tol=1e-10)
    ref.fit(X, y)
    classes = getattr(est, "classes_", None)
    theirs = _sk_objective(kind, ref.coef_, ref.intercept_, X, y, 1e-3, classes)
    assert est.loss(X, y) <= theirs * (1 + 1e-6)


def test_feature_stats_cross_is_the_weighted_comoment_chunked_and_reduced():
    from tabloader._stats import CHUNK_ROWS, FeatureStats

    g = np.random.default_rng(0)
    n = CHUNK_ROWS + 999
    X = g.normal(size=(n, 4)) * [1.0, 1e3, 1e-2, 5.0] + [0.0, 1e4, 3.0, -2.0]
    X[:, 3] += 0.9 * X[:, 0]  # correlated
    w = g.uniform(0.5, 2.0, size=n)
    m = (X * w[:, None]).sum(0) / w.sum()
    C = ((X - m) * w[:, None]).T @ (X - m)
    s = FeatureStats.of(torch.from_numpy(X.copy()), torch.from_numpy(w), cross=True)
    np.testing.assert_allclose(s.cross.numpy(), C, rtol=1e-10, atol=1e-9 * np.abs(C).max())
    np.testing.assert_allclose(np.diag(s.cross.numpy()), s.m2.numpy(), rtol=1e-10)
    parts = [FeatureStats.of(torch.from_numpy(X[i::3].copy()), cross=True) for i in range(3)]
    total = parts[0].merge(parts[1]).merge(parts[2])
    reduced = parts[0].all_reduce(lambda t: t + 0)  # one rank: unchanged
    np.testing.assert_allclose(reduced.cross.numpy(), parts[0].cross.numpy(), rtol=1e-12)
    C1 = np.cov(X, rowvar=False, bias=True) * n
    np.testing.assert_allclose(total.cross.numpy(), C1, rtol=1e-9, atol=1e-9 * np.abs(C1).max())


def test_whitening_keeps_the_raw_objective_and_maps_back():
    """optimiser coordinates <-> raw coefficients are exact inverses; the penalty in the
    whitened coordinates is diagonal (d_j = 1 / (lambda_j + floor))."""
    from tabloader._stats import FeatureStats
    from tabloader.trainers._params import validate_params
    from tabloader.trainers._precond import Standardization

    X, _ = load_breast_cancer(return_X_y=True)
    params = validate_params(LogisticClassifier(alpha=1e-3))
    std = Standardization.of(
        FeatureStats.of(torch.from_numpy(X.copy()), cross=True), None, 30, params
    )
    assert std.transform is not None and std.pen is not None
    g = np.random.default_rng(1)
    coef, b = g.normal(size=(30, 1)), g.normal(size=1)
    Wz, bz = std.from_raw(coef, b)
    W2, b2 = std.to_raw(np.vstack([Wz, bz[None]]), 30)
    np.testing.assert_allclose(W2, coef, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b2, b, rtol=1e-8)
    # the raw penalty ||coef||^2 equals sum_j d_j Wz_j^2
    assert float((Wz[:, 0] ** 2 * std.pen).sum()) == pytest.approx(float((coef**2).sum()))
    Z = std.features(torch.from_numpy(X).float()).double().numpy()
    cov = np.cov(Z, rowvar=False, bias=True)
    # whitened up to the floor alpha: variances lambda / (lambda + alpha), uncorrelated
    np.testing.assert_allclose(np.diag(cov) + 1e-3 * std.pen, 1.0, atol=1e-3)
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 1e-3
