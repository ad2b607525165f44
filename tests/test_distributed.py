"""Tests of data-parallel training on torch.distributed (gloo on loopback).

Each launch starts 2 or 3 real processes (``RANK``/``WORLD_SIZE``/``MASTER_*`` set as
torchrun sets them) that run this file as a script; they write their results to
``tmp_path`` and the tests compare them with oracles computed in the pytest process:
one process with batch size ``w * b`` over the same epoch permutations, and
``Counter`` checks that every row is read exactly once per epoch across the ranks.
Launches are shared between tests (module-scoped fixtures) to keep the file fast.
The estimators are compared the same way (arrays, DataFrames, datasets, sample
weights, validation, full batch, ``drop_last``, a DataLoader), and ``tabloader train``
under ``torchrun`` with the single-process CLI.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from tabloader.loaders import make_loader
from tabloader.trainers import LinearCore

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
TIMEOUT = 20.0  # seconds a collective waits for a silent peer in these tests
LAUNCH_LIMIT = 120.0  # seconds a whole launch may take before the test fails

# (kind, n_outputs, optimizer, momentum, n_rows, batch per rank, drop_last)
# Adam turns a gradient component that is exactly zero in real arithmetic into a step of
# size ~lr whose sign is float32 rounding noise (g / (|g| + eps)), so no exact equivalence
# can hold there. At zero init a softmax intercept gradient is 1/k - (class count)/B,
# exactly zero whenever k divides the batch: the Adam multiclass case uses k = 5 classes
# so that no batch it sees (4, 8 or 12 rows) can be such a stationary point.
CASES = [
    ("regression", 1, "sgd", 0.9, 96, 8, False),
    ("regression", 1, "adam", 0.0, 103, 5, False),
    ("binary", 1, "adam", 0.0, 101, 7, False),
    ("multiclass", 3, "sgd", 0.5, 97, 6, False),
    ("multiclass", 5, "adam", 0.0, 110, 4, True),
]
EPOCHS = 3
SEED = 123


# --------------------------------------------------------------------------- data
def _case_data(i: int) -> tuple[torch.Tensor, torch.Tensor]:
    kind, k, _, _, n, _, _ = CASES[i]
    g = torch.Generator().manual_seed(1000 + i)
    X = torch.randn(n, 4, generator=g)
    Wt = torch.randn(4, k, generator=g)
    Z = X @ Wt + 0.3 * torch.randn(n, k, generator=g)
    if kind == "regression":
        y = Z
    elif kind == "binary":
        y = (Z > 0).float()
    else:
        y = Z.argmax(1)
    return X, y


def _core(i: int) -> LinearCore:
    kind, k, opt, mom, _, _, _ = CASES[i]
    return LinearCore(kind, 4, k, optimizer=opt, lr=0.05, momentum=mom, alpha=0.01)


class _Recorded:
    """Batches ``(X, y)`` of a loader over ``(X, y, row)``; records the rows it yields."""

    def __init__(self, loader) -> None:
        self.loader = loader
        self.rows: list[int] = []

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for X, y, r in self.loader:
            self.rows.extend(r.tolist())
            yield X, y


# --------------------------------------------------------------------------- worker side
def _worker_core(out: Path, ctx) -> None:
    """Every CASE trained data-parallel through ``ctx.run_epoch``; parameters, losses and
    the rows each epoch read are saved for the pytest process."""
    res = {}
    for i, (_, _, _, _, n, b, drop_last) in enumerate(CASES):
        X, y = _case_data(i)
        ds = TensorDataset(X, y, torch.arange(n))
        loader = make_loader(
            ds, batch_size=b, shuffle=True, seed=SEED, drop_last=drop_last, remainder="uneven"
        )
        core = _core(i)
        rows, steps, losses = [], [], []
        for _ in range(EPOCHS):
            rec = _Recorded(loader)
            steps.append(ctx.run_epoch(core, rec, track_loss=True, drop_last=drop_last))
            rows.append(rec.rows)
            losses.append(core.running_loss())
        res[i] = {
            "params": core.params.clone(),
            "rows": rows,
            "steps": steps,
            "losses": losses,
            "loss": ctx.loss(core, X, y),
            "metric": ctx.metric(core, X, y),
        }
    torch.save(res, out / f"core-{ctx.rank}.pt")


def _worker_stream(out: Path, ctx) -> None:
    """A ParquetStream sharded by the process group: the ids each rank reads, 2 epochs,
    and the parameters after training on it."""
    from tabloader.datasets import ParquetStream

    s = ParquetStream(
        str(out / "stream.parquet"), target="y", features=["id", "a"], batch_size=7,
        shuffle=True, seed=5, shuffle_buffer=16,
    )  # fmt: skip
    ids = []
    for _ in range(2):
        ids.append([int(v) for X, _ in s for v in X[:, 0].tolist()])
    core = LinearCore("regression", 2, 1, optimizer="sgd", lr=1e-4)
    steps = ctx.run_epoch(core, s)
    torch.save({"ids": ids, "steps": steps, "len": len(s)}, out / f"stream-{ctx.rank}.pt")


def _worker_mismatch(out: Path, ctx) -> None:
    """Ranks disagree on a feature name, then on the class set: every rank must raise."""
    from tabloader.trainers._distributed import data_signature

    msgs = []
    names = ["a", "b", "c"] if ctx.rank != 1 else ["a", "B", "c"]
    classes = ["x", "y", "z"] if ctx.rank != ctx.world_size - 1 else ["x", "y"]
    for sig in (
        data_signature(np.zeros((2, 3), np.float32), n_rows=10, n_features=3, feature_names=names),
        data_signature(torch.zeros(2, 3), n_rows=10, n_features=3, classes=classes),
        data_signature(torch.zeros(2, 3, dtype=torch.float64 if ctx.rank else torch.float32),
                       n_rows=10, n_features=3),
    ):  # fmt: skip
        try:
            ctx.check_consistent(sig)
            msgs.append(None)
        except Exception as exc:
            msgs.append(f"{type(exc).__name__}: {exc}")
    ctx.check_consistent(data_signature(torch.zeros(2, 3), n_rows=10, n_features=3))  # agrees
    (out / f"mismatch-{ctx.rank}.json").write_text(json.dumps(msgs))


def _kill_worker(out: Path, ctx) -> None:
    X, y = _case_data(0)
    loader = make_loader(
        TensorDataset(X, y), batch_size=4, shuffle=True, seed=1, remainder="uneven"
    )
    core = _core(0)

    class Dying:
        def __len__(self):
            return len(loader)

        def __iter__(self):
            for j, batch in enumerate(loader):
                if ctx.rank == 1 and epoch == 1 and j == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield batch

    (out / f"started-{ctx.rank}").write_text("1")
    for epoch in range(1000):  # noqa: B007  (read by Dying)
        ctx.run_epoch(core, Dying())
    if ctx.is_main:  # never reached: the all-reduce fails first
        torch.save(core.params, out / "model.pt")


# estimator configurations: (class, params, input kind); batch_size is per rank
EST_B = 6


def _est_cases():
    from tabloader.trainers import LinearRegressor, LogisticClassifier, SoftmaxClassifier

    common = {"max_epochs": 4, "tol": None, "device": "cpu"}
    return [
        (LinearRegressor, dict(common, optimizer="sgd", lr=0.05, random_state=0,
                               validation_fraction=0.2), "frame"),
        (LogisticClassifier, dict(common, optimizer="adam", lr=0.05, alpha=0.01,
                                  random_state=1), "labels"),
        (SoftmaxClassifier, dict(common, optimizer="adam", lr=0.05, batch_size=None,
                                 random_state=2), "weighted"),
        (SoftmaxClassifier, dict(common, optimizer="sgd", lr=0.1, drop_last=True, random_state=4),
         "dataset"),
        (SoftmaxClassifier, dict(common, optimizer="sgd", lr=0.1, random_state=3), "loader"),
    ]  # fmt: skip


def _est_input(kind: str, batch_size: int, *, n: int = 103):
    """``(fit args, fit kwargs)`` of one estimator case, the same in every process."""
    import pandas as pd

    from tabloader.datasets import TabularDataset

    g = np.random.default_rng(7)
    X = g.normal(size=(n, 3)).astype(np.float32)
    z = X @ np.array([1.0, -2.0, 0.5]) + 0.3 * g.normal(size=n)
    if kind == "frame":
        return (pd.DataFrame(X, columns=["u", "v", "w"]), 3 * z + 1), {}
    if kind == "labels":
        return (X, np.where(z > 0, "pos", "neg")), {}
    y3 = np.digitize(z, [-1.0, 1.0])
    if kind == "weighted":
        return (X, y3), {"sample_weight": g.uniform(0.5, 2.0, size=n)}
    ds = TabularDataset(
        torch.from_numpy(X), torch.from_numpy(y3), task="multiclass", classes=np.arange(3),
        feature_names=["u", "v", "w"],
    )  # fmt: skip
    if kind == "dataset":
        return (ds,), {}
    loader = make_loader(ds, batch_size=batch_size, shuffle=True, seed=11, remainder="uneven")
    return (loader,), {}


def _est_fit(i: int, batch_size: int):
    cls, params, kind = _est_cases()[i]
    args, kwargs = _est_input(kind, batch_size)
    if params.get("batch_size", 0) is not None:
        params = dict(params, batch_size=batch_size)
    return cls(**params).fit(*args, **kwargs)


def _worker_estimators(out: Path, ctx) -> None:
    """Every estimator case fitted data-parallel (batch EST_B per rank); then
    ``random_state=None`` (rank 0's seed for all) and a per-rank ``distributed=False``."""
    from tabloader.trainers import LinearRegressor

    res = {}
    for i in range(len(_est_cases())):
        est = _est_fit(i, EST_B)
        res[i] = {
            "coef": torch.from_numpy(np.asarray(est.coef_, dtype=np.float64)),
            "intercept": torch.from_numpy(np.atleast_1d(est.intercept_).astype(np.float64)),
            "history": json.dumps(est.history_),
            "n_iter": est.n_iter_,
        }
    (X, y), _ = _est_input("frame", EST_B)
    est = LinearRegressor(max_epochs=2, tol=None, batch_size=EST_B, random_state=None).fit(X, y)
    res["none"] = torch.from_numpy(np.asarray(est.coef_, dtype=np.float64))
    alone = LinearRegressor(max_epochs=2, tol=None, batch_size=EST_B, random_state=0,
                            distributed=False).fit(X.iloc[ctx.rank :: ctx.world_size],
                                                   y[ctx.rank :: ctx.world_size])  # fmt: skip
    res["alone"] = torch.from_numpy(np.asarray(alone.coef_, dtype=np.float64))
    torch.save(res, out / f"est-{ctx.rank}.pt")


def _worker_est_mismatch(out: Path, ctx) -> None:
    """Rank 1 renames a column; the last rank lacks a class: fit raises on every rank."""
    from tabloader.trainers import LinearRegressor, SoftmaxClassifier

    msgs = []
    (X, y), _ = _est_input("frame", EST_B)
    if ctx.rank == 1:
        X = X.rename(columns={"v": "V"})
    try:
        LinearRegressor(max_epochs=1, tol=None).fit(X, y)
    except Exception as exc:
        msgs.append(f"{type(exc).__name__}: {exc}")
    (X, y), _ = _est_input("weighted", EST_B)
    if ctx.rank == ctx.world_size - 1:
        y = np.where(y == 2, 1, y)
    try:
        SoftmaxClassifier(max_epochs=1, tol=None).fit(X, y)
    except Exception as exc:
        msgs.append(f"{type(exc).__name__}: {exc}")
    (out / f"estmismatch-{ctx.rank}.json").write_text(json.dumps(msgs))


# 1 process against N ranks: the same model on the same data (3 evaluation chunks of
# 65,536 rows, so every rank evaluates a part), targets far from 0 (R^2's total sum of
# squares then loses digits to cancellation: both sides must use the same formula)
METRIC_ROWS = 150_000


def _metric_case(kind: str, weighted: bool):
    """``(core, X, y, w)`` of one metric case, identical in every process."""
    g = torch.Generator().manual_seed(77)
    X = torch.randn(METRIC_ROWS, 4, generator=g) * 3 + 1
    k = 3 if kind == "multiclass" else 1
    Wt = torch.randn(4, k, generator=g)
    Z = X @ Wt + torch.randn(METRIC_ROWS, k, generator=g)
    core = LinearCore(kind, 4, k, alpha=0.01)  # a near, not exact, model of the data
    b = torch.full((k,), 1000.0) if kind == "regression" else torch.randn(k, generator=g)
    core.set_params(Wt + 0.2 * torch.randn(4, k, generator=g), b)
    if kind == "regression":
        y = Z + 1000.0
    elif kind == "binary":
        y = (Z > 0).float()
    else:
        y = Z.argmax(1)
    w = torch.rand(METRIC_ROWS, generator=g) * 2 if weighted else None
    return core, X, y, w


METRIC_CASES = [(kind, weighted) for kind in ("regression", "binary", "multiclass")
                for weighted in (False, True)]  # fmt: skip


def _worker_metrics(out: Path, ctx) -> None:
    """Loss and metric (R^2 or accuracy) of fixed models, reduced over the ranks."""
    res = {}
    for kind, weighted in METRIC_CASES:
        core, X, y, w = _metric_case(kind, weighted)
        res[f"{kind}-{weighted}"] = [ctx.loss(core, X, y, w), ctx.metric(core, X, y, w)]
    (out / f"metrics-{ctx.rank}.json").write_text(json.dumps(res))


WORKERS = {"core": _worker_core, "metrics": _worker_metrics, "stream": _worker_stream, "mismatch": _worker_mismatch,
           "kill": _kill_worker, "estimators": _worker_estimators,
           "estmismatch": _worker_est_mismatch}  # fmt: skip


def _worker_main(scenarios: list[str], out: Path) -> None:
    from tabloader.trainers._distributed import get_context, shutdown_distributed

    torch.set_num_threads(1)
    ctx = get_context("cpu")
    assert ctx is not None, "launched without RANK/WORLD_SIZE"
    for name in scenarios:
        WORKERS[name](out, ctx)
    shutdown_distributed()


# --------------------------------------------------------------------------- launching
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(rank: int, world: int, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        TABLOADER_DIST_TIMEOUT=str(TIMEOUT),
        OMP_NUM_THREADS="1",
        CUDA_VISIBLE_DEVICES="",
    )
    return env


def _launch(world: int, scenarios: list[str], out: Path) -> list[tuple[int, str]]:
    """Run this file in ``world`` processes; ``[(returncode, stderr)]`` by rank."""
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE), ",".join(scenarios), str(out)],
            env=_env(r, world, port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(world)
    ]
    results = []
    deadline = time.monotonic() + LAUNCH_LIMIT
    for p in procs:
        try:
            _, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"the {world} processes did not finish within {LAUNCH_LIMIT} s")
        results.append((p.returncode, err))
    return results


def _write_stream_file(out: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    g = np.random.default_rng(0)
    a = g.normal(size=n).astype(np.float32)
    table = pa.table({"id": np.arange(n), "a": a, "y": 2 * a + g.normal(size=n) * 0.1})
    pq.write_table(table, out / "stream.parquet", row_group_size=10)


STREAM_ROWS = 113


@pytest.fixture(scope="module", params=[2, 3], ids=["world2", "world3"])
def launched(request, tmp_path_factory):
    """One launch per world size running every scenario but the killed rank."""
    world = request.param
    out = tmp_path_factory.mktemp(f"world{world}")
    _write_stream_file(out, STREAM_ROWS)
    scenarios = ["core", "metrics", "stream", "mismatch", "estimators", "estmismatch"]
    results = _launch(world, scenarios, out)
    for r, (rc, err) in enumerate(results):
        assert rc == 0, f"rank {r} exited with {rc}:\n{err[-3000:]}"
    return world, out


# --------------------------------------------------------------------------- oracles
def _single_process(i: int, batch_size: int):
    """One process, batch ``batch_size``, the same seed: parameters and epoch losses."""
    drop_last = CASES[i][6]
    X, y = _case_data(i)
    loader = make_loader(
        TensorDataset(X, y), batch_size=batch_size, shuffle=True, seed=SEED, drop_last=drop_last
    )
    core = _core(i)
    losses, steps = [], []
    for _ in range(EPOCHS):
        steps.append(core.run_epoch(loader, track_loss=True))
        losses.append(core.running_loss())
    return core, losses, steps


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", range(len(CASES)))
def test_weights_equal_single_process_with_w_times_batch(launched, case):
    world, out = launched
    b = CASES[case][5]
    ref, ref_losses, ref_steps = _single_process(case, world * b)
    for r in range(world):
        got = torch.load(out / f"core-{r}.pt", weights_only=True)[case]
        torch.testing.assert_close(got["params"], ref.params, rtol=1e-5, atol=1e-6)
        assert got["steps"] == ref_steps
        np.testing.assert_allclose(got["losses"], ref_losses, rtol=1e-5)
    # and not the same as one process with the per-rank batch size (the test can fail)
    other, _, _ = _single_process(case, b)
    assert not torch.allclose(other.params, ref.params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_ranks_agree_bitwise_and_on_reported_values(launched, case):
    world, out = launched
    res = [torch.load(out / f"core-{r}.pt", weights_only=True)[case] for r in range(world)]
    for got in res[1:]:
        assert torch.equal(got["params"], res[0]["params"])
        assert got["losses"] == res[0]["losses"]
        assert (got["loss"], got["metric"]) == (res[0]["loss"], res[0]["metric"])
    # the reduced loss and metric are those of one process over all rows
    X, y = _case_data(case)
    core = _core(case)
    core.params.copy_(res[0]["params"])
    assert res[0]["loss"] == pytest.approx(core.loss(X, y), rel=1e-6)
    assert res[0]["metric"] == pytest.approx(core.metric(X, y), rel=1e-6)


@pytest.mark.parametrize(("kind", "weighted"), METRIC_CASES)
def test_one_process_and_ranks_report_identical_loss_and_metric(
    launched, kind, weighted, one_torch_thread
):
    """The loss, R^2 and accuracy are sums of float64 sufficient statistics that the ranks
    only add: N ranks report what one process reports (not merely close: 1e-12). The ranks
    run on one intra-op thread, so this process does too: a float32 matmul's blocking (and
    so its last bits) depends on the thread count, not on the reduction."""
    world, out = launched
    core, X, y, w = _metric_case(kind, weighted)
    alone = [core.loss(X, y, w), core.metric(X, y, w)]
    assert 0.0 < alone[1] < 1.0  # a real R^2 / accuracy, not a degenerate one
    for r in range(world):
        got = json.loads((out / f"metrics-{r}.json").read_text())[f"{kind}-{weighted}"]
        np.testing.assert_allclose(got, alone, rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_each_row_used_once_per_epoch_across_ranks(launched, case):
    world, out = launched
    _, _, _, _, n, b, drop_last = CASES[case]
    res = [torch.load(out / f"core-{r}.pt", weights_only=True)[case] for r in range(world)]
    for e in range(EPOCHS):
        used = Counter(row for got in res for row in got["rows"][e])
        if drop_last:  # one process with batch w*b drops the last n % (w*b) rows
            assert sum(used.values()) == n - n % (world * b)
            assert max(used.values()) == 1
        else:
            assert used == Counter(range(n))


def test_stream_rows_once_per_epoch_across_ranks(launched):
    world, out = launched
    res = [torch.load(out / f"stream-{r}.pt", weights_only=True) for r in range(world)]
    for e in range(2):
        used = Counter(i for got in res for i in got["ids"][e])
        assert used == Counter(range(STREAM_ROWS))
    assert res[0]["ids"][0] != res[0]["ids"][1]  # shuffled: a new order each epoch
    assert {got["steps"] for got in res} == {res[0]["len"]}


def test_mismatch_stops_every_rank_naming_rank_and_difference(launched):
    world, out = launched
    last = world - 1
    for r in range(world):
        names, classes, dtypes = json.loads((out / f"mismatch-{r}.json").read_text())
        assert names.startswith("SchemaError") and "rank 1 has different feature_names" in names
        assert "[1] 'B' instead of 'b'" in names
        assert f"rank {last} has different classes" in classes
        assert "missing: ['z']" in classes
        assert "rank 1 has different dtypes" in dtypes and "torch.float64" in dtypes


def test_killed_rank_makes_the_others_fail(tmp_path):
    # _launch fails the test when the survivor hangs past LAUNCH_LIMIT (no timing otherwise)
    results = _launch(2, ["kill"], tmp_path)
    assert (tmp_path / "started-0").exists() and (tmp_path / "started-1").exists()
    assert results[1][0] == -signal.SIGKILL
    rc, err = results[0]
    assert rc != 0
    assert "rank 0 of 2" in err and "another rank died" in err
    assert not (tmp_path / "model.pt").exists()


def test_no_process_group_means_no_context(monkeypatch):
    from tabloader.trainers._distributed import get_context, is_main_process, launched_distributed

    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launched_distributed()
    assert get_context() is None
    assert is_main_process()


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_bad_timeout_is_refused(monkeypatch, value):
    from tabloader.trainers._distributed import _timeout_seconds

    monkeypatch.setenv("TABLOADER_DIST_TIMEOUT", value)
    with pytest.raises(ValueError, match=r"TABLOADER_DIST_TIMEOUT|timeout should be"):
        _timeout_seconds(None)


# --------------------------------------------------------------------------- estimators
@pytest.mark.parametrize("case", range(5))
def test_estimator_equals_single_process_with_w_times_batch(launched, case):
    world, out = launched
    ref = _est_fit(case, world * EST_B)
    ref_hist = ref.history_
    for r in range(world):
        got = torch.load(out / f"est-{r}.pt", weights_only=True)[case]
        np.testing.assert_allclose(got["coef"].numpy(), np.asarray(ref.coef_), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            got["intercept"].numpy(), np.atleast_1d(ref.intercept_), rtol=1e-5, atol=1e-5
        )
        hist = json.loads(got["history"])
        assert got["n_iter"] == ref.n_iter_ and len(hist) == len(ref_hist)
        for h, e in zip(hist, ref_hist):
            for key in ("train_loss", "val_loss", "val_metric"):
                assert (key in h) == (key in e)
                if key in e:
                    assert h[key] == pytest.approx(e[key], rel=1e-5, abs=1e-6)
    # the per-rank batch alone gives other weights: the comparison can fail
    if _est_cases()[case][1].get("batch_size", 0) is not None:
        assert not np.allclose(_est_fit(case, EST_B).coef_, ref.coef_, rtol=1e-5, atol=1e-5)


def test_estimator_ranks_agree_seed_broadcast_and_opt_out(launched):
    world, out = launched
    res = [torch.load(out / f"est-{r}.pt", weights_only=True) for r in range(world)]
    for got in res[1:]:
        for case in range(5):
            assert torch.equal(got[case]["coef"], res[0][case]["coef"])
        assert torch.equal(got["none"], res[0]["none"])  # random_state=None: rank 0's seed
        assert not torch.equal(got["alone"], res[0]["alone"])  # distributed=False: own data


def test_estimator_mismatch_raises_on_every_rank(launched):
    world, out = launched
    for r in range(world):
        names, classes = json.loads((out / f"estmismatch-{r}.json").read_text())
        assert names.startswith("SchemaError") and "rank 1 has different feature_names" in names
        assert "'V' instead of 'v'" in names
        assert f"rank {world - 1} has different classes" in classes


def test_distributed_true_without_group_is_refused(monkeypatch):
    from tabloader.trainers import LinearRegressor

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="distributed=True needs an initialised"):
        LinearRegressor(distributed=True).fit(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(ValueError, match="distributed should be 'auto', True or False"):
        LinearRegressor(distributed="yes").fit(np.zeros((4, 1)), np.zeros(4))


# --------------------------------------------------------------------------- CLI
@pytest.mark.filterwarnings("ignore:Maximum number of epochs")  # 3 epochs on purpose
def test_cli_under_torchrun_writes_one_model_equal_to_single_process(tmp_path):
    import pandas as pd

    from tabloader.cli import main
    from tabloader.trainers import load

    g = np.random.default_rng(3)
    X = g.normal(size=(150, 3))
    y = np.digitize(X @ np.array([1.0, -1.0, 0.5]), [-0.5, 0.5])
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}).to_csv(
        tmp_path / "d.csv", index=False
    )
    common = ["train", str(tmp_path / "d.csv"), "--target", "y", "--model", "softmax",
              "--max-epochs", "3", "--seed", "5", "--quiet", "--device", "cpu",
              "--optimizer", "adam"]  # fmt: skip
    dist_dir = tmp_path / "dist"
    dist_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    env.update(TABLOADER_DIST_TIMEOUT=str(TIMEOUT), CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "tabloader", *common, "--batch-size", "8", "--out", str(dist_dir / "m.pt")],
        capture_output=True, text=True, env=env, timeout=LAUNCH_LIMIT, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("model saved to") == 1  # rank 0 reports, alone
    assert sorted(p.name for p in dist_dir.iterdir()) == ["m.pt"]  # one file, no leftovers
    assert main([*common, "--batch-size", "16", "--out", str(tmp_path / "single.pt")]) == 0
    a, b = load(dist_dir / "m.pt"), load(tmp_path / "single.pt")
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
    _worker_main(sys.argv[1].split(","), Path(sys.argv[2]))
