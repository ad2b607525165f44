"""Benchmark of small default fits under CPU contention (issue 11, the thread rule).

Prints a Markdown table: the wall and CPU time of a default fit of a small table (500
rows by default) on an idle machine with one torch thread, and with torch's default
threads while ``--burners`` CPU-burning processes run, and their ratio (the issue's
bound: at most 3x). Idle and loaded phases alternate ``--rounds`` times and the cells
are medians, so that load from other processes on the machine drifts into both. The
thread rule (``tabloader.trainers._params.resolve_threads``) keeps small fits on one
intra-op thread, torch's and the BLAS libraries', whatever ``torch.get_num_threads()``
says; ``--without-rule`` also times the loaded fits with the rule switched off.

Run::

    .venv/bin/python benchmarks/bench_contention.py
    .venv/bin/python benchmarks/bench_contention.py --rows 2000 --burners 2
    .venv/bin/python benchmarks/bench_contention.py --without-rule  # what the rule prevents
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import time
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from tabloader.trainers import LinearRegressor, LogisticClassifier, SoftmaxClassifier


def burn(stop: float) -> None:
    x = 0
    while time.time() < stop:
        x += 1


def data(kind: str, n: int, f: int) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(0)
    X = g.standard_normal((n, f)) * g.uniform(0.5, 5.0, size=f)
    z = X @ g.standard_normal(f) / np.sqrt(f)
    if kind == "linear":
        return X, z + g.standard_normal(n)
    if kind == "logistic":
        return X, (z + g.logistic(size=n) > 0).astype(int)
    return X, np.digitize(z + g.logistic(size=n), [-1.0, 0.0, 1.0])


def fit_seconds(model: type, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) of one default fit."""
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model(random_state=0, device="cpu").fit(X, y)
    return time.perf_counter() - t0, time.process_time() - c0


@contextlib.contextmanager
def without_thread_rule() -> Iterator[None]:
    """The fits as before the thread rule: torch's and the BLAS libraries' own threads."""
    from tabloader.trainers import _params

    saved = _params.resolve_threads, _params._blas_limit
    _params.resolve_threads = lambda rows, n, available=None: torch.get_num_threads()
    _params._blas_limit = lambda n: contextlib.nullcontext()
    try:
        yield
    finally:
        _params.resolve_threads, _params._blas_limit = saved


def phase(
    models: list, tables: dict, repeat: int, threads: int, burners: int, rule: bool = True
) -> dict:
    """``repeat`` fits of each model on ``threads`` torch threads while ``burners`` run."""
    torch.set_num_threads(threads)
    stop = time.time() + 600
    procs = [mp.Process(target=burn, args=(stop,), daemon=True) for _ in range(burners)]
    for p in procs:
        p.start()
    try:
        if procs:
            time.sleep(0.5)
        with contextlib.nullcontext() if rule else without_thread_rule():
            return {
                name: [fit_seconds(m, *tables[name]) for _ in range(repeat)] for name, m in models
            }
    finally:
        for p in procs:
            p.terminate()
            p.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5, help="fits per model and phase")
    ap.add_argument("--rounds", type=int, default=3, help="idle/loaded phases, alternated")
    ap.add_argument(
        "--without-rule",
        action="store_true",
        help="also time the loaded fits with the thread rule switched off",
    )
    args = ap.parse_args()
    models = [
        ("linear", LinearRegressor),
        ("logistic", LogisticClassifier),
        ("softmax (4 classes)", SoftmaxClassifier),
    ]
    tables = {name: data(name.split()[0], args.rows, args.features) for name, _ in models}
    default_threads = torch.get_num_threads()
    for name, model in models:  # warm-up (imports, first calls)
        fit_seconds(model, *tables[name])
    idle: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in models}
    loaded: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in models}
    norule: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in models}
    for _ in range(args.rounds):  # alternated, so that drifting load hits both alike
        for name, ts in phase(models, tables, args.repeat, 1, 0).items():
            idle[name] += ts
        for name, ts in phase(models, tables, args.repeat, default_threads, args.burners).items():
            loaded[name] += ts
        if args.without_rule:
            got = phase(models, tables, args.repeat, default_threads, args.burners, rule=False)
            for name, ts in got.items():
                norule[name] += ts
    torch.set_num_threads(default_threads)
    print(
        f"default fit of {args.rows} x {args.features}; {os.cpu_count()} cores, "
        f"torch default threads {default_threads}, {args.burners} CPU burners; medians of "
        f"{args.rounds * args.repeat} fits per cell, idle and loaded phases alternated\n"
    )
    print(
        "| model | idle, 1 thread (s) | burners, default threads (s) | ratio (bound 3x) "
        "| CPU s idle | CPU s burners | CPU ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, _ in models:
        (a, ca), (b, cb) = (np.median(np.array(v), axis=0) for v in (idle[name], loaded[name]))
        ok = "met" if b <= 3 * a else "missed"
        print(
            f"| {name} | {a:.4f} | {b:.4f} | {b / a:.2f}x ({ok}) | {ca:.4f} | {cb:.4f} "
            f"| {cb / ca:.2f}x |"
        )
    if args.without_rule:
        print("\n| model | burners, without the thread rule (s) | ratio to idle | CPU s |")
        print("|---|---:|---:|---:|")
        for name, _ in models:
            a = float(np.median([t for t, _ in idle[name]]))
            b, cb = np.median(np.array(norule[name]), axis=0)
            print(f"| {name} | {b:.4f} | {b / a:.1f}x | {cb:.4f} |")
    print(
        "\nThe CPU columns count this process's CPU time: threads that spin or wait on "
        "barriers burn it, a fit that only waits for a time slice does not."
    )


if __name__ == "__main__":
    main()
