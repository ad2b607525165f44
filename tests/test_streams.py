"""Tests of ParquetStream and CsvStream: equality with the map-style readers (the oracle),
exactly-once sharding over workers and ranks, resume, shuffling, statistics, errors."""

from __future__ import annotations

import json
import os
import tempfile
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

import tabloader.datasets._stream_base as stream_mod
from tabloader.datasets import (
    CsvDataset,
    CsvStream,
    FeatureStats,
    ParquetDataset,
    ParquetStream,
)
from tabloader.errors import MissingValueError, ParseError, SchemaError, TargetError


# --------------------------------------------------------------------------- helpers
def _frame(n: int, seed: int = 0, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(start, start + n),
            "a": rng.normal(size=n).astype(np.float32),
            "b": rng.integers(0, 5, n),
            "c": rng.choice(["x", "y", "z"], n),
            "yb": rng.choice(["neg", "pos"], n),
            "ym": rng.integers(0, 4, n),
            "yr": rng.normal(size=n),
        }
    )


def _write_parquet(path, df: pd.DataFrame, row_group: int) -> str:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=row_group)
    return str(path)


def _all(stream) -> tuple[torch.Tensor, torch.Tensor | None]:
    xs, ys = [], []
    for b in stream:
        if isinstance(b, (tuple, list)):
            xs.append(b[0])
            ys.append(b[1])
        else:
            xs.append(b)
    return torch.cat(xs), (torch.cat(ys) if ys else None)


def _ids(batches, stream) -> list[int]:
    j = stream.feature_names.index("id")
    out = []
    for b in batches:
        X = b[0] if isinstance(b, (tuple, list)) else b
        out.extend(X[:, j].to(torch.int64).tolist())
    return out


def _as_worker(monkeypatch, w: int, nw: int) -> None:
    """Make the stream believe it runs in DataLoader worker ``w`` of ``nw`` (in-process)."""
    info = None if nw == 0 else SimpleNamespace(id=w, num_workers=nw)
    monkeypatch.setattr(stream_mod, "get_worker_info", lambda: info)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


# --------------------------------------------------------------------------- oracle: map-style
@pytest.mark.parametrize(
    "spec",
    [
        {"target": "yr", "features": ["a", "b", "id"]},
        {"target": "yb", "features": ["a", "c"], "categorical": ["c"]},
        {"target": "ym", "features": ["a", "b", "c"], "categorical": ["c"]},
        {"target": "ym", "features": ["a"], "task": "regression"},
        {"target": None, "features": ["a", "b"]},
    ],
)
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_batches_equal_map_style(tmp_path, spec, fmt):
    df = _frame(301)
    if fmt == "parquet":
        path = _write_parquet(tmp_path / "d.parquet", df, 50)
        ds = ParquetDataset(path, **spec)
        s = ParquetStream(path, batch_size=32, chunk_rows=17, **spec)
    else:
        path = str(tmp_path / "d.csv")
        df.to_csv(path, index=False)
        ds = CsvDataset(path, **spec)
        s = CsvStream(path, batch_size=32, block_size=512, **spec)
        assert s.n_units > 5
    batches = list(s)
    assert len(batches) == len(s) == 10
    for b in batches[:-1]:
        X = b[0] if isinstance(b, (tuple, list)) else b
        assert X.shape == (32, ds.n_features) and X.dtype == torch.float32 and X.is_contiguous()
    X, y = _all(s)
    torch.testing.assert_close(X, ds.features, rtol=0, atol=0)
    if ds.targets is None:
        assert y is None
    else:
        assert y.dtype == ds.targets.dtype and y.shape == ds.targets.shape
        assert torch.equal(y, ds.targets)
    assert s.feature_names == ds.feature_names
    assert s.task == ds.task and s.target_name == ds.target_name
    assert s.n_features == ds.n_features
    if ds.classes_ is None:
        assert s.classes_ is None
    else:
        np.testing.assert_array_equal(s.classes_, ds.classes_)
    assert s.categories_ == ds.categories_


@pytest.mark.parametrize("missing", ["drop", "mean"])
def test_missing_policies_equal_map_style(tmp_path, missing):
    df = _frame(200)
    df.loc[[3, 77, 150], "a"] = np.nan
    df.loc[[10, 190], "c"] = None
    path = _write_parquet(tmp_path / "d.parquet", df, 40)
    spec = {"target": "yr", "features": ["a", "c"], "categorical": ["c"], "missing": missing}
    with pytest.warns(UserWarning, match="dropped") if missing == "drop" else _nullcontext():
        ds = ParquetDataset(path, **spec)
    with pytest.warns(UserWarning, match="dropped") if missing == "drop" else _nullcontext():
        s = ParquetStream(path, batch_size=16, **spec)
    X, y = _all(s)
    torch.testing.assert_close(X, ds.features)
    assert torch.equal(y, ds.targets)
    assert s.n_dropped_ == ds.n_dropped_
    assert s.fill_values_.keys() == ds.fill_values_.keys()
    for k, v in ds.fill_values_.items():
        assert s.fill_values_[k] == pytest.approx(v, rel=1e-9)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_late_class_is_learned_in_first_pass(tmp_path):
    df = _frame(120)
    df["label"] = "a"
    df.loc[:59, "label"] = "b"
    df.loc[119, "label"] = "zz"  # first seen in the last row of the last row group
    path = _write_parquet(tmp_path / "d.parquet", df, 30)
    s = ParquetStream(path, target="label", features=["a"], batch_size=25, shuffle=True, seed=3)
    assert list(s.classes_) == ["a", "b", "zz"] and s.task == "multiclass"
    _, y = _all(s)
    assert y.dtype == torch.int64 and int(y.max()) == 2 and int((y == 2).sum()) == 1
    # given classes that miss a label: a clear error naming the row
    s2 = ParquetStream(path, target="label", features=["a"], batch_size=25, classes=["a", "b"])
    with pytest.raises(TargetError, match=r"label 'zz' at row 119 of .*not one of the 2 classes"):
        _all(s2)


# --------------------------------------------------------------------------- exactly once
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    file_rows=st.lists(st.integers(1, 60), min_size=1, max_size=3),
    row_group=st.integers(1, 25),
    batch_size=st.integers(2, 16),
    num_workers=st.sampled_from([0, 1, 2, 3]),
    world_size=st.sampled_from([1, 2, 3]),
    shuffle=st.booleans(),
    buffer=st.integers(1, 40),
    epoch=st.integers(0, 3),
)
def test_every_row_exactly_once_parquet(
    monkeypatch, file_rows, row_group, batch_size, num_workers, world_size, shuffle, buffer, epoch
):
    with tempfile.TemporaryDirectory() as d:
        start = 0
        paths = []
        for i, n in enumerate(file_rows):
            paths.append(
                _write_parquet(os.path.join(d, f"p{i}.parquet"), _frame(n, i, start), row_group)
            )
            start += n
        _check_exactly_once(
            monkeypatch,
            lambda r: ParquetStream(
                paths,
                target="yr",
                features=["id", "a"],
                batch_size=batch_size,
                shuffle=shuffle,
                seed=11,
                shuffle_buffer=buffer,
                rank=r,
                world_size=world_size,
            ),
            start,
            num_workers,
            world_size,
            epoch,
        )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    file_rows=st.lists(st.integers(1, 50), min_size=1, max_size=3),
    block=st.integers(16, 300),
    batch_size=st.integers(2, 16),
    num_workers=st.sampled_from([0, 1, 2, 3]),
    world_size=st.sampled_from([1, 2, 3]),
    shuffle=st.booleans(),
)
def test_every_row_exactly_once_csv(
    monkeypatch, file_rows, block, batch_size, num_workers, world_size, shuffle
):
    with tempfile.TemporaryDirectory() as d:
        start = 0
        paths = []
        for i, n in enumerate(file_rows):
            p = os.path.join(d, f"c{i}.csv")
            _frame(n, i, start).to_csv(p, index=False)
            paths.append(p)
            start += n
        _check_exactly_once(
            monkeypatch,
            lambda r: CsvStream(
                paths,
                target="yr",
                features=["id", "a"],
                batch_size=batch_size,
                shuffle=shuffle,
                seed=5,
                shuffle_buffer=7,
                rank=r,
                world_size=world_size,
                block_size=block,
            ),
            start,
            num_workers,
            world_size,
            0,
        )


def _check_exactly_once(monkeypatch, make, n, num_workers, world_size, epoch):
    if n < world_size:  # not enough rows for one batch per rank: a clear error
        with pytest.raises(ValueError, match="every rank should yield the same number"):
            for r in range(world_size):
                len(make(r))
        return
    seen = []
    counts = []
    for r in range(world_size):
        s = make(r)
        s.set_epoch(epoch)
        k = len(s)
        got = 0
        for w in range(max(num_workers, 1)):
            _as_worker(monkeypatch, w, num_workers)
            s.set_epoch(epoch)
            batches = list(s)
            got += len(batches)
            assert all(0 < (b[0].shape[0]) <= s.batch_size for b in batches)
            seen.extend(_ids(batches, s))
        counts.append(got)
        assert got == k
    _as_worker(monkeypatch, 0, 0)
    assert sorted(seen) == list(range(n))  # no duplicates, no losses
    assert len(set(counts)) == 1  # every rank the same number of batches


def test_real_workers_and_ranks(tmp_path):
    path = _write_parquet(tmp_path / "d.parquet", _frame(203), 20)
    seen = []
    lens = []
    for r in range(2):
        s = ParquetStream(
            path,
            target="yr",
            features=["id"],
            batch_size=8,
            shuffle=True,
            seed=1,
            rank=r,
            world_size=2,
        )
        loader = DataLoader(s, batch_size=None, num_workers=2)
        batches = list(loader)
        lens.append(len(batches))
        assert len(loader) == len(batches)
        seen.extend(_ids(batches, s))
    assert lens[0] == lens[1] == 13
    assert sorted(seen) == list(range(203))


@pytest.mark.parametrize(
    ("n", "ws", "b", "sizes"),
    [
        (10, 3, 2, [[2, 2], [2, 1], [2, 1]]),  # 4 + 3 + 3 rows, 2 batches each
        (9, 2, 4, [[4, 1], [3, 1]]),  # rank 1 splits its last rows to keep 2 batches
        (8, 2, 4, [[4], [4]]),
    ],
)
def test_remainder_policy_batch_sizes(tmp_path, n, ws, b, sizes):
    path = _write_parquet(tmp_path / "d.parquet", _frame(n), 3)
    got = []
    for r in range(ws):
        s = ParquetStream(path, target="yr", features=["id"], batch_size=b, rank=r, world_size=ws)
        got.append([x.shape[0] for x, _ in s])
    assert got == sizes


def test_drop_last_and_impossible_split(tmp_path):
    path = _write_parquet(tmp_path / "d.parquet", _frame(10), 4)
    s = ParquetStream(
        path, target="yr", features=["id"], batch_size=2, drop_last=True, rank=1, world_size=3
    )
    assert [x.shape[0] for x, _ in s] == [2]
    s = ParquetStream(path, target="yr", features=["id"], batch_size=1, rank=2, world_size=3)
    with pytest.raises(ValueError, match=r"rank 2 of world_size=3 has only 3 of the 10 rows"):
        len(s)


# --------------------------------------------------------------------------- shuffle
def test_same_seed_same_order_new_order_each_epoch(tmp_path):
    path = _write_parquet(tmp_path / "d.parquet", _frame(500), 50)

    def order(seed, epoch):
        s = ParquetStream(
            path,
            target="yr",
            features=["id"],
            batch_size=64,
            shuffle=True,
            seed=seed,
            shuffle_buffer=100,
        )
        s.set_epoch(epoch)
        return _ids(list(s), s)

    a = order(1, 0)
    assert a == order(1, 0)
    assert sorted(a) == list(range(500))
    assert a != order(1, 1) and a != order(2, 0)
    # a stream iterated twice moves on to the next epoch by itself
    s = ParquetStream(
        path, target="yr", features=["id"], batch_size=64, shuffle=True, seed=1, shuffle_buffer=100
    )
    assert _ids(list(s), s) == a and _ids(list(s), s) == order(1, 1)


def test_shuffle_rank_correlation(tmp_path):
    """Spearman's rho between position in the file and position in the epoch: about
    N(0, 1 / (units - 1)) for a random order of the units; here 200 row groups."""
    path = _write_parquet(tmp_path / "d.parquet", _frame(20000), 100)
    s = ParquetStream(
        path,
        target="yr",
        features=["id"],
        batch_size=256,
        shuffle=True,
        seed=0,
        shuffle_buffer=2000,
    )
    rhos = []
    for _ in range(8):
        ids = np.array(_ids(list(s), s))
        assert sorted(ids) == list(range(20000))
        rhos.append(_spearman(ids, np.arange(len(ids))))
    assert max(abs(r) for r in rhos) < 0.3
    assert abs(np.mean(rhos)) < 0.1
    # within a buffer the order is a uniform permutation: neighbours come from far apart
    assert np.median(np.abs(np.diff(ids))) > 100
    plain = ParquetStream(path, target="yr", features=["id"], batch_size=256)
    assert _ids(list(plain), plain) == list(range(20000))


# --------------------------------------------------------------------------- resume
@pytest.mark.parametrize("shuffle", [False, True])
def test_resume_mid_epoch_yields_the_remaining_rows(tmp_path, shuffle):
    path = _write_parquet(tmp_path / "d.parquet", _frame(333), 40)
    kw = dict(
        target="yr", features=["id"], batch_size=16, shuffle=shuffle, seed=4, shuffle_buffer=50
    )
    s = ParquetStream(path, **kw)
    s.set_epoch(2)
    it = iter(s)
    head = [next(it) for _ in range(7)]
    state = json.loads(json.dumps(s.state_dict()))  # JSON-safe for checkpoints
    tail = list(it)
    s2 = ParquetStream(path, **kw)
    s2.load_state_dict(state)
    rest = list(s2)
    assert len(rest) == len(tail)
    for (a, ya), (b, yb) in zip(rest, tail):
        assert torch.equal(a, b) and torch.equal(ya, yb)
    assert sorted(_ids(head + rest, s)) == list(range(333))
    # then the next epoch starts
    assert s2.state_dict()["epoch"] == 3


def test_resume_through_dataloader_workers(tmp_path):
    path = _write_parquet(tmp_path / "d.parquet", _frame(250), 30)
    kw = dict(target="yr", features=["id"], batch_size=10, shuffle=True, seed=9, shuffle_buffer=45)
    s = ParquetStream(path, **kw)
    head = []
    for i, b in enumerate(DataLoader(s, batch_size=None, num_workers=2)):
        head.append(b)
        if i == 8:
            break
    state = s.position(0, len(head), num_workers=2)
    s2 = ParquetStream(path, **kw)
    s2.load_state_dict(state)
    rest = list(DataLoader(s2, batch_size=None, num_workers=2))
    assert len(head) + len(rest) == len(s)
    assert sorted(_ids(head + rest, s)) == list(range(250))
    with pytest.raises(ValueError, match="same num_workers"):
        s3 = ParquetStream(path, **kw)
        s3.load_state_dict(state)
        list(s3)


def test_state_from_other_settings_is_refused(tmp_path):
    path = _write_parquet(tmp_path / "d.parquet", _frame(50), 10)
    s = ParquetStream(path, target="yr", batch_size=10, seed=1)
    other = ParquetStream(path, target="yr", batch_size=5, seed=1)
    with pytest.raises(ValueError, match="same batch_size"):
        other.load_state_dict(s.state_dict())


# --------------------------------------------------------------------------- statistics
def test_feature_stats_exact(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"a": 1e6 + rng.normal(size=5000) * 1e-2, "b": rng.exponential(size=5000), "yr": 0.0}
    )
    df = df.astype(np.float32)
    path = _write_parquet(tmp_path / "d.parquet", df, 333)
    s = ParquetStream(path, target="yr", batch_size=100, chunk_rows=77)
    stats = s.feature_stats()
    X = df[["a", "b"]].to_numpy().astype(np.float64)
    assert stats.count == 5000
    np.testing.assert_allclose(stats.mean.numpy(), X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.var.numpy(), X.var(axis=0), rtol=1e-8)
    np.testing.assert_allclose(stats.std.numpy(), X.std(axis=0), rtol=1e-8)


def test_chan_merge_matches_two_pass():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(1000, 3, generator=g, dtype=torch.float64) + 1e5
    parts = torch.split(X, [1, 500, 2, 497])
    s = FeatureStats.empty(3)
    for p in parts:
        s = s.merge(FeatureStats.of(p))
    torch.testing.assert_close(s.mean, X.mean(0), rtol=1e-15, atol=0)
    torch.testing.assert_close(s.var, X.var(0, unbiased=False), rtol=1e-9, atol=0)
    naive = (X * X).mean(0) - X.mean(0) ** 2  # what the merge avoids: cancellation
    assert not torch.allclose(naive, X.var(0, unbiased=False), rtol=1e-9, atol=0)


# --------------------------------------------------------------------------- training
def test_training_from_stream_matches_map_style(tmp_path):
    """A hand-written SGD loop over the stream and over the map-style dataset in the same
    order: the same parameters and losses to float32 round-off (tolerance 1e-6)."""
    path = _write_parquet(tmp_path / "d.parquet", _frame(300), 64)
    ds = ParquetDataset(path, target="yr", features=["a", "b"])
    s = ParquetStream(path, target="yr", features=["a", "b"], batch_size=32)

    def fit(batches):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        losses = []
        for _ in range(3):
            for X, y in batches():
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(X), y)
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return losses, model.weight.detach().clone()

    l1, w1 = fit(lambda: iter(s))
    l2, w2 = fit(lambda: (ds[i : i + 32] for i in range(0, len(ds), 32)))
    np.testing.assert_allclose(l1, l2, rtol=1e-6)
    torch.testing.assert_close(w1, w2, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- bad input
def _messages(make_map, make_stream, exc):
    with pytest.raises(exc) as a:
        make_map()
    with pytest.raises(exc) as b:
        _all(make_stream())
    return str(a.value), str(b.value)


def test_schema_drift_between_files(tmp_path):
    p1 = _write_parquet(tmp_path / "a.parquet", _frame(10), 5)
    p2 = _write_parquet(tmp_path / "b.parquet", _frame(10).rename(columns={"b": "B"}), 5)
    m, s = _messages(
        lambda: ParquetDataset([p1, p2], target="yr"),
        lambda: ParquetStream([p1, p2], target="yr", batch_size=4),
        SchemaError,
    )
    assert m == s and "different schemas" in s
    c1, c2 = tmp_path / "a.csv", tmp_path / "b.csv"
    _frame(10).to_csv(c1, index=False)
    _frame(10).rename(columns={"b": "B"}).to_csv(c2, index=False)
    m, s = _messages(
        lambda: CsvDataset([str(c1), str(c2)], target="yr", features=["a", "id"]),
        lambda: CsvStream([str(c1), str(c2)], target="yr", features=["a", "id"], batch_size=4),
        SchemaError,
    )
    assert m == s and "different columns" in s


def test_corrupt_row_group(tmp_path):
    path = tmp_path / "d.parquet"
    _write_parquet(path, _frame(100), 50)
    md = pq.ParquetFile(path).metadata
    off = md.row_group(1).column(1).data_page_offset  # column "a"
    raw = bytearray(path.read_bytes())
    raw[off : off + 16] = b"\xff" * 16  # the page header of row group 1
    path.write_bytes(bytes(raw))
    m, s = _messages(
        lambda: ParquetDataset(str(path), target="yr", features=["a"]),
        lambda: ParquetStream(str(path), target="yr", features=["a"], batch_size=10),
        ParseError,
    )
    assert "is not a readable Parquet file (corrupt data" in m
    assert "is not a readable Parquet file (corrupt data" in s


def test_csv_cell_and_ragged_errors_match(tmp_path):
    p = tmp_path / "d.csv"
    lines = ["a,b,y"] + [f"{i},{i * 2},{i % 2}" for i in range(40)]
    lines[30] = "29,oops,1"
    p.write_text("\n".join(lines) + "\n")
    m, s = _messages(
        lambda: CsvDataset(str(p), target="y"),
        lambda: CsvStream(str(p), target="y", batch_size=8, block_size=64),
        ParseError,
    )
    assert m == s and "row 29 (line 31) has 'oops'" in s
    lines[30] = "29,58"
    p.write_text("\n".join(lines) + "\n")
    m, s = _messages(
        lambda: CsvDataset(str(p), target="y"),
        lambda: CsvStream(str(p), target="y", batch_size=8, block_size=64),
        ParseError,
    )
    assert m == s and "line 31 has 2 fields" in s


def test_missing_value_error_matches(tmp_path):
    df = _frame(20)
    df.loc[7, "a"] = np.nan
    path = _write_parquet(tmp_path / "d.parquet", df, 50)
    m, s = _messages(
        lambda: ParquetDataset(path, target="yr", features=["a"]),
        lambda: ParquetStream(path, target="yr", features=["a"], batch_size=4),
        MissingValueError,
    )
    assert m == s and "first at row 7 of" in s


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, r"batch_size should be a positive integer, but got batch_size=0"),
        ({"batch_size": 4, "rank": 0}, "rank and world_size should be given together"),
        ({"batch_size": 4, "rank": 2, "world_size": 2}, r"rank should be an integer in \[0, 1\]"),
        ({"batch_size": 4, "shuffle_buffer": -1}, "shuffle_buffer should be a positive integer"),
    ],
)
def test_argument_errors(tmp_path, kwargs, match):
    path = _write_parquet(tmp_path / "d.parquet", _frame(20), 50)
    with pytest.raises(ValueError, match=match):
        ParquetStream(path, target="yr", **kwargs)


def test_unseeded_shuffle_over_ranks_is_refused_and_configure(tmp_path):
    path = _write_parquet(tmp_path / "d.parquet", _frame(40), 10)
    s = ParquetStream(path, target="yr", batch_size=4, shuffle=True, rank=0, world_size=2)
    with pytest.raises(ValueError, match="seed should be an integer when shuffle=True"):
        len(s)
    c = s.configure(seed=3, batch_size=8)
    assert len(c) == 3 and c.seed == 3 and s.batch_size == 4
    with pytest.raises(ValueError, match="options should be among"):
        s.configure(num_workers=2)


def test_shuffled_drop_covers_the_kept_rows(tmp_path):
    df = _frame(150)
    df.loc[[0, 42, 149], "a"] = np.nan
    path = _write_parquet(tmp_path / "d.parquet", df, 20)
    with pytest.warns(UserWarning, match="dropped 3 of 150 rows"):
        s = ParquetStream(
            path,
            target="yr",
            features=["id", "a"],
            missing="drop",
            batch_size=16,
            shuffle=True,
            seed=2,
            shuffle_buffer=33,
        )
    assert s.n_rows == 147 and len(s) == 10
    assert sorted(_ids(list(s), s)) == sorted(set(range(150)) - {0, 42, 149})


def test_csv_comments_and_compressed_files(tmp_path):
    import gzip

    df = _frame(60)
    text = df.to_csv(index=False).splitlines()
    body = [text[0], "# a comment", *text[1:30], "  # another", *text[30:]]
    plain = tmp_path / "c.csv"
    plain.write_text("\n".join(body) + "\n")
    gz = tmp_path / "d.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("\n".join(body) + "\n")
    for path, block in [(plain, 200), (gz, 200)]:
        ds = CsvDataset(str(path), target="ym", features=["a", "c"], categorical=["c"], comment="#")
        s = CsvStream(
            str(path),
            target="ym",
            features=["a", "c"],
            categorical=["c"],
            comment="#",
            batch_size=7,
            block_size=block,
        )
        X, y = _all(s)
        torch.testing.assert_close(X, ds.features, rtol=0, atol=0)
        assert torch.equal(y, ds.targets)
    assert CsvStream(str(plain), target="ym", comment="#", batch_size=7, block_size=200).n_units > 3


# ---------------------------------------------------------------- trainers fit from streams
@pytest.mark.parametrize(
    ("model", "target_kind"),
    [
        ("LinearRegressor", "regression"),
        ("LogisticClassifier", "binary"),
        ("SoftmaxClassifier", "multiclass"),
    ],
)
@pytest.mark.parametrize("standardize", [False, True])
def test_trainer_fit_from_stream_matches_map_style(tmp_path, model, target_kind, standardize):
    """The same steps over the same batches: fitting from a stream or from the dataset agree.

    Unshuffled, the stream yields the file's rows in order in batches of 64, which are
    exactly the map-style dataset's unshuffled batches; the standardisation statistics
    (exact, float64) agree to ~1e-12, so the float32 training runs agree to float32
    round-off: losses within 1e-5 relative, coefficients within 1e-4 of their scale.
    (``average=False``: iterate averaging needs the whole data in memory, so fits from
    streams and loaders do not average.)
    """
    from tabloader import trainers
    from tabloader.datasets import ParquetDataset

    rng = np.random.default_rng(1)
    n = 600
    X = rng.standard_normal((n, 4)) * [1.0, 5.0, 0.2, 3.0] + [0.0, 10.0, -1.0, 2.0]
    z = X @ np.array([0.7, -0.2, 2.0, 0.3])
    if target_kind == "regression":
        y = z + 0.1 * rng.standard_normal(n)
    elif target_kind == "binary":
        y = np.where(z + rng.standard_normal(n) > np.median(z), "pos", "neg")
    else:
        y = np.digitize(z + 0.3 * rng.standard_normal(n), np.quantile(z, [0.33, 0.66]))
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=y)
    path = _write_parquet(tmp_path / "t.parquet", df, row_group=100)

    params = dict(
        optimizer="sgd",
        lr=0.05 if standardize else 0.002,
        momentum=0.0,
        batch_size=64,
        shuffle=False,
        max_epochs=4,
        tol=None,
        standardize=standardize,
        random_state=0,
    )
    ds = ParquetDataset(path, target="y")
    stream = ParquetStream(path, target="y", batch_size=64)
    a = getattr(trainers, model)(**params).fit(ds)
    b = getattr(trainers, model)(**params).fit(stream)
    assert b.n_features_in_ == 4 and list(b.feature_names_in_) == ["a", "b", "c", "d"]
    if target_kind != "regression":
        assert list(b.classes_) == list(a.classes_)
    assert b.n_iter_ == a.n_iter_ == 4
    scale = np.abs(a.coef_).max()
    np.testing.assert_allclose(b.coef_, a.coef_, atol=1e-4 * scale)
    assert b.loss(df[["a", "b", "c", "d"]], df["y"]) == pytest.approx(
        a.loss(df[["a", "b", "c", "d"]], df["y"]), rel=1e-5
    )


def test_stream_position_travels_in_a_trainer_checkpoint(tmp_path):
    """A model file (tensors + JSON) carries the stream's position; training resumes there."""
    from tabloader.trainers import SoftmaxClassifier, load

    path = _write_parquet(tmp_path / "d.parquet", _frame(333), 40)
    kw = dict(target="ym", features=["id", "a"], batch_size=16, shuffle=True, seed=4)
    stream = ParquetStream(path, **kw)
    est = SoftmaxClassifier(max_epochs=2, random_state=0).fit(stream)
    it = iter(stream)  # the loop of a user who stops in the middle of the next epoch
    head = [next(it) for _ in range(5)]
    est.save(tmp_path / "ckpt.pt", metadata={"stream": stream.state_dict()})

    restored = load(tmp_path / "ckpt.pt")
    assert restored.metadata_["stream"] == json.loads(json.dumps(stream.state_dict()))
    resumed = ParquetStream(path, **kw)
    resumed.load_state_dict(restored.metadata_["stream"])
    rest = list(resumed)
    assert sorted(_ids(head + rest, stream)) == list(range(333))  # exactly the rest of the epoch
    np.testing.assert_array_equal(restored.coef_, est.coef_)


def test_warm_start_from_a_restored_stream_position_reads_the_rest(tmp_path):
    from tabloader.loaders import make_loader

    path = _write_parquet(tmp_path / "d.parquet", _frame(200), 30)
    kw = dict(target="yr", features=["id"], batch_size=16, shuffle=True, seed=2)
    stream = ParquetStream(path, **kw)
    stream.set_epoch(3)
    it = iter(stream)
    head = [next(it) for _ in range(4)]
    resumed = ParquetStream(path, **kw)
    resumed.load_state_dict(json.loads(json.dumps(stream.state_dict())))
    loader = make_loader(resumed)  # what est.fit(stream) builds
    rest = list(loader)
    assert sorted(_ids(head + rest, stream)) == list(range(200))
    assert loader.epoch == 3


@pytest.mark.parametrize("shuffle", [False, True])
def test_hive_partition_keys_are_columns_as_in_parquet_dataset(tmp_path, shuffle):
    """Partition folders (numeric and text keys) give the same rows as ParquetDataset."""
    df = _frame(240, seed=5).assign(year=np.repeat([2021, 2022, 2023], 80))
    df["region"] = np.tile(["north", "south"], 120)
    pq.write_to_dataset(
        pa.Table.from_pandas(df, preserve_index=False),
        tmp_path / "hive",
        partition_cols=["year", "region"],
    )
    kw = dict(target="yr", features=["id", "a", "year", "region"], categorical=["region"])
    ds = ParquetDataset(tmp_path / "hive", **kw)
    stream = ParquetStream(tmp_path / "hive", batch_size=32, shuffle=shuffle, seed=1, **kw)
    assert stream.feature_names == ds.feature_names
    X, y = _all(stream)
    assert X.shape == ds.features.shape
    key = lambda t: sorted(map(tuple, t.tolist()))  # noqa: E731 - the same multiset of rows
    assert key(torch.cat([X, y], 1)) == key(torch.cat([ds.features, ds.targets], 1))
    # and the partition values match the rows written
    ids = X[:, stream.feature_names.index("id")].long()
    years = X[:, stream.feature_names.index("year")].long()
    assert torch.equal(years, torch.as_tensor(df["year"].to_numpy())[ids])


# ------------------------------------------------- issue 12: fingerprints, resume, harness
def _bench():
    """benchmarks/bench_exactly_once.py (the randomised trial function), as a module."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_exactly_once.py"
    mod = sys.modules.get("bench_exactly_once")
    if mod is None:
        spec = importlib.util.spec_from_file_location("bench_exactly_once", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["bench_exactly_once"] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
    return mod


def _write_csv(path, df: pd.DataFrame) -> str:
    df.to_csv(path, index=False)
    return str(path)


def _later(path) -> None:
    """Give ``path`` a modification time one second later (a change noticed by time)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_fingerprint_has_size_time_and_parquet_footer(tmp_path):
    from tabloader.datasets._fingerprint import differences, fingerprint

    p = _write_parquet(tmp_path / "d.parquet", _frame(50), 20)
    fp = fingerprint(p, parquet=True)
    assert fp["path"] == p and fp["size"] == os.path.getsize(p)
    assert fp["mtime_ns"] == os.stat(p).st_mtime_ns
    assert (fp["num_rows"], fp["row_groups"]) == (50, 3) and len(fp["footer"]) == 32
    assert json.loads(json.dumps(fp)) == fp and fingerprint(p, parquet=True) == fp
    # other values, same rows, same size and time: only the footer (statistics) tells
    other = dict(fp, footer="0" * 32)
    assert differences(fp, other) == ["the Parquet footer (column chunks and statistics) differs"]
    c = _write_csv(tmp_path / "d.csv", _frame(5))
    assert set(fingerprint(c)) == {"path", "size", "mtime_ns"}


def test_csv_grown_between_epochs_is_refused(tmp_path):
    """Old code: epoch 1 silently read the 40 planned rows of an 80-row file."""
    from tabloader.errors import DataChangedError

    path = _write_csv(tmp_path / "a.csv", _frame(40))
    s = CsvStream(path, target="yr", features=["id"], batch_size=10)
    assert len(_ids(s, s)) == 40
    _write_csv(path, pd.concat([_frame(40), _frame(40, start=40)]))
    with pytest.raises(
        DataChangedError,
        match=r"data file .*a\.csv changed since the stream was planned \(size (\d+) -> "
        r"(\d+) bytes; modified .*\), noticed at the start of epoch 1; create the stream again",
    ):
        list(s)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_file_truncated_mid_read_raises_data_changed(tmp_path, fmt):
    """Old code: ``RuntimeError: generator raised StopIteration`` (CSV)."""
    from tabloader.errors import DataChangedError

    df = _frame(200)
    if fmt == "csv":
        path = _write_csv(tmp_path / "a.csv", df)
        s = CsvStream(path, target="yr", features=["id"], batch_size=10, block_size=500)
    else:
        path = _write_parquet(tmp_path / "a.parquet", df, 50)
        s = ParquetStream(path, target="yr", features=["id"], batch_size=10, chunk_rows=10)
    it = iter(s)
    next(it)
    if fmt == "csv":
        _write_csv(path, df.iloc[:60])
    else:
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 2)
    with pytest.raises(DataChangedError, match=r"a\.(csv|parquet) changed since the stream"):
        list(it)


def test_state_carries_files_and_refuses_other_files(tmp_path):
    """Old code: a rename that reorders the files, or a file replaced by one with the same
    rows, resumed silently over other rows."""
    from tabloader.errors import DataChangedError

    d = tmp_path / "data"
    d.mkdir()
    _write_parquet(d / "b.parquet", _frame(30), 10)
    _write_parquet(d / "c.parquet", _frame(30, 1, 30), 10)
    kw = dict(target="yr", features=["id"], batch_size=8)
    s = ParquetStream(d, **kw)
    it = iter(s)
    next(it)
    state = json.loads(json.dumps(s.state_dict()))
    assert [f["path"] for f in state["files"]] == [str(d / "b.parquet"), str(d / "c.parquet")]
    assert {"size", "mtime_ns", "num_rows", "row_groups", "footer"} <= set(state["files"][0])
    ParquetStream(d, **kw).load_state_dict(state)  # the same files: fine
    os.replace(d / "c.parquet", d / "a.parquet")  # now sorts first
    with pytest.raises(DataChangedError, match=r"file 0 is .*b\.parquet in the state and .*a\."):
        ParquetStream(d, **kw).load_state_dict(state)
    os.replace(d / "a.parquet", d / "c.parquet")
    _write_parquet(d / "c.parquet", _frame(30, 7, 30), 10)  # same rows, other values
    _later(d / "c.parquet")
    with pytest.raises(DataChangedError, match=r"c\.parquet is not the one the state was saved"):
        ParquetStream(d, **kw).load_state_dict(state)
    no_files = {k: v for k, v in state.items() if k != "files"}  # opt out: copies elsewhere
    ParquetStream(d, **kw).load_state_dict(no_files)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"batches_done": [99]}, ValueError, r"batches_done\[0\] should be at most 5 \(the "),
        ({"epoch": -3}, ValueError, r"^epoch should be a non-negative integer, but got epoch=-3"),
        ({"epoch": 1.5}, TypeError, r"^epoch should be a non-negative integer, but got"),
        ({"batches_done": [1, -1]}, ValueError, r"batches_done\[1\] should be a non-negative"),
        ({"batches_done": []}, ValueError, r"batches_done should be a non-empty list"),
        ({"batches_done": "3"}, TypeError, r"batches_done should be a non-empty list"),
        (
            {"batches_done": [4, 0, 0]},
            ValueError,
            r"at most 2 \(the batches of worker 0 of num_workers=3",
        ),
        ({"version": 99}, ValueError, r"version should be at most 2"),
        ({"batch_size": 20}, ValueError, r"same batch_size, but it has batch_size=20"),
        ({"files": "x"}, TypeError, r"state\['files'\] should be a list of file fingerprints"),
    ],
)
def test_load_state_dict_validates_its_input(tmp_path, change, error, match):
    """Old code accepted batches_done=[99] (an empty epoch) and epoch=-3."""
    path = _write_parquet(tmp_path / "d.parquet", _frame(50), 10)
    s = ParquetStream(path, target="yr", features=["id"], batch_size=10)
    state = {**s.state_dict(), **change}
    with pytest.raises(error, match=match):
        s.load_state_dict(state)
    with pytest.raises(ValueError, match=r"state should be a stream state_dict"):
        s.load_state_dict({"epoch": 0})


def test_state_on_the_last_batch_resumes_the_next_epoch(tmp_path):
    """In-process ``state_dict()`` and ``position()`` taken on an epoch's last batch."""
    path = _write_parquet(tmp_path / "d.parquet", _frame(95), 20)
    kw = dict(target="yr", features=["id"], batch_size=10, shuffle=True, seed=3)
    ref = ParquetStream(path, **kw)
    ref.set_epoch(3)
    epoch3 = _ids(list(ref), ref)
    s = ParquetStream(path, **kw)
    s.set_epoch(2)
    for _ in s:  # the state taken while the last batch is in use
        state = s.state_dict()
    assert (state["epoch"], state["batches_done"]) == (3, [0])
    assert s.position(2, len(s), 0)["epoch"] == 3
    for saved in (state, {**state, "epoch": 2, "batches_done": [len(s)]}):  # both forms
        resumed = ParquetStream(path, **kw)
        resumed.load_state_dict(saved)
        assert _ids(list(resumed), resumed) == epoch3  # the next epoch, in full


def test_feature_stats_does_not_move_the_position(tmp_path):
    path = _write_parquet(tmp_path / "d.parquet", _frame(120), 25)
    kw = dict(target="yr", features=["id", "a"], batch_size=10, shuffle=True, seed=1)
    s = ParquetStream(path, **kw)
    it = iter(s)
    head = [next(it) for _ in range(4)]
    state = s.state_dict()
    resumed = ParquetStream(path, **kw)
    resumed.load_state_dict(state)
    resumed.feature_stats()  # one pass over every row
    assert resumed.state_dict() == state
    rest = list(resumed)
    assert sorted(_ids(head + rest, s)) == list(range(120))


class _Spy(ParquetStream):
    """A ParquetStream that records the ids of every iteration it yields."""

    def _iterate(self, *args):
        batches = list(super()._iterate(*args))
        self.read.append(_ids(batches, self))
        return iter(batches)


def test_trainer_fit_after_a_last_batch_state_reads_the_next_epoch(tmp_path):
    from tabloader.trainers import LinearRegressor

    path = _write_parquet(tmp_path / "d.parquet", _frame(120), 25)
    kw = dict(target="yr", features=["id", "a"], batch_size=10, shuffle=True, seed=1)
    ref = ParquetStream(path, **kw)
    ref.set_epoch(1)
    epoch1 = _ids(list(ref), ref)
    s = ParquetStream(path, **kw)
    for _ in s:
        state = s.state_dict()  # on epoch 0's last batch
    resumed = _Spy(path, **kw)
    resumed.read = []
    resumed.load_state_dict(state)
    LinearRegressor(max_epochs=1, tol=None).fit(resumed)  # no empty first iteration
    assert resumed.read[0] == epoch1


def test_trainer_resume_trains_on_exactly_the_remaining_rows(tmp_path):
    from tabloader.trainers import LinearRegressor

    path = _write_parquet(tmp_path / "d.parquet", _frame(120), 25)
    kw = dict(target="yr", features=["id", "a"], batch_size=10, shuffle=True, seed=1)
    s = ParquetStream(path, **kw)
    it = iter(s)
    for _ in range(4):
        next(it)
    rest = _ids(list(it), s)
    resumed = _Spy(path, **kw)
    resumed.read = []
    resumed.load_state_dict(s.position(0, 4, 0))
    est = LinearRegressor(max_epochs=1, tol=None).fit(resumed)
    assert resumed.read[-1] == rest  # the one training epoch: exactly the rows not yet read
    # the statistics: their own pass over the whole epoch, not the part left of it
    assert len(resumed.read) == 2 and sorted(resumed.read[0]) == list(range(120))
    np.testing.assert_allclose(est.mean_, resumed.feature_stats().mean.numpy(), rtol=1e-12)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_user_stream_state_is_the_loader_position(tmp_path, num_workers):
    """Old code: make_loader(stream, shuffle=...) read a copy and the user's stream kept
    saying batches_done=[0], so resuming replayed the consumed batches; and with workers
    the resumed DataLoader asked worker 0 first, whatever worker was next (another order)."""
    from tabloader.loaders import make_loader

    path = _write_parquet(tmp_path / "d.parquet", _frame(230), 30)
    kw = dict(target="yr", features=["id"], batch_size=10)
    opts = dict(shuffle=True, seed=5, rank=1, world_size=2, num_workers=num_workers)
    stream = ParquetStream(path, **kw)  # its own settings: no shuffle, one rank
    loader = make_loader(stream, **opts)
    full = _ids(list(loader), stream)
    stream.set_epoch(0)
    loader = make_loader(stream, **opts)
    it = iter(loader)
    head = _ids([next(it) for _ in range(5)], stream)
    state = stream.state_dict()
    assert state == loader.state_dict()
    assert (state["shuffle"], state["seed"], state["rank"], state["world_size"]) == (
        True,
        5,
        1,
        2,
    )
    assert state["batches_done"] == ([3, 2] if num_workers else [5])  # worker 1 is next
    del it
    resumed = ParquetStream(path, **kw)
    resumed.load_state_dict(json.loads(json.dumps(state)))
    with pytest.raises(ValueError, match=r"same shuffle, .* call make_loader, with the shuffle="):
        list(resumed)  # read without the options it was saved with
    rest = _ids(list(make_loader(resumed, **opts)), stream)
    assert head + rest == full  # the same batches, in the same order
    if num_workers:
        return
    # loader.load_state_dict does the same
    again = make_loader(ParquetStream(path, **kw), **opts)
    again.load_state_dict(state)
    assert _ids(list(again), stream) == rest


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.integers(1, 80),
    row_group=st.integers(1, 30),
    batch_size=st.integers(1, 20),
    world_size=st.integers(1, 3),
    num_workers=st.integers(0, 2),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
)
def test_len_of_stream_loader_is_the_batches_yielded(
    monkeypatch, tmp_path, rows, row_group, batch_size, world_size, num_workers, drop_last, shuffle
):
    from tabloader.loaders import make_loader

    path = str(tmp_path / f"p{rows}_{row_group}.parquet")
    if not os.path.exists(path):
        _write_parquet(path, _frame(rows), row_group)
    stream = ParquetStream(path, target="yr", features=["id"], batch_size=batch_size)
    for rank in range(world_size):
        opts = dict(shuffle=shuffle, seed=1, drop_last=drop_last, rank=rank)
        try:
            loader = make_loader(stream, world_size=world_size, num_workers=num_workers, **opts)
            n = len(loader)
        except ValueError as exc:  # fewer rows than batches on a rank: said up front
            assert "every rank should yield the same number of batches" in str(exc)
            return
        got = 0
        for w in range(max(num_workers, 1)):  # what each worker yields (in-process)
            _as_worker(monkeypatch, w, num_workers)
            loader.dataset.set_epoch(0)
            got += sum(1 for _ in loader.dataset)
        _as_worker(monkeypatch, 0, 0)
        assert n == got
        if num_workers == 0:
            assert n == len(list(loader))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_exactly_once_resume_harness(data):
    """The randomised trial of benchmarks/bench_exactly_once.py (500 seeded trials there):
    resume x workers (0-2) x ranks (1-3) x CSV/Parquet layouts x changed files, each trial
    under a watchdog."""
    bench = _bench()
    fmt = data.draw(st.sampled_from(["csv", "parquet"]))
    unit = data.draw(st.integers(1, 25) if fmt == "parquet" else st.integers(20, 400))
    t = bench.Trial(
        fmt=fmt,
        file_rows=tuple(data.draw(st.lists(st.integers(1, 40), min_size=1, max_size=4))),
        unit=unit,
        batch_size=data.draw(st.integers(1, 16)),
        world_size=data.draw(st.integers(1, 3)),
        num_workers=data.draw(st.sampled_from([0, 0, 0, 1, 2])),
        shuffle=data.draw(st.booleans()),
        shuffle_buffer=data.draw(st.integers(1, 50)),
        drop_last=data.draw(st.booleans()),
        epoch=data.draw(st.integers(0, 2)),
        stop_at=data.draw(st.sampled_from([0.0, 0.3, 0.5, 0.77, 1.0])),
        via=data.draw(st.sampled_from(["stream", "loader"])),
        options=data.draw(st.booleans()),
        change=data.draw(st.sampled_from(["none", "grow", "replace", "rename"])),
    )
    if sum(t.file_rows) < t.world_size:
        t = bench.replace(t, file_rows=(*t.file_rows[:-1], t.file_rows[-1] + t.world_size))
    outcome, detail = bench.watched(bench.fix(t), timeout=60)
    assert outcome == "passed", f"{t}: {outcome}\n{detail}"


def test_csv_quoted_line_break_across_a_byte_range_is_named(tmp_path):
    """Old code: 'ragged row ...: line 32 has 2 fields', about a quoted line break."""
    rows = ["a,b,y"] + [f'{i},"x{i}\nmore",{i}' if i == 30 else f"{i},x{i},{i}" for i in range(60)]
    path = tmp_path / "q.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(
        ParseError,
        match=r"q\.csv has a quoted field with a line break \(a newline inside quotes\) that "
        r"crosses an end of the byte range \d+-\d+: CsvStream splits .* block_size=138 .* "
        r"write the file without line breaks inside quoted fields, or read it with CsvDataset",
    ):
        CsvStream(path, target="y", features=["a"], batch_size=8, block_size=138)
    ok = CsvStream(path, target="y", features=["a"], batch_size=8, block_size=1 << 20)
    assert ok.n_rows == 60  # inside one byte range it is read


def _odd_parquet(path, n=1_003):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.standard_normal((n, 3)).astype("float32"), columns=["a", "b", "c"])
    frame["y"] = np.arange(n, dtype="float32")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=97)
    return frame


@pytest.mark.parametrize("shuffle", [False, True])
def test_reader_thread_ends_when_an_iteration_is_left_early(tmp_path, shuffle):
    import gc
    import threading
    import time

    _odd_parquet(tmp_path / "a.parquet")
    stream = ParquetStream(
        tmp_path / "a.parquet", target="y", batch_size=7, chunk_rows=13, shuffle=shuffle, seed=0
    )
    for _ in range(5):
        it = iter(stream)
        next(it)
        del it
    gc.collect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("tabloader")]
        if not alive:
            break
        time.sleep(0.05)
    assert alive == []


@pytest.mark.parametrize("batch_size", [1, 6, 13, 50, 2_000])
@pytest.mark.parametrize("chunk_rows", [5, 13, 97])
def test_batches_across_odd_chunk_boundaries_are_the_rows_in_order(
    tmp_path, batch_size, chunk_rows
):
    # oracle: pyarrow's read of the file; batches that span chunks and row groups are copied
    frame = _odd_parquet(tmp_path / "a.parquet")
    stream = ParquetStream(
        tmp_path / "a.parquet", target="y", batch_size=batch_size, chunk_rows=chunk_rows
    )
    batches = list(stream)
    assert [len(b[0]) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    X = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    np.testing.assert_array_equal(X.numpy(), frame[["a", "b", "c"]].to_numpy())
    np.testing.assert_array_equal(y.numpy()[:, 0], frame["y"].to_numpy())


def test_feature_stats_during_a_paused_iteration(tmp_path):
    frame = _odd_parquet(tmp_path / "a.parquet")
    stream = ParquetStream(tmp_path / "a.parquet", target="y", batch_size=10, chunk_rows=13)
    it = iter(stream)
    first = next(it)
    stats = stream.feature_stats()  # reads the file while the iteration holds its reader
    np.testing.assert_allclose(stats.mean, frame[["a", "b", "c"]].to_numpy("float64").mean(0))
    rest = torch.cat([first[1], *[b[1] for b in it]])
    np.testing.assert_array_equal(rest.numpy()[:, 0], frame["y"].to_numpy())
