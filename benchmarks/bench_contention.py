"""Benchmark of small default fits under CPU contention (issue 11, the thread rule).

Prints one Markdown table: the wall time of a default fit of a small table (500 rows
by default) on an idle machine with one torch thread, and with torch's default
threads while ``--burners`` CPU-burning processes run, and their ratio (the issue's
bound: at most 3x). The thread rule (``tabloader.trainers._params.resolve_threads``)
keeps small fits on one intra-op thread whatever ``torch.get_num_threads()`` says.

Run::

    .venv/bin/python benchmarks/bench_contention.py
    .venv/bin/python benchmarks/bench_contention.py --rows 2000 --burners 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import warnings

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


def best_fit_seconds(model: type, X: np.ndarray, y: np.ndarray, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model(random_state=0, device="cpu").fit(X, y)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    models = [
        ("linear", LinearRegressor),
        ("logistic", LogisticClassifier),
        ("softmax (4 classes)", SoftmaxClassifier),
    ]
    default_threads = torch.get_num_threads()
    idle: dict[str, float] = {}
    torch.set_num_threads(1)
    for name, model in models:
        idle[name] = best_fit_seconds(model, *data(name.split()[0], args.rows, args.features), 3)
    torch.set_num_threads(default_threads)
    stop = time.time() + 600
    burners = [mp.Process(target=burn, args=(stop,), daemon=True) for _ in range(args.burners)]
    for p in burners:
        p.start()
    try:
        time.sleep(0.5)
        loaded = {
            name: best_fit_seconds(
                model, *data(name.split()[0], args.rows, args.features), args.repeat
            )
            for name, model in models
        }
    finally:
        for p in burners:
            p.terminate()
            p.join()
    print(
        f"default fit of {args.rows} x {args.features}; {os.cpu_count()} cores, "
        f"torch default threads {default_threads}, {args.burners} CPU burners\n"
    )
    print("| model | idle, 1 thread (s) | burners, default threads (s) | ratio (bound 3x) |")
    print("|---|---:|---:|---:|")
    for name, _ in models:
        print(
            f"| {name} | {idle[name]:.3f} | {loaded[name]:.3f} | {loaded[name] / idle[name]:.2f}x |"
        )


if __name__ == "__main__":
    main()
