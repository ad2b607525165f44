"""Rows per second of one shuffled epoch: torch's default DataLoader, make_loader, the limit.

Run::

    python benchmarks/bench_loaders.py            # 1,000,000 x 32 float32, batch 256 and 4096
    python benchmarks/bench_loaders.py --rows 100000 --repeats 3
    python benchmarks/bench_loaders.py --protocol   # also torch's own iterator, same sampler
    python benchmarks/bench_loaders.py --startup    # worker start-up: fork/forkserver/spawn

Prints a Markdown table. Every figure comes from this one run; ratios compare
``make_loader`` with torch's ``DataLoader(TensorDataset(X, y), batch_size,
shuffle=True)`` and with the limit, a bare loop ``X.index_select(0, perm[i:i+b])``
over a ``torch.randperm`` permutation (features only, no targets, no DataLoader).
Fast loaders: the fastest of several interleaved epochs; torch's default: one epoch.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, TensorDataset

from tabloader.datasets import TabularDataset
from tabloader.loaders import make_loader


def _best_epoch_seconds(runs: dict[str, Callable[[], int]], repeats: int, n: int) -> dict:
    """Fastest epoch of each run, in seconds; the runs are interleaved so that a busy
    spell of the machine hits all of them alike. Checks that every row was read."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run_epoch in runs.items():
            gc.collect()
            t0 = time.perf_counter()
            rows = run_epoch()
            best[name] = min(best[name], time.perf_counter() - t0)
            if rows != n:
                raise RuntimeError(f"an epoch of {name} read {rows} rows, expected {n}")
    return best


def _consume(loader) -> Callable[[], int]:
    def run() -> int:
        rows = 0
        for xb, _yb in loader:
            rows += xb.shape[0]
        return rows

    return run


def _torch_iterator(loader) -> Callable[[], int]:
    """An epoch of ``loader`` through torch's own single-process iterator: the same
    sampler of index tensors, ``batch_size=None``, ``dataset[index_tensor]`` per batch."""

    def run() -> int:
        rows = 0
        for xb, _yb in DataLoader.__iter__(loader):
            rows += xb.shape[0]
        return rows

    return run


def _bare_loop(X: torch.Tensor, b: int, g: torch.Generator) -> Callable[[], int]:
    n = X.shape[0]

    def run() -> int:
        perm = torch.randperm(n, generator=g)
        rows = 0
        for i in range(0, n, b):
            xb = X.index_select(0, perm[i : i + b])
            rows += xb.shape[0]
        return rows

    return run


def _startup(rows: int, features: int, workers: int, repeats: int) -> None:
    """Seconds from ``iter(loader)`` to the first batch, and for a whole epoch, per start
    method (the workers start anew every epoch without ``persistent_workers``). The
    first epoch also starts the fork server (once per process); later: best of
    ``repeats``."""
    import multiprocessing

    from tabloader.loaders._options import DEFAULT_START_METHOD

    g = torch.Generator().manual_seed(0)
    ds = TabularDataset(
        torch.randn(rows, features, generator=g), torch.randn(rows, 1), task="regression"
    )
    print(
        f"# worker start-up: {rows:,} x {features} float32, {workers} workers, batch 256, "
        f"best of {repeats}; default {DEFAULT_START_METHOD!r}; Python "
        f"{platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs\n"
    )
    print(
        "| start method | 1st epoch: to first batch (s) | later epochs: to first batch (s) "
        "| later epochs: whole epoch (s) |"
    )
    print("|---|---:|---:|---:|")
    for method in ("fork", "forkserver", "spawn"):
        if method not in multiprocessing.get_all_start_methods():
            continue
        loader = make_loader(
            ds,
            batch_size=256,
            seed=0,
            pin_memory=False,
            num_workers=workers,
            multiprocessing_context=method,
        )
        firsts, epochs = [], []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            it = iter(loader)
            next(it)
            firsts.append(time.perf_counter() - t0)
            for _ in it:
                pass
            epochs.append(time.perf_counter() - t0)
            del it
        print(
            f"| {method} | {firsts[0]:.3f} | {min(firsts[1:]):.3f} | {min(epochs[1:]):.3f} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 4096])
    parser.add_argument(
        "--repeats", type=int, default=5, help="epochs timed per fast loader (best)"
    )
    parser.add_argument(
        "--default-repeats", type=int, default=1, help="epochs timed for torch's default"
    )
    parser.add_argument(
        "--protocol",
        action="store_true",
        help="also time torch's own iterator over make_loader's sampler (batch_size=None, "
        "dataset[index_tensor]), the route make_loader skips without workers",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="also time make_loader with this many (persistent) workers",
    )
    parser.add_argument(
        "--startup",
        action="store_true",
        help="only time the workers' start-up per start method (fork, forkserver, spawn); "
        "--workers (default 2) workers, --rows rows, --repeats repeats",
    )
    args = parser.parse_args(argv)
    if args.startup:
        _startup(args.rows, args.features, args.workers or 2, args.repeats)
        return

    n, f = args.rows, args.features
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, f, generator=g)
    y = torch.randn(n, 1, generator=g)
    ds = TabularDataset(X, y, task="regression")

    print(
        f"# {n:,} x {f} float32, float target, shuffled, one epoch; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, {platform.machine()}\n"
    )
    header = (
        "| batch | torch default (rows/s) | make_loader (rows/s) | bare index_select "
        "(rows/s) | make_loader / default | make_loader / bare |"
    )
    print(header)
    print("|---:|---:|---:|---:|---:|---:|")
    worker_rows = []
    protocol_rows = []
    for b in args.batch_sizes:
        torch_default = DataLoader(
            TensorDataset(X, y), batch_size=b, shuffle=True, generator=torch.Generator()
        )
        fast = make_loader(ds, batch_size=b, shuffle=True, seed=0, pin_memory=False)
        bare = _bare_loop(X, b, torch.Generator().manual_seed(1))

        _consume(fast)()  # warm up allocator and threads
        bare()
        best = _best_epoch_seconds({"bare": bare, "fast": _consume(fast)}, args.repeats, n)
        t_bare, t_fast = best["bare"], best["fast"]
        t_default = _best_epoch_seconds(
            {"default": _consume(torch_default)}, args.default_repeats, n
        )["default"]
        r_default, r_fast, r_bare = n / t_default, n / t_fast, n / t_bare
        print(
            f"| {b} | {r_default / 1e6:.2f} M | {r_fast / 1e6:.2f} M | {r_bare / 1e6:.2f} M "
            f"| {r_fast / r_default:.1f}x | {r_fast / r_bare:.2f} |",
            flush=True,
        )
        if args.protocol:
            t_proto = _best_epoch_seconds({"proto": _torch_iterator(fast)}, args.repeats, n)
            protocol_rows.append((b, n / t_proto["proto"], r_fast))
        if args.workers:
            par = make_loader(
                ds,
                batch_size=b,
                shuffle=True,
                seed=0,
                pin_memory=False,
                num_workers=args.workers,
                persistent_workers=True,
            )
            _consume(par)()  # start the workers
            t_par = _best_epoch_seconds({"par": _consume(par)}, args.repeats, n)["par"]
            worker_rows.append((b, n / t_par, n / t_fast))
    if protocol_rows:
        print("\n| batch | torch's iterator, same sampler (rows/s) | vs make_loader |")
        print("|---:|---:|---:|")
        for b, r_proto, r_fast in protocol_rows:
            print(f"| {b} | {r_proto / 1e6:.2f} M | {r_proto / r_fast:.2f} |")
    if worker_rows:
        print(f"\n| batch | make_loader, {args.workers} workers (rows/s) | vs num_workers=0 |")
        print("|---:|---:|---:|")
        for b, r_par, r_fast in worker_rows:
            print(f"| {b} | {r_par / 1e6:.2f} M | {r_par / r_fast:.2f} |")


if __name__ == "__main__":
    main()
