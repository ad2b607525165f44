"""Streaming throughput and peak memory: ParquetStream / CsvStream against bare pyarrow.

Run::

    python benchmarks/bench_streams.py                       # 16 M x 32 float32 (> 2 GB)
    python benchmarks/bench_streams.py --rows 1000000 --csv-rows 200000   # quick

Writes (once, reused while the size matches) a Parquet file of ``--rows`` rows x
``--features`` float32 features plus a float32 target, row groups of ``--row-group``
rows, and a CSV file of ``--csv-rows`` rows, under ``--dir`` (default
``benchmarks/_data/``, git-ignored). Every measurement runs in a fresh child process
(``--repeats`` times, interleaved; the fastest counts) that reads one whole epoch and
reports its rows per second, its CPU time (all threads) and its peak resident memory
(``VmHWM``; with workers, also the largest worker's), at every batch size of
``--batch-sizes``.

The limits, measured in the same run, are a bare ``pyarrow.parquet.ParquetFile.iter_batches``
loop called row group by row group (over the whole file at once it buffers far ahead,
which is slower and needs gigabytes: ``--whole-file`` shows that variant) and a bare
``pyarrow.csv.open_csv`` loop, each converting every record batch to a row-major float32
feature tensor and a target tensor, column by column (what a user would write: the
limit of the issue's targets). A second Parquet limit converts with tabloader's own
blocked fill (``fill_rows_blocked``), the fastest conversion this machine knows.
Targets (issue 16): unshuffled >= 0.9 of the limit at every batch size, shuffled >= 0.7,
CsvStream >= 0.9 of its limit, peak RSS < 1 GB while the Parquet file is more than 2 GB.
Prints a Markdown table.
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


def _to_tensors_blocked(rb, features: int):
    import torch

    from tabloader.datasets._convert import fill_rows_blocked

    X = np.empty((rb.num_rows, features), dtype=np.float32)
    fill_rows_blocked(X, [(j, rb.column(j).to_numpy()) for j in range(features)])
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
    if kind == "parquet_limit_blocked":
        _to_tensors_blocked(rb, features)  # (imports tabloader)

    t0 = time.perf_counter()
    c0 = time.process_time()
    rows = 0
    build = 0.0
    if kind == "parquet_iter":
        pf = pq.ParquetFile(path)
        for rb in pf.iter_batches(batch_size=65536, use_threads=True):
            X, _ = _to_tensors(rb, features)
            rows += X.shape[0]
    elif kind in ("parquet_limit", "parquet_limit_blocked"):
        convert = _to_tensors if kind == "parquet_limit" else _to_tensors_blocked
        pf = pq.ParquetFile(path)
        for rg in range(pf.num_row_groups):
            for rb in pf.iter_batches(batch_size=65536, row_groups=[rg], use_threads=True):
                X, _ = convert(rb, features)
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
        c0 = time.process_time()
        if workers:
            loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers)
        else:
            loader = stream
        for X, _y in loader:
            rows += X.shape[0]
    sec = time.perf_counter() - t0
    cpu = time.process_time() - c0
    self_kb = _own_peak_kb()
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "rows": rows,
        "seconds": sec,
        "cpu_seconds": cpu,
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


def _run_child(kind: str, path: str, batch_size: int, args) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        kind,
        "--child-path",
        path,
        "--batch-sizes",
        str(batch_size),
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


def _load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _runs(args, pq_path: str, csv_path: str) -> list[tuple[str, str, int, str]]:
    """``(kind, path, batch size, label)`` of every measurement (limits: batch size 0)."""
    runs = []
    if args.whole_file:
        runs.append(("parquet_iter", pq_path, 0, "`ParquetFile.iter_batches` over the file"))
    runs += [
        ("parquet_limit", pq_path, 0, "row-group `iter_batches` + column-by-column fill (limit)"),
        ("parquet_limit_blocked", pq_path, 0, "row-group `iter_batches` + blocked fill"),
    ]
    for b in args.batch_sizes:
        runs += [
            ("parquet", pq_path, b, "`ParquetStream`, shuffle off"),
            ("parquet_shuf", pq_path, b, "`ParquetStream`, shuffle on"),
        ]
    if args.workers:
        b = args.batch_sizes[-1]
        runs += [
            ("parquet_w2", pq_path, b, "`ParquetStream`, shuffle off, 2 workers"),
            ("parquet_shuf_w2", pq_path, b, "`ParquetStream`, shuffle on, 2 workers"),
        ]
    runs.append(
        ("csv_limit", csv_path, 0, "`pyarrow.csv.open_csv` + column-by-column fill (limit)")
    )
    runs += [("csv", csv_path, b, "`CsvStream`, shuffle off") for b in args.batch_sizes]
    return runs


def _keep_best(results: dict, key: tuple[str, int], r: dict) -> None:
    """Keep the fastest run of ``key``, with the largest peak memory of all its runs."""
    best = results.get(key)
    if best is not None:
        for k in ("maxrss_mb", "children_maxrss_mb"):
            r[k] = best[k] = max(r[k], best[k])
    if best is None or r["seconds"] < best["seconds"]:
        results[key] = r


def _table(args, runs, results, pq_gb: float, csv_gb: float, loads: list[str]) -> None:
    print(
        f"\n{args.rows:,} rows x {args.features} float32 features + target: Parquet "
        f"{pq_gb:.2f} GB (row groups of {args.row_group:,} rows, uncompressed); CSV "
        f"{args.csv_rows:,} rows, {csv_gb:.2f} GB; {os.cpu_count()} CPUs, "
        f"{platform.python_implementation()} {platform.python_version()}, file in the page "
        f"cache; fastest of {args.repeats} epochs, each in a fresh process, interleaved; "
        f"load average (1/5/15 min) {loads[0]} at the start, {loads[-1]} at the end.\n"
    )
    print(
        "| reader | batch | rows/s | vs limit | vs blocked-fill limit | epoch s | CPU s "
        "| setup s | peak RSS MB | worker peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def rate(key: tuple[str, int]) -> float:
        return results[key]["rows"] / results[key]["seconds"]

    for kind, _, b, label in runs:
        r = results[kind, b]
        csv = kind.startswith("csv")
        ratio = rate((kind, b)) / rate(("csv_limit" if csv else "parquet_limit", 0))
        blocked = "-" if csv else f"{rate((kind, b)) / rate(('parquet_limit_blocked', 0)):.2f}"
        workers = f"{r['children_maxrss_mb']:.0f}" if kind.endswith("_w2") else "-"
        print(
            f"| {label} | {b or '-'} | {rate((kind, b)):,.0f} | {ratio:.2f} | {blocked} | "
            f"{r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['build_seconds']:.1f} | "
            f"{r['maxrss_mb']:.0f} | {workers} |"
        )
    lim = rate(("parquet_limit", 0))
    streams = [k for k in results if k[0] in ("parquet", "parquet_shuf")]
    checks = [
        (
            f"ParquetStream unshuffled >= 0.9 of the limit at batch {b}",
            rate(("parquet", b)) / lim >= 0.9,
        )
        for b in args.batch_sizes
    ]
    checks += [
        (f"shuffled >= 0.7 of the limit at batch {b}", rate(("parquet_shuf", b)) / lim >= 0.7)
        for b in args.batch_sizes
    ]
    checks += [
        (
            f"CsvStream >= 0.9 of its limit at batch {b}",
            rate(("csv", b)) / rate(("csv_limit", 0)) >= 0.9,
        )
        for b in args.batch_sizes
    ]
    checks += [
        (
            "peak RSS of the streaming process < 1 GB",
            max(results[k]["maxrss_mb"] for k in streams) < 1024,
        ),
        ("Parquet file > 2 GB", pq_gb > 2.0),
    ]
    print()
    for text, ok in checks:
        print(f"- {text}: {'yes' if ok else 'NO'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(HERE, "_data"))
    ap.add_argument("--rows", type=int, default=16_000_000)
    ap.add_argument("--csv-rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--row-group", type=int, default=1 << 20)
    ap.add_argument(
        "--batch-sizes",
        type=lambda v: [int(b) for b in v.split(",")],
        default=[256, 4096],
        help="comma-separated batch sizes, each measured (default 256,4096)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="epochs per reader; the fastest counts")
    ap.add_argument(
        "--workers", action="store_true", help="also 2 DataLoader workers (largest batch size)"
    )
    ap.add_argument(
        "--whole-file", action="store_true", help="also iter_batches over the whole file"
    )
    ap.add_argument("--only", default=None, help="comma-separated kinds to measure (and limits)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-path", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        b = args.batch_sizes[0]
        print(json.dumps(_measure(args.child, args.child_path, b, args.features)))
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

    runs = _runs(args, pq_path, csv_path)
    if args.only:
        only = set(args.only.split(",")) | {"parquet_limit", "parquet_limit_blocked", "csv_limit"}
        runs = [r for r in runs if r[0] in only]
    results: dict[tuple[str, int], dict] = {}
    loads = [_load()]
    for rep in range(args.repeats):  # interleaved, so a busy spell hits every reader alike
        for kind, path, b, _ in runs:
            _warm(path)
            print(f"measuring {kind} {b or ''} ({rep + 1}/{args.repeats}) ...", file=sys.stderr)
            _keep_best(results, (kind, b), _run_child(kind, path, b, args))
    loads.append(_load())
    _table(args, runs, results, pq_gb, csv_gb, loads)


if __name__ == "__main__":
    main()
