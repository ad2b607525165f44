"""Reading speed: CsvDataset / ParquetDataset against the bare readers plus tensor conversion.

Run:  .venv/bin/python benchmarks/bench_datasets.py            (1,000,000 x 32, about 2 minutes)
      .venv/bin/python benchmarks/bench_datasets.py --rows 100000

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
        t_pq_ds = best_of(lambda: ParquetDataset(pq_path, target="y", task="regression"), r)
        rows += [
            ("Parquet", "pyarrow.parquet.read_table + to tensor", t_pq, 1.0),
            ("Parquet", "**ParquetDataset**", t_pq_ds, t_pq_ds / t_pq),
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

    print(
        f"{args.rows:,} rows x {args.features} float32 features + float target; "
        f"CSV {size_csv:.0f} MiB, Parquet {size_pq:.0f} MiB; best of {args.repeat}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads\n"
    )
    print("| file | reader | seconds | ratio to the fastest bare reader |")
    print("|---|---|---:|---:|")
    for fmt, what, t, ratio in rows:
        print(f"| {fmt} | {what} | {t:.3f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
