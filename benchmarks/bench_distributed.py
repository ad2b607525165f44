"""Data-parallel training throughput with 1 and 2 processes (gloo on loopback), and the
cost of one step's compute against one all-reduce of the ``(F + 1) x K`` gradient.

Run::

    python benchmarks/bench_distributed.py                       # 500,000 x 32, K=1 and K=10
    python benchmarks/bench_distributed.py --rows 100000 --epochs 2

Prints two Markdown tables. Every figure comes from this one run: each configuration
is a fresh set of processes started by this script (as torchrun would: ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), each training the same model on the
same in-memory table with ``make_loader`` sharding, for the fastest of ``--repeats``
timed epochs after one warm-up epoch. Ratios compare with one process with the same
global batch (``w * b``), the configuration that gives the same weights.

Honest note: on a machine with few cores, ``w`` processes share those cores, so the
speed-up is bounded by the cores (2 processes on 2 cores at best halve the compute of
each step, while each step adds one all-reduce over loopback TCP).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time

import torch


# --------------------------------------------------------------------------- worker
def _worker(args: argparse.Namespace) -> None:
    import torch.distributed as dist
    from torch.utils.data import TensorDataset

    from tabloader.loaders import make_loader
    from tabloader.trainers import LinearCore
    from tabloader.trainers._distributed import get_context, shutdown_distributed

    torch.set_num_threads(args.threads)
    ctx = get_context("cpu")
    world = 1 if ctx is None else ctx.world_size
    g = torch.Generator().manual_seed(0)
    X = torch.randn(args.rows, args.features, generator=g)
    kind = "regression" if args.outputs == 1 else "multiclass"
    y = (
        X[:, :1].clone()
        if kind == "regression"
        else torch.randint(0, args.outputs, (args.rows,), generator=g)
    )
    loader = make_loader(
        TensorDataset(X, y), batch_size=args.batch, shuffle=True, seed=0, remainder="uneven"
    )
    core = LinearCore(kind, args.features, args.outputs, optimizer="adam", lr=1e-3)

    def epoch() -> float:
        if ctx is not None:
            dist.barrier()
        t0 = time.perf_counter()
        if ctx is None:
            core.run_epoch(loader)
        else:
            ctx.run_epoch(core, loader)
        return time.perf_counter() - t0

    epoch()  # warm-up
    best = min(epoch() for _ in range(args.repeats))
    if ctx is not None:
        best = float(ctx.max([best])[0])
    out = {"world": world, "seconds": best, "steps": len(loader) if ctx is None else None}
    if ctx is not None:
        out["steps"] = ctx.step_count(loader)
    if args.collectives and ctx is not None:
        out["comm"] = _comm_times(ctx, args)
    if args.collectives and ctx is None:
        out["compute"] = _compute_times(args)
    if ctx is None or ctx.is_main:
        print(json.dumps(out), flush=True)
    shutdown_distributed()


def _sizes(args: argparse.Namespace) -> list[tuple[int, int]]:
    return [(f, k) for f in (32, 256, 1024) for k in (1, 10, 100)]


def _comm_times(ctx, args: argparse.Namespace) -> dict[str, float]:
    """Median seconds of one all-reduce of a ``(F + 1) * K + 1`` float32 buffer."""
    import torch.distributed as dist

    res = {}
    for f, k in _sizes(args):
        buf = torch.zeros((f + 1) * k + 1)
        for _ in range(20):
            dist.all_reduce(buf)
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            dist.all_reduce(buf)
            times.append(time.perf_counter() - t0)
        res[f"{f}x{k}"] = sorted(times)[len(times) // 2]
    return res


def _compute_times(args: argparse.Namespace) -> dict[str, float]:
    """Median seconds of one step (closed-form gradient + Adam update) on a batch."""
    from tabloader.trainers import LinearCore

    res = {}
    g = torch.Generator().manual_seed(1)
    for f, k in _sizes(args):
        kind = "regression" if k == 1 else "multiclass"
        core = LinearCore(kind, f, k, optimizer="adam", lr=1e-3)
        X = torch.randn(args.batch, f, generator=g)
        y = (
            torch.randn(args.batch, 1, generator=g)
            if k == 1
            else torch.randint(0, k, (args.batch,), generator=g)
        )
        for _ in range(10):
            core.step(X, y)
        times = []
        for _ in range(100):
            t0 = time.perf_counter()
            core.step(X, y)
            times.append(time.perf_counter() - t0)
        res[f"{f}x{k}"] = sorted(times)[len(times) // 2]
    return res


# --------------------------------------------------------------------------- parent
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(world: int, threads: int, batch: int, outputs: int, args, *, collectives=False) -> dict:
    port = _free_port()
    cmd = [
        sys.executable, __file__, "--worker", "--rows", str(args.rows), "--features",
        str(args.features), "--outputs", str(outputs), "--batch", str(batch), "--threads",
        str(threads), "--repeats", str(args.repeats),
    ] + (["--collectives"] if collectives else [])  # fmt: skip
    procs = []
    for r in range(world):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES="")
        if world > 1:
            env.update(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(world),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
        else:
            for k in ("RANK", "WORLD_SIZE"):
                env.pop(k, None)
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a worker failed: {[p.returncode for p in procs]}")
    return json.loads(outs[0].strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--outputs", type=int, default=None, help="only this K (default 1 and 10)")
    ap.add_argument("--batch", type=int, default=1024, help="rows per step of each rank")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="runs of every configuration")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--collectives", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return

    cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {platform.processor() or platform.machine()}, {cores} cores (load average "
        f"{load:.1f} at start), torch {torch.__version__}, gloo on loopback; {args.rows:,} rows "
        f"x {args.features} features, batch {args.batch} per rank, Adam; fastest epoch of "
        f"{args.repeats} x {args.rounds} rounds"
    )
    print()
    print(
        "| K | configuration | global batch | steps/epoch | epoch s | rows/s "
        "| vs 1 proc, 1 thread, same global batch |"
    )
    print("|--:|---|--:|--:|--:|--:|--:|")
    ks = [args.outputs] if args.outputs else [1, 10]
    comm = None
    b = args.batch
    configs = [
        ("1 process, 1 thread", 1, 1, 2 * b),
        (f"1 process, {min(2, cores)} threads", 1, min(2, cores), 2 * b),
        ("1 process, 1 thread", 1, 1, b),
        ("2 processes x 1 thread", 2, 1, b),
    ]
    best: dict[tuple[int, int], dict] = {}
    for _ in range(args.rounds):  # rounds interleave the configurations: load hits all alike
        for k in ks:
            for i, (_, world, threads, bs) in enumerate(configs):
                res = _run(world, threads, bs, k, args)
                if (k, i) not in best or res["seconds"] < best[k, i]["seconds"]:
                    best[k, i] = res
    for k in ks:
        base = best[k, 0]["seconds"]
        for i, (name, world, _, bs) in enumerate(configs):
            res = best[k, i]
            gb = bs * world
            ratio = f"{base / res['seconds']:.2f}x" if gb == 2 * b else "-"
            print(
                f"| {k} | {name} | {gb} | {res['steps']} | {res['seconds']:.3f} "
                f"| {args.rows / res['seconds']:,.0f} | {ratio} |"
            )
    comm = _run(2, 1, args.batch, ks[-1], args, collectives=True)["comm"]
    compute = _run(1, 1, args.batch, ks[-1], args, collectives=True)["compute"]
    print()
    print(f"Per step, batch {args.batch} rows per rank: compute (gradient + Adam update, 1 thread)")
    print(
        "against one gloo all-reduce of the (F+1)*K+1 float32 buffer between 2 processes (median)."
    )
    print()
    print("| F x K | gradient floats | step compute µs | all-reduce µs | all-reduce / compute |")
    print("|---|--:|--:|--:|--:|")
    for key, c in compute.items():
        f, kk = (int(v) for v in key.split("x"))
        a = comm[key]
        print(f"| {key} | {(f + 1) * kk + 1:,} | {c * 1e6:,.0f} | {a * 1e6:,.0f} | {a / c:.2f} |")


if __name__ == "__main__":
    main()
