"""Streaming throughput and peak memory: ParquetStream / CsvStream against bare pyarrow.

Run::

    python benchmarks/bench_streams.py                       # 16 M x 32 float32 (> 2 GB)
    python benchmarks/bench_streams.py --rows 1000000 --csv-rows 200000   # quick

Writes (once, reused while the size matches) a Parquet file of ``--rows`` rows x
``--features`` float32 features plus a float32 target, row groups of ``--row-group``
rows, and a CSV file of ``--csv-rows`` rows, under ``--dir`` (default
``benchmarks/_data/``, git-ignored). Every measurement runs in a fresh child process
(``--repeats`` times, interleaved; the fastest counts) that reads one whole epoch and reports its rows per second and its peak resident memory
(``ru_maxrss``; with workers, also the largest worker's). The limits, measured in the same
run, are a bare ``pyarrow.parquet.ParquetFile.iter_batches`` loop (called row group by row
group: over the whole file at once it buffers far ahead, which is slower and needs
gigabytes; that variant is shown too) and a bare ``pyarrow.csv.open_csv`` loop, each
converting every record batch to a row-major
float32 feature tensor and a target tensor (the same conversion the streams make).
Targets: unshuffled >= 80 % of the limit, shuffled >= 50 %, peak RSS < 1 GB while the
file is more than twice that. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------- data
def _write_parquet(path: str, rows: int, features: int, row_group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"f{j}" for j in range(features)]
    schema = pa.schema([(c, pa.float32()) for c in [*names, "y"]])
    rng = np.random.default_rng(0)
    tmp = path + ".tmp"
    with pq.ParquetWriter(tmp, schema, compression="none") as w:
        done = 0
        while done < rows:
            n = min(row_group, rows - done)
            X = rng.standard_normal((n, features), dtype=np.float32)
            y = X[:, :4].sum(axis=1) + 0.1 * rng.standard_normal(n, dtype=np.float32)
            cols = [pa.array(X[:, j]) for j in range(features)] + [pa.array(y)]
            w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=row_group)
            done += n
    os.replace(tmp, path)


def _write_csv(path: str, parquet: str, rows: int) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(parquet)
    tmp = path + ".tmp"
    done = 0
    with pacsv.CSVWriter(tmp, pf.schema_arrow) as w:
        for rb in pf.iter_batches(batch_size=65536):
            if done >= rows:
                break
            rb = rb.slice(0, rows - done)
            w.write_batch(rb)
            done += rb.num_rows
    os.replace(tmp, path)


def _rows_of(path: str) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


# --------------------------------------------------------------------------- children
def _to_tensors(rb, features: int):
    import torch

    n = rb.num_rows
    X = np.empty((n, features), dtype=np.float32)
    for j in range(features):
        X[:, j] = rb.column(j).to_numpy()
    y = rb.column(features).to_numpy().reshape(-1, 1)
    return torch.from_numpy(X), torch.from_numpy(np.array(y))


def _measure(kind: str, path: str, batch_size: int, features: int) -> dict:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    import torch

    # warm up pyarrow's and numpy's lazy initialisation (same for every kind)
    if path.endswith(".parquet"):
        rb = next(pq.ParquetFile(path).iter_batches(batch_size=1024))
    else:
        rb = next(iter(pacsv.open_csv(path)))
    _to_tensors(rb, features)

    t0 = time.perf_counter()
    rows = 0
    build = 0.0
    if kind == "parquet_iter":
        pf = pq.ParquetFile(path)
        for rb in pf.iter_batches(batch_size=65536, use_threads=True):
            X, _ = _to_tensors(rb, features)
            rows += X.shape[0]
    elif kind == "parquet_limit":
        pf = pq.ParquetFile(path)
        for rg in range(pf.num_row_groups):
            for rb in pf.iter_batches(batch_size=65536, row_groups=[rg], use_threads=True):
                X, _ = _to_tensors(rb, features)
                rows += X.shape[0]
    elif kind == "csv_limit":
        names = [f"f{j}" for j in range(features)] + ["y"]
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 22),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.float32())),
        )
        for rb in reader:
            X, _ = _to_tensors(rb, features)
            rows += X.shape[0]
    else:
        from tabloader.datasets import CsvStream, ParquetStream

        workers = 2 if kind.endswith("_w2") else 0
        shuffle = "_shuf" in kind
        if kind.startswith("csv"):
            stream = CsvStream(path, target="y", task="regression", batch_size=batch_size)
        else:
            stream = ParquetStream(path, target="y", batch_size=batch_size, shuffle=shuffle, seed=0)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        if workers:
            loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers)
        else:
            loader = stream
        for X, _y in loader:
            rows += X.shape[0]
    sec = time.perf_counter() - t0
    self_kb = _own_peak_kb()
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "rows": rows,
        "seconds": sec,
        "build_seconds": build,
        "maxrss_mb": self_kb / 1024,
        "children_maxrss_mb": child_kb / 1024,
    }


def _own_peak_kb() -> int:
    """This process's peak RSS in KiB: ``VmHWM`` where Linux has it (``ru_maxrss`` of an
    exec'd child would also count its parent's peak at fork time)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run_child(kind: str, path: str, args) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        kind,
        "--child-path",
        path,
        "--batch-size",
        str(args.batch_size),
        "--features",
        str(args.features),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _warm(path: str) -> None:
    """Read the file once so that every run finds it in the page cache alike."""
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(HERE, "_data"))
    ap.add_argument("--rows", type=int, default=16_000_000)
    ap.add_argument("--csv-rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--row-group", type=int, default=1 << 20)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3, help="epochs per reader; the fastest counts")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-path", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.child_path, args.batch_size, args.features)))
        return

    os.makedirs(args.dir, exist_ok=True)
    pq_path = os.path.join(args.dir, f"stream_{args.rows}x{args.features}.parquet")
    csv_path = os.path.join(args.dir, f"stream_{args.csv_rows}x{args.features}.csv")
    if not os.path.exists(pq_path) or _rows_of(pq_path) != args.rows:
        print(f"writing {pq_path} ...", file=sys.stderr)
        _write_parquet(pq_path, args.rows, args.features, args.row_group)
    if not os.path.exists(csv_path):
        print(f"writing {csv_path} ...", file=sys.stderr)
        _write_csv(csv_path, pq_path, args.csv_rows)
    pq_gb = os.path.getsize(pq_path) / 1e9
    csv_gb = os.path.getsize(csv_path) / 1e9

    runs = [
        ("parquet_iter", pq_path, "`ParquetFile.iter_batches` over the file -> tensors"),
        ("parquet_limit", pq_path, "`iter_batches` row group by row group -> tensors (limit)"),
        ("parquet", pq_path, "`ParquetStream`, shuffle off"),
        ("parquet_shuf", pq_path, "`ParquetStream`, shuffle on"),
        ("parquet_w2", pq_path, "`ParquetStream`, shuffle off, 2 workers"),
        ("parquet_shuf_w2", pq_path, "`ParquetStream`, shuffle on, 2 workers"),
        ("csv_limit", csv_path, "`pyarrow.csv.open_csv` -> tensors (limit)"),
        ("csv", csv_path, "`CsvStream`, shuffle off"),
    ]
    results: dict[str, dict] = {}
    for rep in range(args.repeats):  # interleaved, so a busy spell hits every reader alike
        for kind, path, _ in runs:
            _warm(path)
            print(f"measuring {kind} ({rep + 1}/{args.repeats}) ...", file=sys.stderr)
            r = _run_child(kind, path, args)
            best = results.get(kind)
            if best is None or r["seconds"] < best["seconds"]:
                if best is not None:  # report the largest peak memory of all repeats
                    r["maxrss_mb"] = max(r["maxrss_mb"], best["maxrss_mb"])
                    r["children_maxrss_mb"] = max(
                        r["children_maxrss_mb"], best["children_maxrss_mb"]
                    )
                results[kind] = r
            else:
                best["maxrss_mb"] = max(r["maxrss_mb"], best["maxrss_mb"])
                best["children_maxrss_mb"] = max(
                    r["children_maxrss_mb"], best["children_maxrss_mb"]
                )

    print(
        f"\n{args.rows:,} rows x {args.features} float32 features + target: Parquet "
        f"{pq_gb:.2f} GB (row groups of {args.row_group:,} rows, uncompressed); CSV "
        f"{args.csv_rows:,} rows, {csv_gb:.2f} GB; batch_size={args.batch_size}; "
        f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}, "
        f"file in the page cache; fastest of {args.repeats} epochs, each in a fresh process.\n"
    )
    print("| reader | rows/s | vs limit | epoch s | setup s | peak RSS MB | worker peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, _, label in runs:
        r = results[kind]
        limit = results["csv_limit" if kind.startswith("csv") else "parquet_limit"]
        rate = r["rows"] / r["seconds"]
        ratio = rate / (limit["rows"] / limit["seconds"])
        workers = f"{r['children_maxrss_mb']:.0f}" if kind.endswith("_w2") else "-"
        print(
            f"| {label} | {rate:,.0f} | {ratio:.2f} | {r['seconds']:.1f} | "
            f"{r['build_seconds']:.1f} | {r['maxrss_mb']:.0f} | {workers} |"
        )
    lim = results["parquet_limit"]["rows"] / results["parquet_limit"]["seconds"]

    def rate(k: str) -> float:
        return results[k]["rows"] / results[k]["seconds"]

    print()
    checks = [
        ("unshuffled >= 80% of the limit", rate("parquet") / lim >= 0.8),
        ("shuffled >= 50% of the limit", rate("parquet_shuf") / lim >= 0.5),
        (
            "peak RSS of the streaming process < 1 GB",
            max(results[k]["maxrss_mb"] for k in ("parquet", "parquet_shuf")) < 1024,
        ),
        ("file > 2 x 1 GB", pq_gb > 2.0),
    ]
    for text, ok in checks:
        print(f"- {text}: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
