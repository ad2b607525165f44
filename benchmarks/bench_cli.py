"""Start-up wall time of the command line: ``tabloader --help`` and ``tabloader inspect``.

Run::

    python benchmarks/bench_cli.py               # 15 fresh processes of each, interleaved
    python benchmarks/bench_cli.py --runs 31

Each command runs in a fresh process, ``--runs`` times, interleaved with the others so that
a busy spell of the machine hits them alike; the table gives the median and the fastest
run. The baseline is the interpreter alone (``python -c pass``); ``import torch`` shows
what ``--help`` and ``inspect`` avoid (neither imports it: ``tests/test_cli.py`` checks
that with ``-X importtime``). The data is a 5-row CSV file (``tiny.csv``) and a 3-file
hive-partitioned Parquet directory, written to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TABLOADER = str(BIN / "tabloader") if (BIN / "tabloader").exists() else None


def _tabloader(*args: str) -> list[str]:
    return [TABLOADER, *args] if TABLOADER else [sys.executable, "-m", "tabloader", *args]


def _write_data(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = ["a,b,y", "1.0,2.5,yes", "0.5,1.0,no", "2.0,0.1,yes", "1.5,3.0,no", "0.2,0.4,yes"]
    (folder / "tiny.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for region in ("east", "north", "south"):
        part = folder / "sales" / f"region={region}"
        part.mkdir(parents=True)
        pq.write_table(pa.table({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]}), part / "p.parquet")


def _seconds(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per command")
    args = parser.parse_args()
    commands = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "tabloader --help": _tabloader("--help"),
        "tabloader inspect tiny.csv": _tabloader("inspect", "tiny.csv"),
        "tabloader inspect tiny.csv --target y": _tabloader("inspect", "tiny.csv", "--target", "y"),
        "tabloader inspect sales/ (hive)": _tabloader("inspect", "sales", "--target", "region"),
        "python -c 'import torch' (avoided)": [sys.executable, "-c", "import torch"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write_data(folder)
        for cmd in commands.values():  # warm the file cache once
            _seconds(cmd, folder)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(_seconds(cmd, folder))
    base = statistics.median(times["python -c pass (baseline)"])
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, {args.runs} runs each\n"
    )
    print("| command | median s | fastest s | median - baseline s |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| `{name}` | {med:.3f} | {min(ts):.3f} | {med - base:+.3f} |")


if __name__ == "__main__":
    main()
