"""ParquetStream from a local S3-compatible server, against the same file on local disk and
against ``pyarrow.dataset`` reading the same URL: rows per second and peak memory.

Run::

    python benchmarks/bench_remote.py                      # 2 M x 16 float32
    python benchmarks/bench_remote.py --rows 500000        # quick

Writes (once, reused while the size matches) a Parquet file of ``--rows`` rows x
``--features`` float32 features plus a float32 target, row groups of ``--row-group``
rows, under ``--dir`` (default ``benchmarks/_data/``, git-ignored); starts moto's S3
server (``moto[server]``, from the dev extra) in its own process on 127.0.0.1 and uploads
the file to a bucket there. Every measurement runs in a fresh child process (``--repeats``
times, interleaved; the fastest counts) that reads one whole epoch and reports its rows
per second and its peak resident memory (``ru_maxrss``, torch and pyarrow included):

- ``ParquetStream, local file``: the stream over the file on disk;
- ``ParquetStream, s3://``: the same stream over the URL (ranged reads of each row group,
  the bounded read-ahead);
- ``pyarrow.dataset, s3://``: ``pyarrow.dataset.dataset(url).to_batches()`` over the same
  URL with its own read-ahead, record batches only (no conversion to tensors);
- ``pyarrow.dataset + tensors, s3://``: the same, each batch converted to a row-major
  float32 feature tensor and a target tensor (the work the stream does too).

Target: the stream from the server at least 0.8x the throughput of ``pyarrow.dataset``
from the same server. Prints a Markdown table. Nothing outside the machine is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BUCKET = "tabloader-bench"
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def _write_parquet(path: str, rows: int, features: int, row_group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"f{j}" for j in range(features)]
    schema = pa.schema([(c, pa.float32()) for c in [*names, "y"]])
    rng = np.random.default_rng(0)
    tmp = path + ".tmp"
    with pq.ParquetWriter(tmp, schema, compression="snappy") as w:
        done = 0
        while done < rows:
            n = min(row_group, rows - done)
            X = rng.standard_normal((n, features), dtype=np.float32)
            y = X[:, :4].sum(axis=1) + 0.1 * rng.standard_normal(n, dtype=np.float32)
            cols = [pa.array(X[:, j]) for j in range(features)] + [pa.array(y)]
            w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=row_group)
            done += n
    os.replace(tmp, path)


# --------------------------------------------------------------------------- measurements
def _stream(source: str, batch_size: int) -> int:
    from tabloader.datasets import ParquetStream

    stream = ParquetStream(source, target="y", task="regression", batch_size=batch_size)
    rows = 0
    for X, _ in stream:
        rows += X.shape[0]
    return rows


def _dataset(source: str, batch_size: int, tensors: bool) -> int:
    import pyarrow.dataset as pads
    import torch

    ds = pads.dataset(source, format="parquet")
    names = [n for n in ds.schema.names if n != "y"]
    rows = 0
    for rb in ds.to_batches(batch_size=batch_size):
        if tensors:
            X = np.empty((rb.num_rows, len(names)), dtype=np.float32)
            for j, c in enumerate(names):
                X[:, j] = rb.column(c).to_numpy()
            torch.from_numpy(X)
            torch.from_numpy(rb.column("y").to_numpy().reshape(-1, 1))
        rows += rb.num_rows
    return rows


def child(case: str, source: str, batch_size: int) -> None:
    import pyarrow.dataset  # noqa: F401  (imports are not timed)
    import torch  # noqa: F401

    import tabloader.datasets

    tabloader.datasets.ParquetStream  # noqa: B018  (loads the readers)
    t0 = time.perf_counter()
    if case == "stream":
        rows = _stream(source, batch_size)
    else:
        rows = _dataset(source, batch_size, tensors=case == "dataset+tensors")
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "rss": rss}))


def _run(case: str, source: str, batch_size: int, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", case, source, "--batch-size", str(batch_size)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{case} {source} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, endpoint
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the moto server did not start")


def _upload(path: str, endpoint: str) -> str:
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(
        access_key=ENV["AWS_ACCESS_KEY_ID"],
        secret_key=ENV["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=endpoint,
        allow_bucket_creation=True,
    )
    fs.create_dir(BUCKET)
    key = f"{BUCKET}/{os.path.basename(path)}"
    pafs.copy_files(path, key, destination_filesystem=fs)
    return f"s3://{key}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--row-group", type=int, default=131_072)
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dir", default=os.path.join(HERE, "_data"))
    ap.add_argument("--child", nargs=2, metavar=("CASE", "SOURCE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], args.batch_size)
        return
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, f"remote_{args.rows}x{args.features}_{args.row_group}.parquet")
    if not os.path.exists(path):
        _write_parquet(path, args.rows, args.features, args.row_group)
    env = {**os.environ, **ENV}
    server, endpoint = _start_server(env)
    env["AWS_ENDPOINT_URL"] = endpoint
    try:
        url = _upload(path, endpoint)
        cases = [
            ("ParquetStream, local file", "stream", path),
            ("ParquetStream, s3://", "stream", url),
            ("pyarrow.dataset, s3://", "dataset", url),
            ("pyarrow.dataset + tensors, s3://", "dataset+tensors", url),
        ]
        best: dict[str, dict] = {}
        for _ in range(args.repeats):
            for label, case, source in cases:
                r = _run(case, source, args.batch_size, env)
                if label not in best or r["seconds"] < best[label]["seconds"]:
                    best[label] = r
    finally:
        server.terminate()
        server.wait(30)
    size = os.path.getsize(path) / 1e6
    print(
        f"\n{args.rows:,} rows x {args.features} float32 features + target, row groups of "
        f"{args.row_group:,} rows, {size:.0f} MB Parquet (snappy); batch {args.batch_size}; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; moto S3 server on "
        "127.0.0.1 in its own process; best of "
        f"{args.repeats}\n"
    )
    ref = best["pyarrow.dataset, s3://"]["rows"] / best["pyarrow.dataset, s3://"]["seconds"]
    print("| reader | rows/s | vs pyarrow.dataset (s3://) | peak RSS |")
    print("|---|---:|---:|---:|")
    for label, _, _ in cases:
        r = best[label]
        rate = r["rows"] / r["seconds"]
        print(f"| {label} | {rate:,.0f} | {rate / ref:.2f}x | {r['rss'] / 1e6:,.0f} MB |")


if __name__ == "__main__":
    main()
