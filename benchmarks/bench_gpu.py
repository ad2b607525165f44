"""The GPU path measured in one run: copies, device-resident loaders, streams, trainers, NCCL.

Every row prints the measured value, the baseline measured in the same run, their ratio
and the target from issue 15 (where the issue sets one):

- ``h2d``: host-to-device throughput of ``make_loader`` batches, pinned + ``non_blocking``
  and not pinned, against the raw pinned ``copy_`` bandwidth; the pinned loader with a
  GPU matmul per batch (compute stand-in) against copy and compute run apart; the CPU
  gather rate of the loader (no copy) for reference;
- ``resident``: one shuffled epoch of ``make_loader(ds, batch_size=b, shuffle=True,
  device="cuda")`` at batch 256 / 4096 / 65536 against the limit, ``torch.randperm`` +
  ``index_select`` of features and targets on the GPU;
- ``stream``: ``ParquetStream`` batches moved to the GPU against the stream's CPU rate;
- ``trainers``: epochs of the estimators (``device="cuda"``) and of ``LinearCore``
  against a plain autograd loop on the same device (``nn.Linear`` + ``optim.SGD``);
- ``reach``: time for the estimators' default fit on the GPU to reach 0.1% (and 1%) of
  scikit-learn's objective at 10M x 32, against scikit-learn's fit on the CPU;
- ``nccl``: a 1-process ``torch.distributed`` group (``init_method="tcp://127.0.0.1:<free
  port>"``, world size 1): initialisation, all-reduces, and ``DistributedContext.run_epoch``,
  NCCL on the GPU against gloo on the CPU.

Timings: ``torch.cuda.synchronize()`` before and after each timed run, one warm-up run,
then the best of ``--repeats`` (measured and baseline interleaved).

On a machine without CUDA it runs the CPU parts (the CPU baselines, the stream's CPU
rate, CPU trainer epochs, the scikit-learn fits, gloo) on the CPU, lists the GPU parts
it skipped and why, and exits 0, so that CI keeps the script from rotting. It exits 1
when a part raised (the error is printed and the other parts still run).

Run::

    python benchmarks/bench_gpu.py --out gpu.md       # 10M x 32 (the issue's size)
    python benchmarks/bench_gpu.py --quick            # 200k rows, a smoke run

On this workplace's H200 device machine (no network; its python3 holds a CUDA build
of torch, scikit-learn, pandas, pyarrow, scipy, tqdm, pytest and hypothesis, so tabloader
is installed into it without dependencies), from the repository root::

    set -o pipefail; export PYTHONUNBUFFERED=1; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $OUT/env.txt; python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || { echo "pip install -e . failed: using a copied package tree"; mkdir -p /tmp/pkg && cp -r tabloader /tmp/pkg/ && cp -r datasets loaders trainers /tmp/pkg/tabloader/ && export PYTHONPATH=/tmp/pkg PYTHONSAFEPATH=1; }; python3 -c "import torch,sklearn,pandas,pyarrow,numpy,tabloader.trainers;print('torch',torch.__version__,'cuda',torch.version.cuda,torch.cuda.get_device_name(0),'sklearn',sklearn.__version__,'pandas',pandas.__version__,'pyarrow',pyarrow.__version__,'numpy',numpy.__version__)" 2>&1 | tee -a $OUT/env.txt; timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_loaders.py -k "not bench_gpu_quick" 2>&1 | tee $OUT/pytest.txt; timeout 420 python3 benchmarks/bench_gpu.py --out $OUT/gpu.md 2>&1 | tee $OUT/bench.txt

Run it with ``timeout_s=600``. ``-k "not bench_gpu_quick"`` leaves out only the CPU smoke
test of this script (the CUDA test of ``tests/test_loaders.py`` carries no ``cuda`` marker,
so ``-m cuda`` would deselect it). The image's setuptools may be too old for the
``license = "MIT"`` expression (setuptools >= 77); the command then imports tabloader from a
copied package tree (``PYTHONSAFEPATH=1`` keeps ``./tabloader`` from shadowing it). The
parts run in the order resident, h2d, trainers, stream, reach, nccl, and ``--out`` is
rewritten after each, so a timeout keeps what was measured.

On a CUDA machine with network access, with the pinned versions (the default PyPI index
ships CUDA builds of torch for Linux x86-64; the constraints pin the same version, so
they are used without their torch line)::

    set -o pipefail; python3 -m venv /tmp/venv-gpu && /tmp/venv-gpu/bin/pip install torch==2.13.0 && grep -v '^torch==' constraints.txt > /tmp/constraints-gpu.txt && /tmp/venv-gpu/bin/pip install -c /tmp/constraints-gpu.txt -e ".[dev]" && /tmp/venv-gpu/bin/python -c "import torch; assert torch.cuda.is_available(), torch.__version__" && /tmp/venv-gpu/bin/python -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_loaders.py -k "not bench_gpu_quick"; /tmp/venv-gpu/bin/python benchmarks/bench_gpu.py --out $OUT/gpu.md
"""

from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import platform
import socket
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from tabloader.datasets import ParquetStream, TabularDataset
from tabloader.loaders import make_loader
from tabloader.trainers import (
    DistributedContext,
    LinearCore,
    LinearRegressor,
    LogisticClassifier,
    SoftmaxClassifier,
)

PARTS = ("resident", "h2d", "trainers", "stream", "reach", "nccl")  # run in this order
MODELS = {  # name: (task, outputs, estimator)
    "linear": ("regression", 1, LinearRegressor),
    "logistic": ("binary", 1, LogisticClassifier),
    "softmax": ("multiclass", 10, SoftmaxClassifier),
}
NO_TARGET = "none in the issue"


# ---------------------------------------------------------------------- the report
class Report:
    """Rows of (part, measured, value, baseline, baseline value, ratio, target), the
    skipped parts and the failures; printed as Markdown, rewritten to ``--out``."""

    def __init__(self, out: str | None, header: list[str]) -> None:
        self.out = out
        self.header = header
        self.rows: list[tuple[str, ...]] = []
        self.skipped: list[tuple[str, str]] = []
        self.failed: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self.verdicts: list[bool] = []

    def row(
        self,
        part: str,
        measured: str,
        value: float,
        baseline: str,
        base_value: float,
        unit: str,
        *,
        higher_is_better: bool,
        target: float | None = None,
        target_text: str | None = None,
    ) -> None:
        ratio = value / base_value if base_value > 0 else math.nan
        if target is None:
            tgt = target_text or NO_TARGET
        else:
            ok = ratio >= target if higher_is_better else ratio <= target
            self.verdicts.append(ok)
            sign = ">=" if higher_is_better else "<="
            tgt = f"{sign} {target:g}x ({'met' if ok else 'MISSED'})"
        shown = "-" if math.isnan(ratio) else f"{ratio:.2f}x"
        cells = (part, measured, _fmt(value, unit), baseline, _fmt(base_value, unit), shown, tgt)
        self.rows.append(cells)
        print("| " + " | ".join(cells) + " |", flush=True)

    def skip(self, part: str, why: str) -> None:
        self.skipped.append((part, why))
        print(f"skipped: {part}: {why}", flush=True)

    def fail(self, part: str, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}"
        self.failed.append((part, text))
        traceback.print_exc()
        print(f"FAILED: {part}: {text}", flush=True)

    def markdown(self) -> str:
        lines = [*self.header, ""]
        lines += [
            "| part | measured | value | baseline (same run) | value | ratio | target |",
            "|---|---|---:|---|---:|---:|---|",
        ]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.verdicts:
            met = sum(self.verdicts)
            lines += ["", f"Targets of the issue: {met} of {len(self.verdicts)} met."]
        if self.notes:
            lines += ["", *(f"- {n}" for n in self.notes)]
        if self.skipped:
            lines += ["", "Skipped:", *(f"- {p}: {w}" for p, w in self.skipped)]
        if self.failed:
            lines += ["", "Failed:", *(f"- {p}: {w}" for p, w in self.failed)]
        return "\n".join(lines) + "\n"

    def save(self) -> None:
        if self.out:
            Path(self.out).write_text(self.markdown())


def _fmt(v: float, unit: str) -> str:
    if math.isnan(v):
        return "-"
    if unit == "GB/s":
        return f"{v:.2f} GB/s"
    if unit == "Mrows/s":
        return f"{v:.2f} M rows/s"
    if unit == "s":
        return f"{v:.4f} s" if v < 1 else f"{v:.2f} s"
    if unit == "us":
        return f"{v:.1f} us"
    return f"{v:.4g} {unit}"


# ---------------------------------------------------------------------- timing
def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def best_times(
    runs: dict[str, Callable[[], object]], dev: torch.device, repeats: int
) -> dict[str, float]:
    """Seconds of the fastest run of each callable after one warm-up; the runs are
    interleaved so that a busy spell of the machine hits all of them alike."""
    best = dict.fromkeys(runs, math.inf)
    for i in range(repeats + 1):
        for name, fn in runs.items():
            gc.collect()
            _sync(dev)
            t0 = time.perf_counter()
            fn()
            _sync(dev)
            dt = time.perf_counter() - t0
            if i > 0:  # run 0 is the warm-up
                best[name] = min(best[name], dt)
    return best


# ---------------------------------------------------------------------- data
def make_xy(kind: str, n: int, f: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, f), dtype=np.float32)
    W = g.standard_normal((f, 10)).astype(np.float32) / np.sqrt(f)
    return X, make_y(kind, X, W, g)


def make_y(kind: str, X: np.ndarray, W: np.ndarray, g: np.random.Generator) -> np.ndarray:
    n = X.shape[0]
    if kind == "regression":
        return X @ W[:, 0] * 2 + g.standard_normal(n, dtype=np.float32)
    if kind == "binary":
        z = X @ W[:, 0] * 2
        return (g.random(n, dtype=np.float32) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return (X @ W * 2 + g.gumbel(size=(n, 10)).astype(np.float32)).argmax(1)


def target_tensor(kind: str, y: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(y)
    return t if kind == "multiclass" else t.float()[:, None]


def regression_table(n: int, f: int) -> tuple[TabularDataset, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, f, generator=g)
    y = X[:, 0] * 2 + torch.randn(n, generator=g)
    ds = TabularDataset(X, y, task="regression")
    return ds, ds.features, ds.targets


def _rows_of(loader) -> int:
    rows = 0
    for xb, _yb in loader:
        rows += xb.shape[0]
    return rows


# ---------------------------------------------------------------------- h2d
def part_h2d(rep: Report, args, dev: torch.device, cuda: bool) -> None:
    n, f = args.rows, args.features
    ds, _X, _y = regression_table(n, f)
    nbytes = n * (f + 1) * 4  # features and the float target
    for b in args.h2d_batch_sizes:
        cpu_loader = make_loader(ds, batch_size=b, shuffle=True, seed=0, pin_memory=False)
        if not cuda:
            t = best_times({"cpu": lambda ld=cpu_loader: _rows_of(ld)}, dev, args.repeats)
            rep.row("h2d", f"make_loader gather on the CPU, batch {b} (no copy)",
                    nbytes / t["cpu"] / 1e9, "-", math.nan, "GB/s", higher_is_better=True,
                    target_text="reference for the copies (GPU part skipped)")  # fmt: skip
            continue
        pinned = make_loader(ds, batch_size=b, shuffle=True, seed=0, pin_memory=True)
        src_x = torch.empty(b, f, pin_memory=True)
        src_y = torch.empty(b, 1, pin_memory=True)
        dst_x = torch.empty(b, f, device=dev)
        dst_y = torch.empty(b, 1, device=dev)
        steps = math.ceil(n / b)

        def raw_copy(steps=steps, sx=src_x, sy=src_y, dx=dst_x, dy=dst_y):
            for _ in range(steps):
                dx.copy_(sx, non_blocking=True)
                dy.copy_(sy, non_blocking=True)

        def loader_copy(loader, non_blocking: bool):
            def run():
                for xb, yb in loader:
                    xb.to(dev, non_blocking=non_blocking)
                    yb.to(dev, non_blocking=non_blocking)

            return run

        t = best_times(
            {
                "raw": raw_copy,
                "pinned": loader_copy(pinned, True),
                "unpinned": loader_copy(cpu_loader, False),
                "gather": lambda ld=cpu_loader: _rows_of(ld),
            },
            dev,
            args.repeats,
        )
        gb = {k: nbytes / v / 1e9 for k, v in t.items()}
        rep.row("h2d", f"make_loader pinned + non_blocking .to(cuda), batch {b}", gb["pinned"],
                "raw pinned copy_ (same bytes, same batch shape)", gb["raw"], "GB/s",
                higher_is_better=True, target=0.8)  # fmt: skip
        rep.row("h2d", f"make_loader not pinned, .to(cuda), batch {b}", gb["unpinned"],
                "make_loader pinned + non_blocking", gb["pinned"], "GB/s",
                higher_is_better=True)  # fmt: skip
        rep.row("h2d", f"make_loader gather on the CPU, batch {b} (no copy)", gb["gather"],
                "raw pinned copy_", gb["raw"], "GB/s", higher_is_better=True,
                target_text="reference: the pinned path cannot beat the gather")  # fmt: skip

        # overlap with a compute stand-in: matmuls sized to take about as long as the copy
        m = 1024
        A = torch.randn(m, m, device=dev)
        t_mm = best_times({"mm": lambda A=A: [A @ A for _ in range(20)]}, dev, 2)["mm"] / 20
        reps = max(1, round(t["pinned"] / steps / t_mm))

        def compute(steps=steps, A=A, reps=reps):
            for _ in range(steps):
                for _ in range(reps):
                    A @ A

        def both(loader, non_blocking: bool, A=A, reps=reps):
            def run():
                for xb, yb in loader:
                    xb.to(dev, non_blocking=non_blocking)
                    yb.to(dev, non_blocking=non_blocking)
                    for _ in range(reps):
                        A @ A

            return run

        t2 = best_times(
            {
                "compute": compute,
                "copy": loader_copy(pinned, True),
                "both": both(pinned, True),
                "both_unpinned": both(cpu_loader, False),
                "copy_unpinned": loader_copy(cpu_loader, False),
            },
            dev,
            args.repeats,
        )
        serial = t2["copy"] + t2["compute"]
        rep.row("h2d", f"pinned + non_blocking + {reps} matmul {m}^2 per batch, batch {b}: epoch",
                t2["both"], "copy and compute run apart (sum)", serial, "s",
                higher_is_better=False,
                target_text=f"{NO_TARGET}; perfect overlap = {max(t2['copy'], t2['compute']) / serial:.2f}x")  # fmt: skip
        serial_u = t2["copy_unpinned"] + t2["compute"]
        rep.row("h2d", f"not pinned + the same matmuls, batch {b}: epoch", t2["both_unpinned"],
                "copy (not pinned) and compute apart (sum)", serial_u, "s",
                higher_is_better=False)  # fmt: skip
        del pinned, src_x, src_y, dst_x, dst_y, A
        torch.cuda.empty_cache()
    if not cuda:
        rep.skip("h2d (copies to the GPU, overlap)", _no_cuda_reason())


# ---------------------------------------------------------------------- resident
def part_resident(rep: Report, args, dev: torch.device, cuda: bool) -> None:
    n, f = args.rows, args.features
    ds, X, y = regression_table(n, f)
    Xd, yd = X.to(dev), y.to(dev)
    g = torch.Generator(device=dev).manual_seed(0)
    where = "GPU" if cuda else "CPU"
    for b in args.resident_batch_sizes:
        loader = make_loader(ds, batch_size=b, shuffle=True, seed=0, device=dev)
        first = next(iter(loader))
        if first[0].device.type != dev.type:
            raise RuntimeError(f"make_loader(device={dev}) yielded a batch on {first[0].device}")

        def limit(b=b):
            perm = torch.randperm(n, device=dev, generator=g)
            for i in range(0, n, b):
                idx = perm[i : i + b]
                Xd.index_select(0, idx)
                yd.index_select(0, idx)

        t = best_times({"loader": lambda ld=loader: _rows_of(ld), "limit": limit}, dev,
                       args.repeats)  # fmt: skip
        rep.row("resident", f'make_loader(device="{dev.type}") epoch, batch {b}',
                n / t["loader"] / 1e6, f"randperm + index_select on the {where} (X and y)",
                n / t["limit"] / 1e6, "Mrows/s", higher_is_better=True,
                target=0.8 if cuda else None,
                target_text=None if cuda else "0.8x on the GPU (this is the CPU run)")  # fmt: skip
        del loader
    if cuda:
        cpu_perm = best_times({"p": lambda: torch.randperm(n).to(dev)}, dev, args.repeats)["p"]
        gpu_perm = best_times({"p": lambda: torch.randperm(n, device=dev, generator=g)}, dev,
                              args.repeats)["p"]  # fmt: skip
        rep.notes.append(
            f"one epoch's permutation of {n:,} rows: torch.randperm on the CPU + .to(cuda) "
            f"{cpu_perm * 1e3:.1f} ms, torch.randperm on the GPU {gpu_perm * 1e3:.2f} ms "
            "(make_loader draws its orders on the CPU, from (seed, epoch))"
        )
    else:
        rep.skip("resident (device-resident loader on the GPU)", _no_cuda_reason())


# ---------------------------------------------------------------------- stream
def part_stream(rep: Report, args, dev: torch.device, cuda: bool) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, f = args.stream_rows, args.features
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        path = os.path.join(tmp, "table.parquet")
        rng = np.random.default_rng(0)
        schema = pa.schema([(f"f{j}", pa.float32()) for j in range(f)] + [("y", pa.float32())])
        chunk = 1 << 20
        with pq.ParquetWriter(path, schema, compression="none") as w:
            for s in range(0, n, chunk):
                k = min(chunk, n - s)
                cols = [pa.array(rng.standard_normal(k, dtype=np.float32)) for _ in range(f + 1)]
                w.write_table(pa.Table.from_arrays(cols, schema=schema),
                              row_group_size=args.stream_row_group)  # fmt: skip
        b = args.stream_batch_size
        stream = ParquetStream(path, target="y", task="regression", batch_size=b, shuffle=True,
                               seed=0)  # fmt: skip

        def cpu_rate():
            return _rows_of(stream)

        runs: dict[str, Callable[[], object]] = {"cpu": cpu_rate}
        if cuda:

            def to_gpu():
                for xb, yb in stream:
                    xb.to(dev)
                    yb.to(dev)

            pinned = make_loader(stream, pin_memory=True)

            def to_gpu_pinned():
                for xb, yb in pinned:
                    xb.to(dev, non_blocking=True)
                    yb.to(dev, non_blocking=True)

            runs |= {"gpu": to_gpu, "gpu_pinned": to_gpu_pinned}
        t = best_times(runs, dev, args.repeats)
        rate = {k: n / v / 1e6 for k, v in t.items()}
        if cuda:
            rep.row("stream", f"ParquetStream batch {b}, shuffled, each batch .to(cuda)",
                    rate["gpu"], "the same stream read on the CPU", rate["cpu"], "Mrows/s",
                    higher_is_better=True)  # fmt: skip
            rep.row("stream", "make_loader(stream, pin_memory=True), .to(cuda, non_blocking=True)",
                    rate["gpu_pinned"], "the same stream read on the CPU", rate["cpu"],
                    "Mrows/s", higher_is_better=True)  # fmt: skip
        else:
            rep.row("stream", f"ParquetStream batch {b}, shuffled, on the CPU", rate["cpu"], "-",
                    math.nan, "Mrows/s", higher_is_better=True,
                    target_text="CPU rate only (GPU part skipped)")  # fmt: skip
            rep.skip("stream (ParquetStream feeding the GPU)", _no_cuda_reason())
        rep.notes.append(
            f"stream: {n:,} rows x {f} float32 + target, uncompressed Parquet, row groups of "
            f"{args.stream_row_group:,}, in the page cache"
        )


# ---------------------------------------------------------------------- trainers
def _loss(kind: str, out: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    if kind == "regression":
        return F.mse_loss(out, yb)
    if kind == "binary":
        return F.binary_cross_entropy_with_logits(out, yb)
    return F.cross_entropy(out, yb)


def plain_epoch_fn(kind: str, k: int, X: torch.Tensor, y: torch.Tensor, b: int, dev):
    """The textbook loop on ``dev``: nn.Linear + optim.SGD + autograd, index_select
    batches over a randperm drawn on the same device."""
    torch.manual_seed(0)
    model = torch.nn.Linear(X.shape[1], k).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    g = torch.Generator(device=dev).manual_seed(0)
    n = X.shape[0]

    def run():
        perm = torch.randperm(n, device=dev, generator=g)
        for s in range(0, n, b):
            idx = perm[s : s + b]
            loss = _loss(kind, model(X.index_select(0, idx)), y.index_select(0, idx))
            opt.zero_grad()
            loss.backward()
            opt.step()

    return run


def part_trainers(rep: Report, args, dev: torch.device, cuda: bool) -> None:
    n, f = args.trainer_rows, args.features
    target = 1.0 if cuda else None
    tt = None if cuda else "<= 1x on the GPU (this is the CPU run)"
    for name in args.models:
        kind, k, cls = MODELS[name]
        Xn, yn = make_xy(kind, n, f)
        Xd = torch.from_numpy(Xn).to(dev)
        yd = target_tensor(kind, yn).to(dev)
        for b in args.trainer_batch_sizes:
            plain = plain_epoch_fn(kind, k, Xd, yd, b, dev)
            core = LinearCore(kind, f, k, optimizer="sgd", lr=0.01, device=dev)
            loader = make_loader(TensorDataset(Xd, yd), batch_size=b, shuffle=True, seed=0,
                                 device=dev)  # fmt: skip
            t = best_times({"plain": plain, "core": lambda c=core, ld=loader: c.run_epoch(ld)},
                           dev, args.repeats)  # fmt: skip
            # the estimator: epoch seconds from history_ (the loop synchronises the
            # device; each epoch also evaluates the training loss once)
            est = cls(device=dev, optimizer="sgd", momentum=0.0, lr=0.01, batch_size=b,
                      max_epochs=args.repeats + 1, tol=None, average=False,
                      standardize=False, random_state=0)  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(Xn, yn)
            if not str(est.device_).startswith(dev.type):
                raise RuntimeError(f"{cls.__name__}(device={dev}) trained on {est.device_}")
            t_est = min(h["seconds"] for h in est.history_[1:])
            label = f"{name} ({k} classes)" if k > 1 else name
            rep.row("trainers", f'{cls.__name__}(device="{dev.type}") epoch, {label}, batch {b}',
                    t_est, f"plain autograd loop on the {dev.type}", t["plain"], "s",
                    higher_is_better=False, target=target, target_text=tt)  # fmt: skip
            rep.row("trainers", f"LinearCore.run_epoch(make_loader(device)), {label}, batch {b}",
                    t["core"], f"plain autograd loop on the {dev.type}", t["plain"], "s",
                    higher_is_better=False, target=target, target_text=tt)  # fmt: skip
        del Xd, yd
    rep.notes.append(
        f"trainers: {n:,} x {f} synthetic standardised rows; estimators with optimizer='sgd', "
        "momentum=0, lr=0.01, average=False, standardize=False, tol=None (their epoch time "
        "from history_, which includes one training-loss pass per epoch); the plain loop "
        "is nn.Linear + optim.SGD(lr=0.01) + autograd on the same device"
    )
    if not cuda:
        rep.skip("trainers on CUDA", _no_cuda_reason())


# ---------------------------------------------------------------------- reach
def objective(kind: str, coef, intercept, X: np.ndarray, y: np.ndarray) -> float:
    coef = np.atleast_2d(coef).astype(np.float64)
    total = 0.0
    for s in range(0, X.shape[0], 1 << 20):  # in chunks: float64 copies of 10M rows
        Z = X[s : s + (1 << 20)].astype(np.float64) @ coef.T + np.atleast_1d(intercept)
        t = y[s : s + (1 << 20)]
        if kind == "regression":
            total += float(np.sum((Z[:, 0] - t) ** 2))
        elif kind == "binary":
            total += float(np.sum(np.logaddexp(0, Z[:, 0]) - t * Z[:, 0]))
        else:
            m = Z.max(1)
            lse = np.log(np.exp(Z - m[:, None]).sum(1)) + m
            total += float(np.sum(lse - Z[np.arange(len(t)), t]))
    return total / X.shape[0]


def part_reach(rep: Report, args, dev: torch.device, cuda: bool) -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    n, f = args.reach_rows, args.features
    g = np.random.default_rng(0)
    X = g.standard_normal((n, f), dtype=np.float32)
    W = g.standard_normal((f, 10)).astype(np.float32) / np.sqrt(f)
    for name in args.models:
        kind, _k, cls = MODELS[name]
        y = make_y(kind, X, W, g)
        X64 = X.astype(np.float64)
        ref = LinearRegression() if kind == "regression" else LogisticRegression(C=np.inf)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.fit(X64, y)
        t_sk = time.perf_counter() - t0
        del X64
        best = objective(kind, ref.coef_, ref.intercept_, X, y)
        est = cls(random_state=0, max_epochs=args.max_epochs, device=dev)
        _sync(dev)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        _sync(dev)
        total = time.perf_counter() - t0
        secs = np.cumsum([h["seconds"] for h in est.history_])
        setup = total - secs[-1]
        losses = np.array([h["train_loss"] for h in est.history_])
        for rel in (0.001, 0.01):
            hit = np.nonzero(losses <= best * (1 + rel))[0]
            what = f"{cls.__name__}() default fit on the {dev.type} to {rel:.1%} of the optimum"
            base = f"scikit-learn {type(ref).__name__} fit on the CPU"
            if hit.size:
                rep.row("reach", f"{what}, {n:,} x {f} ({hit[0] + 1} epoch{'s' if hit[0] else ''})",
                        setup + secs[hit[0]], base, t_sk, "s", higher_is_better=False)  # fmt: skip
            else:
                rep.row("reach", f"{what}, {n:,} x {f}: NOT REACHED in {est.n_iter_} epochs",
                        total, base, t_sk, "s", higher_is_better=False)  # fmt: skip
    if not cuda:
        rep.skip("reach on the GPU (the trainers ran on the CPU instead)", _no_cuda_reason())


# ---------------------------------------------------------------------- nccl
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_process_group(backend: str, dev: torch.device, args) -> dict[str, float]:
    import torch.distributed as dist

    res: dict[str, float] = {}
    kwargs = {}
    if backend == "nccl":
        kwargs["device_id"] = dev  # eager: the communicator is made at init
    t0 = time.perf_counter()
    dist.init_process_group(
        backend,
        init_method=f"tcp://127.0.0.1:{_free_port()}",
        rank=0,
        world_size=1,
        timeout=datetime.timedelta(seconds=120),
        **kwargs,
    )
    try:
        small = torch.ones(33 * 10, device=dev)  # a softmax gradient of 32 features
        dist.all_reduce(small)
        _sync(dev)
        res["init"] = time.perf_counter() - t0
        calls = 200
        t = best_times({"s": lambda: [dist.all_reduce(small) for _ in range(calls)]}, dev,
                       args.repeats)  # fmt: skip
        res["small"] = t["s"] / calls
        big = torch.ones(args.allreduce_mb * (1 << 20) // 4, device=dev)
        t = best_times({"b": lambda: dist.all_reduce(big)}, dev, args.repeats)
        res["big"] = big.numel() * 4 / t["b"] / 1e9
        # tabloader's own collective path: one all-reduce of the gradient per step
        n, f = args.trainer_rows, args.features
        Xn, yn = make_xy("binary", n, f)
        Xd, yd = torch.from_numpy(Xn).to(dev), target_tensor("binary", yn).to(dev)
        loader = make_loader(TensorDataset(Xd, yd), batch_size=4096, shuffle=True, seed=0,
                             device=dev)  # fmt: skip
        ctx = DistributedContext(device=dev)
        core = LinearCore("binary", f, 1, optimizer="sgd", lr=0.01, device=dev)
        t = best_times({"ctx": lambda: ctx.run_epoch(core, loader),
                        "alone": lambda: core.run_epoch(loader)}, dev, args.repeats)  # fmt: skip
        res["ctx"], res["alone"] = t["ctx"], t["alone"]
        if not math.isfinite(core.loss(Xd, yd)):
            raise RuntimeError("the loss after DistributedContext.run_epoch is not finite")
    finally:
        dist.destroy_process_group()
    return res


def part_nccl(rep: Report, args, dev: torch.device, cuda: bool) -> None:
    import torch.distributed as dist

    if not dist.is_available():
        rep.skip("nccl (and the gloo baseline)", "torch.distributed is not available")
        return
    os.environ.setdefault("NCCL_SOCKET_IFNAME", "lo")
    gloo = _one_process_group("gloo", torch.device("cpu"), args)
    if not cuda or not dist.is_nccl_available():
        why = _no_cuda_reason() if not cuda else "this torch build has no NCCL"
        for what, unit, v in (("init_process_group + first all_reduce", "s", gloo["init"]),
                              ("all_reduce of 330 float32, per call", "us", gloo["small"] * 1e6),
                              (f"all_reduce of {args.allreduce_mb} MB", "GB/s", gloo["big"])):  # fmt: skip
            rep.row("nccl", f"gloo (CPU): {what}", v, "-", math.nan, unit,
                    higher_is_better=unit == "GB/s", target_text="CPU baseline only")  # fmt: skip
        rep.row("nccl", "DistributedContext.run_epoch, gloo, CPU, logistic, batch 4096",
                gloo["ctx"], "LinearCore.run_epoch alone, CPU", gloo["alone"], "s",
                higher_is_better=False)  # fmt: skip
        rep.skip("nccl (1-process NCCL group)", why)
        return
    nccl = _one_process_group("nccl", dev, args)
    rep.row("nccl", "NCCL init_process_group(tcp://127.0.0.1) + first all_reduce", nccl["init"],
            "gloo, CPU", gloo["init"], "s", higher_is_better=False)  # fmt: skip
    rep.row("nccl", "NCCL all_reduce of 330 float32, per call", nccl["small"] * 1e6,
            "gloo, CPU", gloo["small"] * 1e6, "us", higher_is_better=False)  # fmt: skip
    rep.row("nccl", f"NCCL all_reduce of {args.allreduce_mb} MB", nccl["big"], "gloo, CPU",
            gloo["big"], "GB/s", higher_is_better=True)  # fmt: skip
    rep.row("nccl", "DistributedContext.run_epoch, NCCL, cuda, logistic, batch 4096",
            nccl["ctx"], "LinearCore.run_epoch alone, cuda", nccl["alone"], "s",
            higher_is_better=False)  # fmt: skip


# ---------------------------------------------------------------------- main
def _no_cuda_reason() -> str:
    if torch.version.cuda is None:
        return f"no CUDA: torch {torch.__version__} is a CPU build (torch.version.cuda is None)"
    return f"no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=None,
                    help="rows of the synthetic tables (default 10,000,000; --quick 200,000)")  # fmt: skip
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    ap.add_argument("--out", default=None, help="also write the Markdown table to this file")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help=f"comma-separated subset of {','.join(PARTS)}")  # fmt: skip
    ap.add_argument("--models", default="linear,logistic,softmax")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs, best kept (3; quick 2)")
    ap.add_argument("--trainer-rows", type=int, default=None, help="default min(rows, 1M)")
    ap.add_argument("--stream-rows", type=int, default=None, help="default min(rows, 4M)")
    ap.add_argument("--reach-rows", type=int, default=None, help="default rows")
    ap.add_argument("--max-epochs", type=int, default=None, help="cap of the fits (5; quick 3)")
    ap.add_argument("--h2d-batch-sizes", type=int, nargs="+", default=[4096, 65536])
    ap.add_argument("--resident-batch-sizes", type=int, nargs="+", default=[256, 4096, 65536])
    ap.add_argument("--trainer-batch-sizes", type=int, nargs="+", default=[256, 4096])
    ap.add_argument("--stream-batch-size", type=int, default=4096)
    ap.add_argument("--stream-row-group", type=int, default=262_144)
    ap.add_argument("--allreduce-mb", type=int, default=None, help="256; quick 4")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = ap.parse_args(argv)
    if args.rows is None:
        args.rows = 200_000 if args.quick else 10_000_000
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.trainer_rows = args.trainer_rows or min(args.rows, 1_000_000)
    args.stream_rows = args.stream_rows or min(args.rows, 4_000_000)
    args.reach_rows = args.reach_rows or args.rows
    args.max_epochs = args.max_epochs or (3 if args.quick else 5)
    args.allreduce_mb = args.allreduce_mb or (4 if args.quick else 256)
    args.parts = [p for p in args.parts.split(",") if p]
    args.models = [m for m in args.models.split(",") if m]
    for p in args.parts:
        if p not in PARTS:
            ap.error(f"--parts: unknown part {p!r}; choose from {','.join(PARTS)}")
    for m in args.models:
        if m not in MODELS:
            ap.error(f"--models: unknown model {m!r}; choose from {','.join(MODELS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    gpu = torch.cuda.get_device_name(dev) if cuda else "none"
    header = [
        f"# bench_gpu.py {' '.join(sys.argv[1:])}",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; GPU: {gpu}; "
        f"torch {torch.__version__} (CUDA {torch.version.cuda}); {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch threads; Python {platform.python_version()}; "
        f"rows {args.rows:,} x {args.features} float32 (trainers {args.trainer_rows:,}, "
        f"stream {args.stream_rows:,}, reach {args.reach_rows:,}); best of {args.repeats} "
        "after a warm-up",
    ]
    rep = Report(args.out, header)
    print("\n".join(header), end="\n\n", flush=True)
    if not cuda:
        print(f"CUDA is not available ({_no_cuda_reason()}): running the CPU parts only\n")
    fns = {
        "h2d": part_h2d,
        "resident": part_resident,
        "stream": part_stream,
        "trainers": part_trainers,
        "reach": part_reach,
        "nccl": part_nccl,
    }
    for name in args.parts:
        t0 = time.perf_counter()
        try:
            fns[name](rep, args, dev, cuda)
        except Exception as exc:  # report, go on with the other parts
            rep.fail(name, exc)
        finally:
            if cuda:
                torch.cuda.empty_cache()
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
        rep.save()
    print()
    print(rep.markdown(), flush=True)
    if rep.skipped:
        print(f"GPU parts skipped: {len(rep.skipped)} ({'; '.join(p for p, _ in rep.skipped)})")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
