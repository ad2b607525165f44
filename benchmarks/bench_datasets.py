"""Reading speed: CsvDataset / ParquetDataset against the bare readers plus tensor conversion.

Run:  .venv/bin/python benchmarks/bench_datasets.py            (1,000,000 x 32, about 2 minutes)
      .venv/bin/python benchmarks/bench_datasets.py --rows 100000

Parquet's baseline is the faster of ``read_table`` + ``np.column_stack`` and ``read_table`` + a
blocked row-major fill of one preallocated float32 tensor (the best bare route). The CSV peak
RSS of ``CsvDataset`` and of ``pyarrow.csv.read_csv`` + the output tensor is measured each in
a fresh child process.

Each timing is the best of ``--repeat`` runs, all in this one process on the same files. The
baseline of a format is the faster of its bare readers followed by the cheapest conversion of
the 32 feature columns to one float32 ``[N, F]`` tensor and the target to ``[N, 1]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

from tabloader.datasets import CsvDataset, ParquetDataset


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        del out
    return min(times)


def arrow_to_tensors(table: pa.Table, feature_names: list[str], target: str):
    X = np.column_stack([table.column(c).to_numpy() for c in feature_names]).astype(np.float32)
    y = table.column(target).to_numpy().astype(np.float32).reshape(-1, 1)
    return torch.from_numpy(X), torch.from_numpy(y)


def pandas_to_tensors(df: pd.DataFrame, feature_names: list[str], target: str):
    X = df[feature_names].to_numpy(dtype=np.float32)
    y = df[target].to_numpy(dtype=np.float32).reshape(-1, 1)
    return torch.from_numpy(X), torch.from_numpy(y)


def blocked_fill_tensors(table: pa.Table, feature_names: list[str], target: str):
    """The best bare route: one preallocated row-major float32 tensor, filled record batch
    by record batch and 65,536 rows at a time (the destination stays in cache), from
    zero-copy column views."""
    n = table.num_rows
    X = torch.empty((n, len(feature_names)), dtype=torch.float32)
    Xn = X.numpy()
    step = 1 << 16
    off = 0
    for batch in table.select(feature_names).to_batches():
        cols = [c.to_numpy(zero_copy_only=False) for c in batch.columns]
        for s in range(0, batch.num_rows, step):
            rows = Xn[off + s : off + min(s + step, batch.num_rows)]
            for j, a in enumerate(cols):
                rows[:, j] = a[s : s + step]
        off += batch.num_rows
    y = np.array(table.column(target).to_numpy(), dtype=np.float32).reshape(-1, 1)
    return X, torch.from_numpy(y)


_RSS_CHILD = """
import sys
import numpy as np, pyarrow as pa, pyarrow.csv as pacsv, torch
sys.path.insert(0, {here!r})
from bench_datasets import blocked_fill_tensors
from tabloader.datasets import CsvDataset
path, names, mode = {path!r}, {names!r}, {mode!r}
def hwm():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
base = hwm()
if mode == "bare":
    out = blocked_fill_tensors(pacsv.read_csv(path), names, "y")
else:
    out = CsvDataset(path, target="y", task="regression")
print(hwm(), base)
"""


def peak_rss_mb(path: str, names: list[str], mode: str) -> tuple[float, float]:
    """Peak resident memory (MiB) of a fresh process reading ``path``, and its start-up part."""
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    code = _RSS_CHILD.format(here=here, path=path, names=names, mode=mode)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=here
    )
    peak, base = (float(v) for v in out.stdout.split())
    return peak, base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    names = [f"x{j}" for j in range(args.features)]
    X = rng.standard_normal((args.rows, args.features)).astype(np.float32)
    table = pa.table(
        {**{c: X[:, j] for j, c in enumerate(names)}, "y": rng.standard_normal(args.rows)}
    )

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = os.path.join(tmp, "table.csv")
        pq_path = os.path.join(tmp, "table.parquet")
        pacsv.write_csv(table, csv_path)
        pq.write_table(table, pq_path)
        size_csv = os.path.getsize(csv_path) / 2**20
        size_pq = os.path.getsize(pq_path) / 2**20

        r = args.repeat
        rows = []
        t_pd = best_of(lambda: pandas_to_tensors(pd.read_csv(csv_path), names, "y"), r)
        t_pa = best_of(lambda: arrow_to_tensors(pacsv.read_csv(csv_path), names, "y"), r)
        t_ds = best_of(lambda: CsvDataset(csv_path, target="y", task="regression"), r)
        base = min(t_pd, t_pa)
        rows += [
            ("CSV", "pandas.read_csv + to tensor", t_pd, t_pd / base),
            ("CSV", "pyarrow.csv.read_csv + to tensor", t_pa, t_pa / base),
            ("CSV", "**CsvDataset**", t_ds, t_ds / base),
        ]
        t_pq = best_of(lambda: arrow_to_tensors(pq.read_table(pq_path), names, "y"), r)
        t_pqb = best_of(lambda: blocked_fill_tensors(pq.read_table(pq_path), names, "y"), r)
        t_pq_ds = best_of(lambda: ParquetDataset(pq_path, target="y", task="regression"), r)
        pq_base = min(t_pq, t_pqb)
        rows += [
            ("Parquet", "pyarrow.parquet.read_table + to tensor", t_pq, t_pq / pq_base),
            ("Parquet", "read_table + blocked row-major fill", t_pqb, t_pqb / pq_base),
            ("Parquet", "**ParquetDataset**", t_pq_ds, t_pq_ds / pq_base),
        ]
        # column projection: 4 of the 32 features
        few = names[:4]
        t_pq4 = best_of(
            lambda: arrow_to_tensors(pq.read_table(pq_path, columns=[*few, "y"]), few, "y"), r
        )
        t_pq4_ds = best_of(
            lambda: ParquetDataset(pq_path, target="y", features=few, task="regression"), r
        )
        rows += [
            ("Parquet, 4 of 32 columns", "pyarrow read_table(columns=...) + to tensor", t_pq4, 1.0),
            (
                "Parquet, 4 of 32 columns",
                "**ParquetDataset(features=...)**",
                t_pq4_ds,
                t_pq4_ds / t_pq4,
            ),
        ]

        rss = {mode: peak_rss_mb(csv_path, names, mode) for mode in ("bare", "dataset")}

    print(
        f"{args.rows:,} rows x {args.features} float32 features + float target; "
        f"CSV {size_csv:.0f} MiB, Parquet {size_pq:.0f} MiB; best of {args.repeat}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads\n"
    )
    print("| file | reader | seconds | ratio to the fastest bare reader |")
    print("|---|---|---:|---:|")
    for fmt, what, t, ratio in rows:
        print(f"| {fmt} | {what} | {t:.3f} | {ratio:.2f}x |")
    print("\nPeak RSS reading the CSV, each in a fresh process (MiB; start-up in brackets):\n")
    print("| reader | peak RSS | ratio |")
    print("|---|---:|---:|")
    bare = rss["bare"][0]
    for mode, label in (
        ("bare", "pyarrow.csv.read_csv + output tensor"),
        ("dataset", "**CsvDataset**"),
    ):
        peak, start = rss[mode]
        print(f"| {label} | {peak:,.0f} ({start:,.0f}) | {peak / bare:.2f}x |")


if __name__ == "__main__":
    main()
