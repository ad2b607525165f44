"""Randomised exactly-once and resume harness for ParquetStream / CsvStream.

Run::

    python benchmarks/bench_exactly_once.py --trials 500          # seeds 0..499
    python benchmarks/bench_exactly_once.py --trials 50 --seed 1000

Each trial draws (from its seed) a file layout (CSV or Parquet, 1-4 files, row groups or
byte ranges of a few rows), a batch size, ranks (1-3), DataLoader workers (0-2), shuffling,
``drop_last``, how the loader is configured (the stream's own settings, or
``make_loader(stream, shuffle=, seed=, rank=, world_size=)`` over a configured copy), an
epoch and a point where the epoch is interrupted, and which file change (if any) happens
after the state is saved. For every rank it checks, through ``make_loader``:

- ``len(loader)`` equals the batches each epoch yields;
- the epoch's batches over all ranks hold every row exactly once (``drop_last``: distinct
  rows, ``floor(N / W) // batch_size`` full batches per rank);
- the state saved after ``c`` batches (``stream.state_dict()`` of the user's stream, or
  ``loader.state_dict()``, through JSON) resumes in a fresh stream with exactly the
  remaining batches, in the uninterrupted run's order; saved on the epoch's last batch it
  resumes the next epoch, in full;
- a file changed after the state was saved (grown, replaced by one with the same rows,
  renamed so that the sorted order changes) is refused: ``load_state_dict`` raises
  ``DataChangedError``, and a stream planned before the change raises it when it reads.

Every trial runs in a thread under a watchdog (and DataLoaders with workers get
``timeout=``), so a hang is counted, not waited for. ``tests/test_streams.py`` runs the
same :func:`run_trial` on parameters drawn by hypothesis. Prints a Markdown table:
trials, passed, hangs, failures, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

SEED = 7  # the shuffling seed of every stream
WORKER_TIMEOUT = 60.0  # seconds a DataLoader waits for a worker's batch


@dataclass(frozen=True)
class Trial:
    """One trial's parameters (see the module docstring)."""

    fmt: str  # "csv" or "parquet"
    file_rows: tuple[int, ...]  # rows of each file (1-4 files)
    unit: int  # Parquet row-group rows, or CSV block_size in bytes
    batch_size: int
    world_size: int
    num_workers: int
    shuffle: bool
    shuffle_buffer: int
    drop_last: bool
    epoch: int  # the epoch that is interrupted
    stop_at: float  # fraction of the rank's batches taken before the state is saved
    via: str  # "stream": stream.state_dict(); "loader": loader.state_dict()
    options: bool  # make_loader(stream, shuffle=, seed=, rank=, world_size=, drop_last=)
    change: str  # "none", "grow", "replace" or "rename"


def fix(t: Trial) -> Trial:
    """``t`` with a batch size every rank can split (at least one batch per rank)."""
    n, ws, b = sum(t.file_rows), t.world_size, t.batch_size
    if t.drop_last:
        return replace(t, batch_size=max(1, min(b, n // ws)))
    most = -(-n // ws)  # rows of rank 0 (the most)
    while -(-most // b) > n // ws:  # k batches need k rows on every rank
        b += 1
    return replace(t, batch_size=b)


def trial_params(seed: int) -> Trial:
    """The trial of ``seed`` (numpy's PCG64; nothing global)."""
    rng = np.random.default_rng(seed)
    fmt = "csv" if rng.random() < 0.5 else "parquet"
    files = int(rng.integers(1, 5))
    ws = int(rng.integers(1, 4))
    rows = tuple(int(r) for r in rng.integers(1, 60, files))
    if sum(rows) < ws:
        rows = (*rows[:-1], rows[-1] + ws)
    unit = int(rng.integers(1, 25)) if fmt == "parquet" else int(rng.integers(20, 400))
    t = Trial(
        fmt=fmt,
        file_rows=rows,
        unit=unit,
        batch_size=int(rng.integers(1, 17)),
        world_size=ws,
        num_workers=int(rng.choice([0, 0, 1, 2])),
        shuffle=bool(rng.random() < 0.6),
        shuffle_buffer=int(rng.integers(1, 50)),
        drop_last=bool(rng.random() < 0.2),
        epoch=int(rng.integers(0, 3)),
        stop_at=float(rng.choice([0.0, 1.0, rng.random()])),
        via=str(rng.choice(["stream", "loader"])),
        options=bool(rng.random() < 0.5),
        change=str(rng.choice(["none", "none", "grow", "replace", "rename"])),
    )
    return fix(t)


# --------------------------------------------------------------------------- data
def _write(t: Trial, folder: str, i: int, ids: np.ndarray, values_seed: int) -> str:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(values_seed)
    df = pd.DataFrame({"id": ids, "a": rng.normal(size=len(ids)).round(3), "y": ids * 0.5})
    path = os.path.join(folder, f"part{i}.{t.fmt}")
    if t.fmt == "csv":
        df.to_csv(path, index=False)
    else:
        table = pa.Table.from_pandas(df, preserve_index=False)
        pq.write_table(table, path, row_group_size=t.unit)
    return path


def write_files(t: Trial, folder: str) -> list[str]:
    """The trial's files in ``folder``: ids 0..N-1 in file order."""
    os.makedirs(folder, exist_ok=True)
    start, paths = 0, []
    for i, n in enumerate(t.file_rows):
        paths.append(_write(t, folder, i, np.arange(start, start + n), i))
        start += n
    return paths


def change_files(t: Trial, folder: str, paths: list[str]) -> None:
    """Apply ``t.change`` to the trial's files (after the state was saved)."""
    time.sleep(0.02)  # a real change comes later than the file clock's tick (a few ms)
    n = sum(t.file_rows)
    last = len(paths) - 1
    first_id = n - t.file_rows[-1]
    if t.change == "grow":  # the last file gets more rows
        _write(t, folder, last, np.arange(first_id, n + 5), last)
    elif t.change == "replace":  # the same rows, other values
        _write(t, folder, last, np.arange(first_id, n), 1000 + last)
    elif t.change == "rename":  # the first file now sorts last
        os.replace(paths[0], os.path.join(folder, f"zz_part0.{t.fmt}"))


# --------------------------------------------------------------------------- one trial
def _stream(t: Trial, folder: str, rank: int) -> Any:
    from tabloader.datasets import CsvStream, ParquetStream

    kw: dict[str, Any] = {"target": "y", "features": ["id", "a"], "batch_size": t.batch_size}
    kw["shuffle_buffer"] = t.shuffle_buffer
    if not t.options:  # else make_loader configures a copy
        kw.update(shuffle=t.shuffle, seed=SEED, drop_last=t.drop_last)
        kw.update(rank=rank, world_size=t.world_size)
    if t.fmt == "csv":
        return CsvStream(folder, block_size=t.unit, **kw)
    return ParquetStream(folder, **kw)


def _loader(t: Trial, stream: Any, rank: int) -> Any:
    from tabloader.loaders import make_loader

    kw: dict[str, Any] = {"num_workers": t.num_workers}
    if t.num_workers:
        kw["timeout"] = WORKER_TIMEOUT
    if t.options:
        kw.update(shuffle=t.shuffle, seed=SEED, drop_last=t.drop_last)
        kw.update(rank=rank, world_size=t.world_size)
    return make_loader(stream, **kw)


def _ids(batches: list[Any]) -> list[list[int]]:
    return [b[0][:, 0].round().long().tolist() for b in batches]


def _epoch(loader: Any) -> list[list[int]]:
    batches = list(loader)
    assert len(batches) == len(loader), f"len(loader)={len(loader)}, yielded {len(batches)}"
    return _ids(batches)


def _interrupt(t: Trial, folder: str, rank: int) -> tuple[dict, int]:
    """Read ``c`` batches of epoch ``t.epoch`` and save the state (through JSON)."""
    stream = _stream(t, folder, rank)
    stream.set_epoch(t.epoch)
    loader = _loader(t, stream, rank)
    c = round(t.stop_at * len(loader))
    it = iter(loader)
    for _ in range(c):
        next(it)
    state = stream.state_dict() if t.via == "stream" else loader.state_dict()
    other = loader.state_dict() if t.via == "stream" else stream.state_dict()
    assert state == other, f"stream and loader states differ: {state} != {other}"
    del it
    return json.loads(json.dumps(state)), c


def _check_refused(t: Trial, folder: str, rank: int, state: dict, live: Any) -> None:
    from tabloader.errors import DataChangedError

    try:
        list(live)  # planned before the change
    except DataChangedError:
        pass
    else:
        raise AssertionError(f"a stream planned before the {t.change} read on")
    try:
        fresh = _stream(t, folder, rank)
        fresh.load_state_dict(state)
    except DataChangedError:
        return
    raise AssertionError(f"a state saved before the {t.change} was accepted")


def run_trial(t: Trial, workdir: str) -> None:
    """Run one trial in ``workdir`` (an empty folder); ``AssertionError`` when it fails."""
    folder = os.path.join(workdir, "data")
    paths = write_files(t, folder)
    n, ws = sum(t.file_rows), t.world_size
    seen: list[int] = []
    state: dict = {}
    for rank in range(ws):
        stream = _stream(t, folder, rank)
        stream.set_epoch(t.epoch)
        loader = _loader(t, stream, rank)
        full, after = _epoch(loader), _epoch(loader)
        k = len(full)
        assert len(after) == k, f"epochs of {k} and {len(after)} batches"
        if t.drop_last:
            assert all(len(b) == t.batch_size for b in full), "drop_last gave a short batch"
        seen += [i for b in full for i in b]
        state, c = _interrupt(t, folder, rank)
        resumed = _stream(t, folder, rank)
        resumed.load_state_dict(state)
        rest = _ids(list(_loader(t, resumed, rank)))
        want = full[c:] if c < k else after  # on the last batch: the next epoch
        assert rest == want, f"rank {rank}: resumed after {c} of {k} batches: {rest} != {want}"
    if t.drop_last:
        assert len(set(seen)) == len(seen) == ws * (n // ws // t.batch_size) * t.batch_size
    else:
        assert sorted(seen) == list(range(n)), "not every row exactly once"
    if t.change != "none":
        live = _stream(t, folder, ws - 1)
        change_files(t, folder, paths)
        _check_refused(t, folder, ws - 1, state, live)


def watched(t: Trial, timeout: float = 120.0) -> tuple[str, str]:
    """Run ``t`` in a thread under a watchdog: ``("passed" | "hang" | "failure", detail)``."""
    out: list[tuple[str, str]] = []
    workdir = tempfile.mkdtemp(prefix="exactly_once_")

    def target() -> None:
        try:
            run_trial(t, workdir)
            out.append(("passed", ""))
        except BaseException as exc:  # reported, not raised
            out.append(("failure", "".join(traceback.format_exception(exc))[-3000:]))

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        return "hang", f"no result after {timeout:.0f} s"
    shutil.rmtree(workdir, ignore_errors=True)
    return out[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0, help="first trial's seed")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per trial")
    args = ap.parse_args()
    counts = {"passed": 0, "hang": 0, "failure": 0}
    t0 = time.perf_counter()
    for seed in range(args.seed, args.seed + args.trials):
        t = trial_params(seed)
        outcome, detail = watched(t, args.timeout)
        counts[outcome] += 1
        if outcome != "passed":
            print(f"seed {seed}: {outcome}: {t}\n{detail}", flush=True)
    seconds = time.perf_counter() - t0
    print("| trials | passed | hangs | failures | seconds |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {args.trials} | {counts['passed']} | {counts['hang']} | {counts['failure']} "
        f"| {seconds:.1f} |"
    )


if __name__ == "__main__":
    main()
