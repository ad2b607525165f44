"""The GPU path (issue 15): pinned batches, device placement, CUDA trainers, device="auto".

The tests marked ``cuda`` need a CUDA GPU and are skipped without one; run them with
``pytest -m cuda tests/test_gpu.py``. The CPU tests check ``device="auto"`` without CUDA
and run ``benchmarks/bench_gpu.py --quick`` at tiny sizes, so that the benchmark keeps
working on machines without a GPU (it runs the CPU parts there and names the GPU parts
it skipped).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from tabloader.datasets import TabularDataset
from tabloader.loaders import iter_batches, make_loader
from tabloader.trainers import (
    LinearCore,
    LinearRegressor,
    LogisticClassifier,
    SoftmaxClassifier,
)

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench_gpu.py"
ESTIMATORS = [
    (LinearRegressor, "regression"),
    (LogisticClassifier, "binary"),
    (SoftmaxClassifier, "multiclass"),
]


def _table(kind: str, n: int = 300, f: int = 5, seed: int = 0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, f)).astype(np.float32)
    z = X @ g.standard_normal((f, 3)).astype(np.float32)
    if kind == "regression":
        y = (z[:, 0] + 0.1 * g.standard_normal(n)).astype(np.float32)
    elif kind == "binary":
        y = (z[:, 0] + g.logistic(size=n) > 0).astype(np.int64)
    else:
        y = (z + g.gumbel(size=(n, 3))).argmax(1).astype(np.int64)
    return X, y


def _dataset(kind: str, n: int = 300, f: int = 5) -> TabularDataset:
    X, y = _table(kind, n, f)
    return TabularDataset(X, y, task=kind)


def _on_current_cuda(t: torch.Tensor) -> bool:
    return t.is_cuda and t.device.index == torch.cuda.current_device()


# ---------------------------------------------------------------------- pinned memory
@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("kind", ["regression", "multiclass"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_pinned_batches_are_pinned(kind, shuffle):
    ds = _dataset(kind, n=300)
    pinned = make_loader(ds, batch_size=64, shuffle=shuffle, seed=0, pin_memory=True)
    plain = make_loader(ds, batch_size=64, shuffle=shuffle, seed=0, pin_memory=False)
    rows = 0
    for (xp, yp), (xc, yc) in zip(pinned, plain, strict=True):
        assert xp.is_pinned() and yp.is_pinned()
        assert not xc.is_pinned()
        assert xp.device.type == "cpu" and yp.device.type == "cpu"
        # the same rows, and a non-blocking copy of them arrives intact
        assert torch.equal(xp, xc) and torch.equal(yp, yc)
        xg, yg = xp.to("cuda", non_blocking=True), yp.to("cuda", non_blocking=True)
        torch.cuda.synchronize()
        assert torch.equal(xg.cpu(), xc) and torch.equal(yg.cpu(), yc)
        rows += xp.shape[0]
    assert rows == len(ds)


@pytest.mark.cuda
@needs_cuda
def test_pin_memory_auto_pins_with_cuda_and_tensor_datasets_are_pinned():
    ds = _dataset("regression", n=200)
    auto = make_loader(ds, batch_size=50, shuffle=True, seed=0)  # pin_memory="auto"
    assert all(xb.is_pinned() and yb.is_pinned() for xb, yb in auto)
    tds = TensorDataset(ds.features, ds.targets)
    pinned = make_loader(tds, batch_size=64, shuffle=True, seed=0, pin_memory=True)
    batches = list(pinned)
    assert batches and all(xb.is_pinned() and yb.is_pinned() for xb, yb in batches)
    assert sum(xb.shape[0] for xb, _ in batches) == len(ds)


# ---------------------------------------------------------------------- device placement
@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
@pytest.mark.parametrize(
    ("batch_size", "drop_last"), [(64, False), (64, True), (1000, False), (1, False)]
)
def test_every_batch_on_the_device(device, batch_size, drop_last):
    ds = _dataset("multiclass", n=150)
    on_gpu = make_loader(
        ds, batch_size=batch_size, shuffle=True, seed=3, drop_last=drop_last, device=device
    )
    on_cpu = make_loader(
        ds, batch_size=batch_size, shuffle=True, seed=3, drop_last=drop_last, pin_memory=False
    )
    for _epoch in range(2):  # a new order each epoch, the same on both devices
        pairs = list(zip(on_gpu, on_cpu, strict=True))
        assert len(pairs) == len(on_gpu) > 0
        for (xg, yg), (xc, yc) in pairs:
            assert _on_current_cuda(xg) and _on_current_cuda(yg)
            assert xg.dtype == torch.float32 and yg.dtype == torch.int64
            assert xg.shape == xc.shape and yg.shape == yc.shape
            assert torch.equal(xg.cpu(), xc) and torch.equal(yg.cpu(), yc)
    # the dataset itself stays where it was
    assert ds.features.device.type == "cpu" and ds.targets.device.type == "cpu"


@pytest.mark.cuda
@needs_cuda
def test_device_resident_regression_and_tensor_datasets():
    ds = _dataset("regression", n=130)
    X, y = ds.features, ds.targets
    for data in (ds, TensorDataset(X, y)):
        batches = list(make_loader(data, batch_size=32, shuffle=True, seed=0, device="cuda"))
        assert [xb.shape[0] for xb, _ in batches] == [32, 32, 32, 32, 2]
        for xb, yb in batches:
            assert _on_current_cuda(xb) and _on_current_cuda(yb)
            assert yb.shape == (xb.shape[0], 1) and yb.dtype == torch.float32
        seen = torch.cat([xb for xb, _ in batches]).cpu()
        # every row exactly once
        assert torch.equal(seen[seen[:, 0].argsort()], X[X[:, 0].argsort()])
    # a dataset already on the GPU is gathered there, with or without device=
    gpu_data = TensorDataset(X.cuda(), y.cuda())
    for xb, yb in make_loader(gpu_data, batch_size=50, shuffle=True, seed=0):
        assert _on_current_cuda(xb) and _on_current_cuda(yb)
        assert not xb.is_pinned()
    for xb, yb in iter_batches(ds, 40, device="cuda"):
        assert _on_current_cuda(xb) and _on_current_cuda(yb)


# ---------------------------------------------------------------------- trainers
@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize(("cls", "kind"), ESTIMATORS)
def test_cuda_and_cpu_trainers_agree(cls, kind, one_torch_thread):
    X, y = _table(kind, n=400, f=6)
    # no iterate averaging and no early stopping: no loss comparisons that a last-bit
    # difference between the devices could decide differently
    params = dict(optimizer="sgd", lr=0.05, batch_size=32, max_epochs=15, tol=None,
                  average=False, random_state=0)  # fmt: skip
    cpu = cls(device="cpu", **params).fit(X, y)
    gpu = cls(device="cuda", **params).fit(X, y)
    assert cpu.device_ == "cpu" and gpu.device_.startswith("cuda")
    assert next(gpu.model_.parameters()).is_cuda
    assert gpu.n_iter_ == cpu.n_iter_ == 15
    scale = max(1.0, float(np.abs(cpu.coef_).max()))
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(gpu.intercept_, cpu.intercept_, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(
        [h["train_loss"] for h in gpu.history_], [h["train_loss"] for h in cpu.history_],
        rtol=1e-4,
    )  # fmt: skip
    if kind == "regression":
        pred_gpu, pred_cpu = gpu.predict(X), cpu.predict(X)
        assert isinstance(pred_gpu, np.ndarray)
        np.testing.assert_allclose(pred_gpu, pred_cpu, rtol=1e-4, atol=1e-4)
    else:
        proba_gpu, proba_cpu = gpu.predict_proba(X), cpu.predict_proba(X)
        assert isinstance(proba_gpu, np.ndarray)
        np.testing.assert_allclose(proba_gpu, proba_cpu, atol=1e-5)
        assert np.mean(gpu.predict(X) == cpu.predict(X)) >= 0.99


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize(("kind", "k"), [("regression", 1), ("binary", 1), ("multiclass", 4)])
def test_linear_core_cuda_matches_cpu(kind, k, one_torch_thread):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(500, 7, generator=g)
    if kind == "multiclass":
        y = torch.randint(0, k, (500,), generator=g)
    elif kind == "binary":
        y = torch.randint(0, 2, (500, 1), generator=g).float()
    else:
        y = torch.randn(500, 1, generator=g)
    cores = {}
    for dev in ("cpu", "cuda"):
        core = LinearCore(kind, 7, k, optimizer="sgd", lr=0.05, device=dev)
        loader = make_loader(TensorDataset(X, y), batch_size=50, shuffle=True, seed=1,
                             device=dev)  # fmt: skip
        for _ in range(3):
            core.run_epoch(loader)
        cores[dev] = core
    assert cores["cuda"].params.is_cuda
    torch.testing.assert_close(cores["cuda"].params.cpu(), cores["cpu"].params, rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    loss_cpu = cores["cpu"].loss(X, y)
    loss_gpu = cores["cuda"].loss(X.cuda(), y.cuda())
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-5)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize(("cls", "kind"), ESTIMATORS)
def test_device_auto_chooses_cuda(cls, kind):
    X, y = _table(kind, n=200)
    est = cls(max_epochs=2, tol=None, random_state=0)
    assert est.get_params()["device"] == "auto"  # the default
    est.fit(X, y)
    assert est.device_.startswith("cuda")
    assert next(est.model_.parameters()).is_cuda
    # explicit spellings of the same device
    for device in ("cuda", "cuda:0", torch.device("cuda")):
        fitted = cls(max_epochs=1, tol=None, random_state=0, device=device).fit(X, y)
        assert fitted.device_.startswith("cuda")


def test_device_auto_is_the_cpu_without_cuda(monkeypatch, one_torch_thread):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y = _table("binary", n=100)
    est = LogisticClassifier(max_epochs=1, tol=None, random_state=0).fit(X, y)
    assert est.device_ == "cpu"
    assert not next(est.model_.parameters()).is_cuda


# ---------------------------------------------------------------------- the benchmark
def test_bench_gpu_quick_runs_on_cpu(tmp_path):
    """The benchmark's --quick run at tiny sizes: exit 0, a row from every part, and
    without CUDA the list of the GPU parts it skipped."""
    out = tmp_path / "gpu.md"
    cmd = [
        sys.executable, str(BENCH), "--quick", "--rows", "4000", "--features", "8",
        "--repeats", "1", "--models", "logistic", "--max-epochs", "2", "--threads", "1",
        "--h2d-batch-sizes", "1024", "--resident-batch-sizes", "256", "1024",
        "--trainer-batch-sizes", "512", "--stream-batch-size", "512",
        "--stream-row-group", "1000", "--allreduce-mb", "1", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path, check=False
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    table = out.read_text()
    for part in ("h2d", "resident", "stream", "trainers", "reach", "nccl"):
        assert f"| {part} |" in table, f"no row of {part} in\n{table}"
    assert "Failed:" not in table and "FAILED" not in log, log
    if not HAS_CUDA:
        assert "GPU parts skipped: 6" in proc.stdout, proc.stdout
        for part in ("h2d", "resident", "stream", "trainers", "reach", "nccl"):
            assert f"skipped: {part}" in proc.stdout, proc.stdout
        assert "no CUDA" in proc.stdout
        assert "Skipped:" in table
