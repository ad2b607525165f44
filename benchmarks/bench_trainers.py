"""Benchmark of tabloader.trainers against a plain autograd loop and scikit-learn.

Prints Markdown tables for the three models on synthetic standardised data:

1. epoch time of the trainers' closed-form steps through ``make_loader`` against the
   textbook loop (``nn.Linear`` + ``optim.SGD`` + autograd, batches gathered with
   ``index_select``) over the same shuffled batches, at batch 256 and 4096;
2. wall time of a default fit to reach within 1% and 0.1% of scikit-learn's optimal
   training loss, against scikit-learn's own fit time;
3. ``defaults``: the whole default fit (only ``alpha`` set) against scikit-learn's fit
   of the same objective (``sklearn_equivalent``: ``LogisticRegression`` lbfgs,
   ``Ridge``) at ``--rows`` and on raw real tables under 10,000 rows, with the
   objective gap (issue 11: at most 1.0x for logistic/softmax, 2x for linear at 1M
   rows; small tables at most 50 ms or 5x, whichever is larger);
4. ``overhead``: an estimator epoch (history, averaging, the objective on the sample
   rows) against ``LinearCore.run_epoch`` with the same step alone at batch 4096
   (issue 11: at most 1.2x).

Run::

    .venv/bin/python benchmarks/bench_trainers.py --rows 1000000
    .venv/bin/python benchmarks/bench_trainers.py --rows 100000
    .venv/bin/python benchmarks/bench_trainers.py --tables defaults,overhead
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LinearRegression, LogisticRegression
from torch.utils.data import TensorDataset

from tabloader.loaders import make_loader
from tabloader.trainers import (
    LinearCore,
    LinearRegressor,
    LogisticClassifier,
    SoftmaxClassifier,
    sklearn_equivalent,
)

MODELS = [
    ("linear", "regression", 1, LinearRegressor),
    ("logistic", "binary", 1, LogisticClassifier),
    ("softmax (10 classes)", "multiclass", 10, SoftmaxClassifier),
]


def make_data(kind: str, n: int, f: int, seed: int = 0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, f), dtype=np.float32)
    W = g.standard_normal((f, 10)).astype(np.float32) / np.sqrt(f)
    if kind == "regression":
        y = X @ W[:, 0] * 2 + g.standard_normal(n, dtype=np.float32)
    elif kind == "binary":
        z = X @ W[:, 0] * 2
        y = (g.random(n, dtype=np.float32) < 1 / (1 + np.exp(-z))).astype(np.int64)
    else:
        y = (X @ W * 2 + g.gumbel(size=(n, 10)).astype(np.float32)).argmax(1)
    return X, y


def plain_epoch(kind, k, X, y, bs, seed):
    """The textbook loop: nn.Linear + optim.SGD + autograd, index_select batches."""
    torch.manual_seed(0)
    model = torch.nn.Linear(X.shape[1], k)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(X.shape[0], generator=g)
    for s in range(0, X.shape[0], bs):
        idx = perm[s : s + bs]
        xb, yb = X.index_select(0, idx), y.index_select(0, idx)
        out = model(xb)
        if kind == "regression":
            loss = F.mse_loss(out, yb)
        elif kind == "binary":
            loss = F.binary_cross_entropy_with_logits(out, yb)
        else:
            loss = F.cross_entropy(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def best_of(fn, repeat=2):
    fn()  # warm-up
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def epoch_table(rows: int, f: int, models: list) -> list[str]:
    out = [
        "| model | batch | plain autograd epoch (s) | tabloader epoch (s) | ratio | target |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, kind, k, _ in models:
        X, y = make_data(kind, rows, f)
        Xt = torch.from_numpy(X)
        yt = torch.from_numpy(y) if kind == "multiclass" else torch.from_numpy(y).float()[:, None]
        for bs, target in ((256, 0.5), (4096, 1.0)):
            t_plain = best_of(lambda a=(kind, k, Xt, yt, bs): plain_epoch(*a, 0))
            core = LinearCore(kind, f, k, optimizer="sgd", lr=0.01)
            loader = make_loader(
                TensorDataset(Xt, yt), batch_size=bs, shuffle=True, seed=0, device="cpu"
            )
            t_ours = best_of(lambda core=core, loader=loader: core.run_epoch(loader))
            ratio = t_ours / t_plain
            ok = "met" if ratio <= target else "missed"
            out.append(
                f"| {name} | {bs} | {t_plain:.3f} | {t_ours:.3f} | {ratio:.2f}x | "
                f"<= {target}x ({ok}) |"
            )
    return out


def objective(kind, coef, intercept, X, y):
    coef = np.atleast_2d(coef).astype(np.float64)
    Z = X.astype(np.float64) @ coef.T + np.atleast_1d(intercept)
    if kind == "regression":
        return float(np.mean((Z[:, 0] - y) ** 2))
    if kind == "binary":
        return float(np.mean(np.logaddexp(0, Z[:, 0]) - y * Z[:, 0]))
    m = Z.max(1)
    lse = np.log(np.exp(Z - m[:, None]).sum(1)) + m
    return float(np.mean(lse - Z[np.arange(len(y)), y]))


def reach_table(rows: int, f: int, max_epochs: int, models: list) -> list[str]:
    out = [
        "| model | scikit-learn | sklearn fit (s) | epochs run | to 1% (s) | ratio "
        "| to 0.1% (s) | ratio | targets (1% <= 0.5x, 0.1% <= 1x) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, kind, _, cls in models:
        X, y = make_data(kind, rows, f)
        X64 = X.astype(np.float64)
        ref = LinearRegression() if kind == "regression" else LogisticRegression(C=np.inf)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.fit(X64, y)
        t_sk = time.perf_counter() - t
        best = objective(kind, ref.coef_, ref.intercept_, X, y)
        est = cls(random_state=0, max_epochs=max_epochs, device="cpu")
        # record the parameters after every epoch to evaluate the exact loss afterwards
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        total = time.perf_counter() - t
        secs = np.cumsum([h["seconds"] for h in est.history_])
        setup = total - secs[-1]
        losses = np.array([h["train_loss"] for h in est.history_])
        cells = []
        for rel in (0.01, 0.001):
            hit = np.nonzero(losses <= best * (1 + rel))[0]
            if hit.size:
                tt = setup + secs[hit[0]]
                cells.append((f"{tt:.2f}", f"{tt / t_sk:.2f}x", tt / t_sk))
            else:
                cells.append(("not reached", "-", np.inf))
        if kind == "regression":
            verdict = "no target (closed-form solve)"
        else:
            ok1 = "met" if cells[0][2] <= 0.5 else "missed"
            ok2 = "met" if cells[1][2] <= 1.0 else "missed"
            verdict = f"{ok1} / {ok2}"
        out.append(
            f"| {name} | {type(ref).__name__} | {t_sk:.2f} | {est.n_iter_} | {cells[0][0]} | "
            f"{cells[0][1]} | {cells[1][0]} | {cells[1][1]} | {verdict} |"
        )
    return out


def _timed_fit(est, X, y, threads=None):
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(threads):
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - t


def _small_tables():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine

    out = [
        ("diabetes", "regression", LinearRegressor, load_diabetes),
        ("breast cancer", "binary", LogisticClassifier, load_breast_cancer),
        ("wine", "multiclass", SoftmaxClassifier, load_wine),
        ("digits", "multiclass", SoftmaxClassifier, load_digits),
    ]
    return [(n, k, c, *f(return_X_y=True)) for n, k, c, f in out]


def _reference(est, kind, n):
    """scikit-learn's fit as a user runs it: lbfgs, its default tol and max_iter."""
    ref = sklearn_equivalent(est, n)
    if kind != "regression":
        ref.set_params(tol=1e-4, max_iter=100, solver="lbfgs")
    return ref


def _penalised(kind, est, X, y, alpha):
    coef = np.asarray(est.coef_)
    return objective(kind, coef, est.intercept_, X, y) + 0.5 * alpha * float((coef**2).sum())


def default_table(rows: int, f: int, models: list, alpha: float, repeat: int) -> list[str]:
    """Whole default fits (only alpha set) against scikit-learn's fit, same objective.

    Fits are interleaved (scikit-learn, tabloader, scikit-learn, ...) ``repeat`` times
    (twice as often under 10,000 rows) and the medians compared, so that load from
    other processes hits both alike. Under 10,000 rows scikit-learn is also timed on
    one BLAS thread (its default threads stall on tiny products when cores are
    shared); the bound uses the faster of the two. The linear model is compared with
    ``LinearRegression`` (the issue's bound) and with ``Ridge`` (the same objective).
    """
    out = [
        f"| table | rows | model (alpha={alpha:g}) | scikit-learn | sklearn fit (s) "
        "| tabloader fit (s) | ratio | objective gap | converged | target |",
        "|---|---:|---|---|---:|---:|---:|---:|---|---|",
    ]
    cases = [
        (f"synthetic x {f}", kind, cls, *make_data(kind, rows, f)) for _, kind, _, cls in models
    ]
    cases += _small_tables()
    for name, kind, cls, X, y in cases:
        small = len(y) < 10_000
        est = cls(alpha=alpha, random_state=0, device="cpu")
        refs = [("", _reference(est, kind, len(y)), None)]
        if small:
            refs.append((", 1 thread", _reference(est, kind, len(y)), 1))
        elif kind == "regression":
            refs.insert(0, ("", LinearRegression(), None))
        X64 = X.astype(np.float64)
        times: dict[int, list[float]] = {i: [] for i in range(len(refs) + 1)}
        for _ in range(2 * repeat if small else repeat):
            for i, (_, ref, threads) in enumerate(refs):
                times[i].append(_timed_fit(ref, X64, y, threads))
            times[len(refs)].append(_timed_fit(est, X, y))
        t_us = float(np.median(times[len(refs)]))
        codes = _codes(est, y)
        ours = _penalised(kind, est, X, codes, alpha)
        converged = f"{est.converged_} ({est.n_iter_} it)"
        t_sk = [float(np.median(times[i])) for i in range(len(refs))]
        for i, (label, ref, _) in enumerate(refs):
            theirs = _penalised(kind, ref, X, codes, alpha)
            ratio = t_us / t_sk[i]
            if small:
                bound = max(0.05, 5 * min(t_sk))
                target = f"<= {bound * 1e3:.0f} ms ({'met' if t_us <= bound else 'missed'})"
            elif isinstance(ref, LinearRegression):
                target = f"<= 2x ({'met' if ratio <= 2 else 'missed'})"
            elif kind == "regression":
                target = "(same objective)"
            else:
                target = f"<= 1x ({'met' if ratio <= 1 else 'missed'})"
            out.append(
                f"| {name} | {len(y)} | {cls.__name__} | {type(ref).__name__}{label} | "
                f"{t_sk[i]:.3f} | {t_us:.3f} | {ratio:.2f}x | {ours / theirs - 1:+.1e} | "
                f"{converged} | {target} |"
            )
    return out


def _codes(est, y):
    classes = getattr(est, "classes_", None)
    return y if classes is None else np.searchsorted(classes, y)


def overhead_table(rows: int, f: int, models: list, repeat: int, bs: int = 4096) -> list[str]:
    """An estimator epoch (Adam, averaging, history) against LinearCore.run_epoch alone.

    The core takes the estimator's step (Adam, ``alpha=1e-4`` as an implicit penalty
    with per-coordinate factors), so that the ratio is the estimator's bookkeeping:
    averaging, the objective on the sample rows, history. Interleaved ``repeat``
    times: one core epoch, then estimator fits of 1 and 3 epochs. Wall: the median
    epoch of the fits' history; CPU: this process's CPU time, for the estimator
    ``(fit of 3 - fit of 1) / 2`` (what one more epoch costs). With ``--threads 1``
    the CPU column is the work done; wall time on shared cores also counts the
    waiting for one.
    """
    out = [
        "| model | batch | LinearCore epoch (s) | estimator epoch (s) | ratio "
        "| CPU: LinearCore (s) | CPU: estimator (s) | CPU ratio | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, kind, k, cls in models:
        X, y = make_data(kind, rows, f)
        Xt = torch.from_numpy(X)
        yt = torch.from_numpy(y) if kind == "multiclass" else torch.from_numpy(y).float()[:, None]
        # the estimator's step: Adam with the implicit penalty (alpha=1e-4, per-coordinate)
        core = LinearCore(
            kind, f, k, optimizer="adam", lr=0.001, alpha=1e-4,
            penalty_scale=torch.ones(f), implicit_penalty=True,
        )  # fmt: skip
        loader = make_loader(TensorDataset(Xt, yt), batch_size=bs, shuffle=True, seed=0)
        core.run_epoch(loader)  # warm-up
        wall_core, wall_est, cpu_core, cpu_est = [], [], [], []
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            core.run_epoch(loader)
            wall_core.append(time.perf_counter() - t)
            cpu_core.append(time.process_time() - c)
            cpu = []
            for epochs in (1, 3):
                est = cls(optimizer="adam", batch_size=bs, max_epochs=epochs, tol=None)
                c = time.process_time()
                _timed_fit(est.set_params(random_state=0), X, y)
                cpu.append(time.process_time() - c)
            wall_est += [h["seconds"] for h in est.history_[1:]]
            cpu_est.append((cpu[1] - cpu[0]) / 2)
        w = [float(np.median(v)) for v in (wall_core, wall_est, cpu_core, cpu_est)]
        ok = "met" if w[3] / w[2] <= 1.2 else "missed"
        out.append(
            f"| {name} | {bs} | {w[0]:.3f} | {w[1]:.3f} | {w[1] / w[0]:.2f}x | {w[2]:.3f} "
            f"| {w[3]:.3f} | {w[3] / w[2]:.2f}x | <= 1.2x, CPU ({ok}) |"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--max-epochs", type=int, default=30, help="cap of the default fits")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument(
        "--models", default="linear,logistic,softmax", help="comma-separated subset to run"
    )
    ap.add_argument(
        "--tables", default="epoch,reach,defaults,overhead", help="comma-separated subset"
    )
    ap.add_argument("--alpha", type=float, default=1e-4, help="alpha of the defaults table")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats (medians)")
    args = ap.parse_args()
    wanted = args.models.split(",")
    models = [m for m in MODELS if m[0].split()[0] in wanted]
    tables = args.tables.split(",")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"rows={args.rows} features={args.features} torch={torch.__version__} "
        f"threads={torch.get_num_threads()}\n"
    )
    if "epoch" in tables:
        print("\n".join(epoch_table(args.rows, args.features, models)), end="\n\n", flush=True)
    if "reach" in tables:
        print("\n".join(reach_table(args.rows, args.features, args.max_epochs, models)), end="\n\n")
    if "defaults" in tables:
        rows = default_table(args.rows, args.features, models, args.alpha, args.repeat)
        print("\n".join(rows), end="\n\n", flush=True)
    if "overhead" in tables:
        print("\n".join(overhead_table(args.rows, args.features, models, 2 * args.repeat + 1)))


if __name__ == "__main__":
    main()
