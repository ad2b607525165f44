"""Tests of tabloader.loaders: epoch orders, coverage, workers, sharding, fast path."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    TensorDataset,
)

from tabloader.datasets import TabularDataset
from tabloader.loaders import TabularLoader, iter_batches, make_loader, supports_batch_indexing


def _dataset(n: int = 23, f: int = 3, task: str = "regression") -> TabularDataset:
    """Row i has features (i, i + 0.5, ...) and target i, so every batch names its rows."""
    X = torch.arange(n, dtype=torch.float32)[:, None] + 0.5 * torch.arange(f)[None, :]
    if task == "multiclass":
        return TabularDataset(X, torch.arange(n) % 3, task=task, classes=[0, 1, 2])
    if task == "features":
        return TabularDataset(X)
    return TabularDataset(X, torch.arange(n, dtype=torch.float32), task=task)


def _rows(batch) -> list[int]:
    """Row ids of a batch of ``_dataset``: column 0 of the features."""
    X = batch[0] if isinstance(batch, (tuple, list)) else batch
    return X[:, 0].to(torch.int64).tolist()


def _flat(batches) -> list:
    return list(itertools.chain.from_iterable(batches))


def _epoch(loader) -> list[list[int]]:
    return [_rows(b) for b in loader]


class _CountingDataset(TabularDataset):
    """Counts calls by kind of index: per-row (int) or whole-batch (tensor)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.row_calls = 0
        self.batch_calls = 0

    def __getitem__(self, idx):
        if isinstance(idx, torch.Tensor) and idx.ndim == 1:
            self.batch_calls += 1
        else:
            self.row_calls += 1
        return super().__getitem__(idx)


class _PlainDataset(Dataset):
    """A plain per-row torch Dataset over the same rows as ``_dataset``."""

    def __init__(self, base: TabularDataset):
        self.base = base
        self.calls = 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.calls += 1
        if not isinstance(i, int):
            raise TypeError(f"per-row dataset got {type(i).__name__}")
        return self.base.features[i], self.base.targets[i]


class _DeclaredDataset(Dataset):
    """A custom map-style dataset that declares batch indexing."""

    supports_batch_indexing = True

    def __init__(self, X, y):
        self.X, self.y = X, y
        self.calls: list[int] = []

    def __len__(self):
        return len(self.X)

    def __getitem__(self, idx):
        self.calls.append(int(idx.numel()))
        return {"x": self.X[idx], "y": self.y[idx]}


class _RandomPerBatch(Dataset):
    """Returns, per batch, a draw from torch's global RNG and the worker id."""

    supports_batch_indexing = True

    def __len__(self):
        return 64

    def __getitem__(self, idx):
        info = torch.utils.data.get_worker_info()
        wid = -1 if info is None else info.id
        return torch.randint(0, 2**62, (1,)), torch.tensor([wid]), torch.tensor([random.random()])


class _Stream(IterableDataset):
    def __init__(self, n):
        self.n = n
        self.epochs: list[int] = []

    def set_epoch(self, e):
        self.epochs.append(e)

    def __iter__(self):
        for i in range(self.n):
            yield torch.tensor([float(i)]), torch.tensor(float(i))


# ---------------------------------------------------------------------- epochs and seeds
def test_returns_a_dataloader_reporting_the_arguments():
    loader = make_loader(_dataset(), batch_size=5, shuffle=True, drop_last=True, seed=1)
    assert isinstance(loader, DataLoader)
    assert isinstance(loader, TabularLoader)
    assert (loader.batch_size, loader.drop_last) == (5, True)
    assert loader.uses_batch_indexing


def test_epoch_orders_differ_and_repeat_under_the_same_seed():
    a = make_loader(_dataset(50), batch_size=8, shuffle=True, seed=7)
    b = make_loader(_dataset(50), batch_size=8, shuffle=True, seed=7)
    c = make_loader(_dataset(50), batch_size=8, shuffle=True, seed=8)
    epochs_a = [_epoch(a) for _ in range(4)]
    epochs_b = [_epoch(b) for _ in range(4)]
    assert epochs_a == epochs_b
    flat = [_flat(e) for e in epochs_a]
    assert len({tuple(e) for e in flat}) == 4  # a new order every epoch
    assert all(sorted(e) == list(range(50)) for e in flat)
    assert flat[0] != list(range(50))
    assert _flat(_epoch(c)) != flat[0]
    assert [a.epoch, b.epoch] == [3, 3]


def test_epoch_k_does_not_repeat_a_neighbouring_seed():
    # seed + epoch mixing would make (seed=0, epoch=1) equal (seed=1, epoch=0)
    a = make_loader(_dataset(40), batch_size=40, shuffle=True, seed=0)
    b = make_loader(_dataset(40), batch_size=40, shuffle=True, seed=1)
    a.set_epoch(1)
    assert _epoch(a) != _epoch(b)


def test_same_seed_gives_the_same_orders_in_another_process():
    code = (
        "import torch\n"
        "from tabloader.datasets import TabularDataset\n"
        "from tabloader.loaders import make_loader\n"
        "ds = TabularDataset(torch.arange(30.)[:, None], torch.zeros(30), task='regression')\n"
        "l = make_loader(ds, batch_size=30, shuffle=True, seed=123)\n"
        "print([[int(v) for v in X[:, 0]] for _ in range(2) for X, y in l])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    here = make_loader(_dataset(30), batch_size=30, shuffle=True, seed=123)
    assert out.strip() == str([_rows(b) for _ in range(2) for b in here])


def test_set_epoch_replays_an_epoch_and_continues_from_it():
    loader = make_loader(_dataset(31), batch_size=4, shuffle=True, seed=3)
    epochs = [_epoch(loader) for _ in range(5)]
    loader.set_epoch(2)
    assert _epoch(loader) == epochs[2]
    assert loader.epoch == 2
    assert _epoch(loader) == epochs[3]  # the counter continues from the resumed epoch
    resumed = make_loader(_dataset(31), batch_size=4, shuffle=True, seed=3)
    resumed.set_epoch(4)
    assert _epoch(resumed) == epochs[4]


def test_seed_none_draws_once_from_torch_default_generator():
    torch.manual_seed(0)
    a = make_loader(_dataset(40), batch_size=40, shuffle=True)
    torch.manual_seed(0)
    b = make_loader(_dataset(40), batch_size=40, shuffle=True)
    assert a.seed == b.seed
    assert _epoch(a) == _epoch(b)
    c = make_loader(_dataset(40), batch_size=40, shuffle=True)
    assert c.seed != a.seed


@pytest.mark.parametrize("num_workers", [0, 2])
def test_global_rng_state_is_never_touched(num_workers):
    loader = make_loader(_dataset(40), batch_size=8, shuffle=True, seed=5, num_workers=num_workers)
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002
    py_state = random.getstate()
    for _ in range(2):
        _epoch(loader)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    assert random.getstate() == py_state


def test_a_refused_loader_does_not_draw_a_seed():
    state = torch.get_rng_state()
    for bad in ({"batch_size": 0}, {"batch_size": 2, "remainder": "wrap"}):
        with pytest.raises(ValueError):
            make_loader(_dataset(), shuffle=True, **bad)
    assert torch.equal(torch.get_rng_state(), state)


def test_shuffle_false_reads_rows_in_order():
    loader = make_loader(_dataset(10), batch_size=4)
    assert _epoch(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert _epoch(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


# ---------------------------------------------------------------------- coverage
@pytest.mark.parametrize("n", [1, 7, 16, 23])
@pytest.mark.parametrize("batch_size", [1, 4, 8, 30])
@pytest.mark.parametrize("drop_last", [False, True])
def test_coverage_and_len(n, batch_size, drop_last):
    loader = make_loader(
        _dataset(n), batch_size=batch_size, shuffle=True, drop_last=drop_last, seed=0
    )
    for _ in range(2):
        batches = _epoch(loader)
        rows = _flat(batches)
        assert len(batches) == len(loader)
        if drop_last:
            assert len(loader) == n // batch_size
            assert all(len(b) == batch_size for b in batches)
            assert len(set(rows)) == len(rows) == (n // batch_size) * batch_size
            assert set(rows) <= set(range(n))
        else:
            assert len(loader) == -(-n // batch_size)
            assert sorted(rows) == list(range(n))


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass", "features"])
def test_batches_match_indexing_the_dataset(task):
    ds = _dataset(19, task=task)
    loader = make_loader(ds, batch_size=6, shuffle=True, seed=2)
    for batch in loader:
        idx = torch.tensor(_rows(batch))
        expected = ds[idx]
        if task == "features":
            assert isinstance(batch, torch.Tensor)
            assert torch.equal(batch, expected)
        else:
            assert isinstance(batch, tuple)
            for got, want in zip(batch, expected, strict=True):
                assert got.dtype == want.dtype
                assert torch.equal(got, want)


def test_empty_dataset_yields_nothing():
    loader = make_loader(_dataset(0), batch_size=4, shuffle=True, seed=0)
    assert len(loader) == 0
    assert list(loader) == []


# ---------------------------------------------------------------------- fast path
def test_fast_path_makes_one_call_per_batch_and_no_per_row_call():
    ds = _CountingDataset(torch.randn(50, 4), torch.randn(50), task="regression")
    loader = make_loader(ds, batch_size=8, shuffle=True, seed=0)
    batches = list(loader)
    assert ds.row_calls == 0
    assert ds.batch_calls == len(batches) == len(loader) == 7
    X, y = batches[0]
    assert X.shape == (8, 4) and y.shape == (8, 1)


def test_declared_dataset_gets_whole_batches():
    X, y = torch.randn(20, 2), torch.randn(20)
    ds = _DeclaredDataset(X, y)
    assert supports_batch_indexing(ds)
    loader = make_loader(ds, batch_size=6, shuffle=True, seed=0)
    batches = list(loader)
    assert ds.calls == [6, 6, 6, 2]
    got = torch.cat([b["x"] for b in batches])
    assert torch.equal(got.sort(dim=0).values, X.sort(dim=0).values)


def test_tensor_dataset_takes_the_fast_path_and_matches_indexing():
    X, y = torch.randn(21, 3), torch.randint(0, 5, (21,))
    loader = make_loader(TensorDataset(X, y), batch_size=5, shuffle=True, seed=4)
    assert loader.uses_batch_indexing
    seen = []
    for xb, yb in loader:
        # recover row ids by matching rows of X: a hand-written oracle
        idx = torch.cdist(xb, X).argmin(dim=1)
        assert torch.equal(xb, X[idx]) and torch.equal(yb, y[idx])
        seen += idx.tolist()
    assert sorted(seen) == list(range(21))


def test_plain_torch_dataset_uses_the_per_row_path_with_the_same_batches():
    base = _dataset(23)
    plain = _PlainDataset(base)
    assert not supports_batch_indexing(plain)
    slow = make_loader(plain, batch_size=5, shuffle=True, seed=9)
    fast = make_loader(base, batch_size=5, shuffle=True, seed=9)
    assert not slow.uses_batch_indexing
    assert len(slow) == len(fast) == 5
    for _ in range(2):
        s_batches, f_batches = list(slow), list(fast)
        for (xs, ys), (xf, yf) in zip(s_batches, f_batches, strict=True):
            assert torch.equal(xs, xf)
            assert torch.equal(ys, yf)
    assert plain.calls == 2 * 23


def test_collate_fn_is_applied_once_per_batch_on_the_fast_path():
    calls = []

    def collate(batch):
        calls.append(batch[0].shape[0])
        return batch[0] * 2

    ds = _dataset(10)
    loader = make_loader(ds, batch_size=4, collate_fn=collate)
    out = list(loader)
    assert calls == [4, 4, 2]
    assert torch.equal(torch.cat(out), ds.features * 2)


class _GetItems(Dataset):
    """A per-row dataset with torch's ``__getitems__``: it gets each batch's indices at once."""

    def __init__(self, base: TabularDataset):
        self.base = base
        self.calls: list[list[int]] = []

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        raise AssertionError("__getitems__ should be used")

    def __getitems__(self, indices):
        self.calls.append(list(indices))
        return [(self.base.features[i], self.base.targets[i]) for i in indices]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_per_row_path_uses_torch_getitems_protocol(num_workers):
    base = _dataset(23)
    ds = _GetItems(base)
    loader = make_loader(ds, batch_size=5, shuffle=True, seed=9, num_workers=num_workers)
    fast = make_loader(base, batch_size=5, shuffle=True, seed=9)
    assert not loader.uses_batch_indexing
    assert _epoch(loader) == _epoch(fast)
    if num_workers == 0:
        assert [len(c) for c in ds.calls] == [5, 5, 5, 5, 3]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 5, "drop_last": True},  # whole batches
        {"batch_size": 5, "drop_last": True, "num_workers": 1},
        {"batch_size": 4, "drop_last": False},
    ],
)
@pytest.mark.parametrize("kind", ["tabular", "plain"])
def test_loader_reports_the_arguments_and_its_length_on_every_path(kwargs, kind):
    base = _dataset(23)
    ds = base if kind == "tabular" else _PlainDataset(base)
    loader = make_loader(ds, shuffle=True, seed=0, **kwargs)
    assert loader.dataset is ds
    assert (loader.batch_size, loader.drop_last) == (kwargs["batch_size"], kwargs["drop_last"])
    assert len(loader) == len(list(loader))
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        loader.batch_size = 3  # still a DataLoader: its attributes are fixed after __init__


def test_iterable_dataset_is_passed_through():
    stream = _Stream(10)
    loader = make_loader(stream, batch_size=4)
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(10.0))
    loader.set_epoch(3)
    list(loader)
    assert stream.epochs == [0, 3]
    dropped = make_loader(_Stream(10), batch_size=4, drop_last=True)
    assert [len(y) for _, y in dropped] == [4, 4]


# ---------------------------------------------------------------------- device, pinning
def test_device_cpu_gives_the_same_batches_without_modifying_the_dataset():
    ds = _dataset(17)
    features = ds.features
    on_device = make_loader(ds, batch_size=4, shuffle=True, seed=1, device="cpu")
    host = make_loader(ds, batch_size=4, shuffle=True, seed=1)
    assert on_device.pin_memory is False
    assert _epoch(on_device) == _epoch(host)
    assert ds.features is features


def test_pin_memory_auto_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert make_loader(_dataset(), batch_size=4).pin_memory is False
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert make_loader(_dataset(), batch_size=4).pin_memory is True  # not iterated
    assert make_loader(_dataset(), batch_size=4, pin_memory=False).pin_memory is False


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_pin_memory_true_without_cuda_warns_and_does_not_pin():
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loader = make_loader(_dataset(), batch_size=4, pin_memory=True)
    assert loader.pin_memory is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(loader)) == 6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_pinned_and_on_device_batches():
    ds = _dataset(50)
    pinned = make_loader(ds, batch_size=8, shuffle=True, seed=0, pin_memory=True)
    on_gpu = make_loader(ds, batch_size=8, shuffle=True, seed=0, device="cuda")
    for (xp, yp), (xg, yg) in zip(pinned, on_gpu, strict=True):
        assert xp.is_pinned() and yp.is_pinned()
        assert xg.is_cuda and yg.is_cuda
        assert torch.equal(xp.to("cuda", non_blocking=True), xg)
        assert torch.equal(yp.to("cuda", non_blocking=True), yg)


# ---------------------------------------------------------------------- workers
@pytest.mark.parametrize("dataset_kind", ["tabular", "plain"])
def test_workers_give_the_same_batches_as_no_workers(dataset_kind):
    base = _dataset(37)
    ds = base if dataset_kind == "tabular" else _PlainDataset(base)
    ref = make_loader(ds, batch_size=5, shuffle=True, seed=11)
    par = make_loader(
        ds,
        batch_size=5,
        shuffle=True,
        seed=11,
        num_workers=2,
        persistent_workers=True,
        prefetch_factor=3,
    )
    assert par.prefetch_factor == 3 and par.persistent_workers
    for _ in range(2):  # persistent workers start the next epoch too
        assert _epoch(par) == _epoch(ref)
    par.set_epoch(0)
    ref.set_epoch(0)
    assert _epoch(par) == _epoch(ref)


def test_workers_never_fork_by_default_and_an_explicit_choice_wins():
    import multiprocessing

    # fork() in a process that runs threads can deadlock (CPython gh-112275)
    loader = make_loader(_dataset(), batch_size=4, num_workers=2)
    assert loader.multiprocessing_context.get_start_method() in ("forkserver", "spawn")
    assert make_loader(_dataset(), batch_size=4).multiprocessing_context is None
    if "fork" in multiprocessing.get_all_start_methods():
        chosen = make_loader(
            _dataset(), batch_size=4, num_workers=1, multiprocessing_context="fork"
        )
        assert chosen.multiprocessing_context.get_start_method() == "fork"
        assert _epoch(chosen) == _epoch(make_loader(_dataset(), batch_size=4))
    ctx = multiprocessing.get_context("spawn")
    given = make_loader(_dataset(), batch_size=4, num_workers=1, multiprocessing_context=ctx)
    assert given.multiprocessing_context is ctx


class _Stuck(TabularDataset):
    """A dataset whose workers never deliver a batch (as a worker stuck in fork())."""

    def __getitem__(self, idx):
        import time

        time.sleep(3)  # far longer than the timeout
        return super().__getitem__(idx)


def test_a_stuck_worker_times_out_instead_of_hanging():
    base = _dataset(8)
    stuck = _Stuck(base.features, base.targets, task="regression")
    loader = make_loader(stuck, batch_size=4, num_workers=1, timeout=0.5)
    assert loader.timeout == 0.5
    with pytest.raises(RuntimeError, match="timed out"):
        next(iter(loader))


def test_datasets_and_streams_pickle_for_spawned_workers(tmp_path):
    import pickle

    import pandas as pd

    from tabloader.datasets import CsvStream, ParquetStream

    df = pd.DataFrame({"a": np.arange(41.0), "b": np.arange(41.0) * 2, "y": np.arange(41.0)})
    df.to_csv(tmp_path / "s.csv", index=False)
    df.to_parquet(tmp_path / "s.parquet", row_group_size=8)
    sources = [
        _dataset(41),
        CsvStream(tmp_path / "s.csv", target="y", batch_size=6),
        ParquetStream(tmp_path / "s.parquet", target="y", batch_size=6),
    ]
    for data in sources:
        opts = {"shuffle": True, "seed": 5}
        if isinstance(data, TabularDataset):
            opts["batch_size"] = 6
        ref = [_rows(b) for b in make_loader(data, **opts)]
        assert [_rows(b) for b in make_loader(pickle.loads(pickle.dumps(data)), **opts)] == ref
        if not isinstance(data, TabularDataset):
            # a stream shares its epoch out among the workers: their order is its own,
            # the same whatever the start method (fork copies, spawn pickles the stream)
            forked = make_loader(data, num_workers=2, multiprocessing_context="fork", **opts)
            ref = [_rows(b) for b in forked]
        spawned = make_loader(data, num_workers=2, multiprocessing_context="spawn", **opts)
        assert [_rows(b) for b in spawned] == ref


def test_workers_are_seeded_differently_and_reproducibly():
    def draws(seed):
        loader = make_loader(_RandomPerBatch(), batch_size=4, seed=seed, num_workers=2)
        out = []
        for _ in range(2):
            out.append([(int(r), int(w), float(p)) for r, w, p in loader])
        return out

    first = draws(0)
    assert first == draws(0)
    assert first != draws(1)
    for epoch in first:
        assert {w for _, w, _ in epoch} == {0, 1}
        assert len({r for r, _, _ in epoch}) == len(epoch)  # no two draws repeat
        assert len({p for _, _, p in epoch}) == len(epoch)
    assert {r for r, _, _ in first[0]}.isdisjoint({r for r, _, _ in first[1]})


# ---------------------------------------------------------------------- sharding
@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("n", [29, 30, 31])
@pytest.mark.parametrize("drop_last", [False, True])
def test_uneven_shards_are_disjoint_and_complete(world_size, n, drop_last):
    loaders = [
        make_loader(
            _dataset(n),
            batch_size=4,
            shuffle=True,
            seed=6,
            rank=r,
            world_size=world_size,
            remainder="uneven",
            drop_last=drop_last,
        )
        for r in range(world_size)
    ]
    for _ in range(2):
        shards = [_flat(_epoch(lo)) for lo in loaders]
        union = _flat(shards)
        assert len(union) == len(set(union))  # disjoint: no row counted twice
        if not drop_last:
            assert sorted(union) == list(range(n))
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= (4 if drop_last else 1)
    counts = [len(lo) for lo in loaders]
    assert max(counts) - min(counts) <= 1


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("n", [29, 30, 31])
def test_pad_and_drop_give_every_rank_the_same_number_of_batches(world_size, n):
    for remainder in ("pad", "drop"):
        loaders = [
            make_loader(
                _dataset(n),
                batch_size=4,
                shuffle=True,
                seed=6,
                rank=r,
                world_size=world_size,
                remainder=remainder,
            )
            for r in range(world_size)
        ]
        assert len({len(lo) for lo in loaders}) == 1
        shards = [_flat(_epoch(lo)) for lo in loaders]
        assert len({len(s) for s in shards}) == 1
        union = _flat(shards)
        if remainder == "pad":
            assert len(union) == -(-n // world_size) * world_size
            assert set(union) == set(range(n))  # complete; repeats only to pad
            assert len(union) - len(set(union)) == len(union) - n
        else:
            assert len(union) == len(set(union)) == n - n % world_size


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("remainder", ["pad", "drop"])
def test_unshuffled_shards_match_distributed_sampler(world_size, remainder):
    ds = _dataset(31)
    for r in range(world_size):
        ours = _flat(
            _epoch(
                make_loader(ds, batch_size=31, rank=r, world_size=world_size, remainder=remainder)
            )
        )
        sampler = DistributedSampler(
            ds, num_replicas=world_size, rank=r, shuffle=False, drop_last=remainder == "drop"
        )
        assert ours == list(sampler)


def test_shards_of_one_epoch_come_from_one_permutation():
    whole = _flat(_epoch(make_loader(_dataset(30), batch_size=30, shuffle=True, seed=2)))
    for r in range(3):
        shard = _epoch(
            make_loader(_dataset(30), batch_size=30, shuffle=True, seed=2, rank=r, world_size=3)
        )
        assert shard == [whole[r::3]]


def test_rank_and_world_size_come_from_initialised_torch_distributed(monkeypatch):
    dist = torch.distributed
    monkeypatch.setattr(dist, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda *a, **k: 3)
    shards = []
    for r in range(3):
        monkeypatch.setattr(dist, "get_rank", lambda *a, r=r, **k: r)
        loader = make_loader(_dataset(31), batch_size=31, shuffle=True, seed=2, remainder="uneven")
        explicit = make_loader(
            _dataset(31),
            batch_size=31,
            shuffle=True,
            seed=2,
            rank=r,
            world_size=3,
            remainder="uneven",
        )
        shards.append(_flat(_epoch(loader)))
        assert shards[-1] == _flat(_epoch(explicit))
    assert sorted(_flat(shards)) == list(range(31))


# ---------------------------------------------------------------------- ordered reads
def test_iter_batches_reads_in_order():
    ds = _dataset(10)
    batches = list(iter_batches(ds, 4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([x for x, _ in batches]), ds.features)
    assert torch.equal(torch.cat(list(iter_batches(ds.features, 3))), ds.features)
    pairs = list(iter_batches((ds.features, ds.targets), 6))
    assert torch.equal(torch.cat([y for _, y in pairs]), ds.targets)


# ---------------------------------------------------------------------- errors
# one policy (tabloader._checks): TypeError for a wrong type, ValueError for a bad value
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"batch_size": 0},
            ValueError,
            "^batch_size should be a positive integer, but got batch_size=0$",
        ),
        (
            {"batch_size": 2.5},
            TypeError,
            "^batch_size should be a positive integer, but got batch_size=2.5$",
        ),
        ({"batch_size": True}, TypeError, "batch_size should be a positive integer"),
        ({"batch_size": None}, TypeError, "batch_size should be a positive integer"),
        (
            {"batch_size": 2, "shuffle": 1},
            TypeError,
            r"^shuffle should be a bool \(True or False\), but got shuffle=1$",
        ),
        ({"batch_size": 2, "drop_last": "no"}, TypeError, "drop_last should be a bool"),
        ({"batch_size": 2, "num_workers": -1}, ValueError, "num_workers should be a non-negative"),
        ({"batch_size": 2, "num_workers": 1.0}, TypeError, "num_workers should be a non-negative"),
        (
            {"batch_size": 2, "pin_memory": "yes"},
            ValueError,
            "pin_memory should be 'auto', True or False, but got pin_memory='yes'",
        ),
        ({"batch_size": 2, "pin_memory": 1}, TypeError, "pin_memory should be 'auto', True or"),
        (
            {"batch_size": 2, "seed": 1.5},
            TypeError,
            r"^seed should be an integer or None, but got seed=1\.5$",
        ),
        (
            {"batch_size": 2, "remainder": "wrap"},
            ValueError,
            r"^remainder should be one of \['pad', 'drop', 'uneven'\], but got remainder='wrap'$",
        ),
        ({"batch_size": 2, "remainder": 1}, TypeError, r"remainder should be one of \['pad'"),
        (
            {"batch_size": 2, "rank": 2, "world_size": 2},
            ValueError,
            r"^rank should be an integer in \[0, 1\], but got rank=2$",
        ),
        ({"batch_size": 2, "rank": "0", "world_size": 2}, TypeError, "rank should be an integer"),
        ({"batch_size": 2, "rank": 0}, ValueError, "rank and world_size should be given together"),
        (
            {"batch_size": 2, "rank": 0, "world_size": 0},
            ValueError,
            "world_size should be a positive",
        ),
        (
            {"batch_size": 2, "prefetch_factor": 2},
            ValueError,
            "^prefetch_factor should be None when num_workers=0, but got prefetch_factor=2$",
        ),
        (
            {"batch_size": 2, "persistent_workers": True},
            ValueError,
            "^persistent_workers should be False when num_workers=0, but got "
            "persistent_workers=True$",
        ),
        (
            {"batch_size": 2, "device": "cpu", "num_workers": 1},
            ValueError,
            "num_workers should be 0 when",
        ),
        (
            {"batch_size": 2, "device": "cpu", "pin_memory": True},
            ValueError,
            "pin_memory should be False",
        ),
        ({"batch_size": 2, "device": "nodevice"}, ValueError, "device should be a torch device"),
        ({"batch_size": 2, "device": 1.5}, TypeError, "device should be a torch device"),
        ({"batch_size": 2, "collate_fn": 3}, TypeError, "collate_fn should be callable or None"),
        (
            {"batch_size": 2, "num_workers": 1, "timeout": -1},
            ValueError,
            r"^timeout should be a finite non-negative number of seconds \(0: wait forever\), "
            "but got timeout=-1$",
        ),
        (
            {"batch_size": 2, "num_workers": 1, "timeout": float("inf")},
            ValueError,
            "timeout should be a finite non-negative",
        ),
        (
            {"batch_size": 2, "num_workers": 1, "timeout": "5"},
            TypeError,
            "timeout should be a finite non-negative",
        ),
        (
            {"batch_size": 2, "timeout": 5},
            ValueError,
            "^timeout should be 0 when num_workers=0, but got timeout=5$",
        ),
        (
            {"batch_size": 2, "num_workers": 1, "multiprocessing_context": "threads"},
            ValueError,
            r"^multiprocessing_context should be one of \[.*'spawn'.*\] or None, but got "
            "multiprocessing_context='threads'$",
        ),
        (
            {"batch_size": 2, "num_workers": 1, "multiprocessing_context": 3},
            TypeError,
            "multiprocessing_context should be one of",
        ),
        (
            {"batch_size": 2, "multiprocessing_context": "spawn"},
            ValueError,
            "^multiprocessing_context should be None when num_workers=0, but got "
            "multiprocessing_context='spawn'$",
        ),
        pytest.param(
            {"batch_size": 2, "device": "cuda"},
            ValueError,
            "needs CUDA, but CUDA is not available",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CPU-only behaviour"),
        ),
    ],
)
def test_invalid_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_loader(_dataset(), **kwargs)


def test_invalid_dataset_combinations_raise():
    with pytest.raises(ValueError, match="device needs a TabularDataset or TensorDataset"):
        make_loader(_PlainDataset(_dataset()), batch_size=2, device="cpu")
    with pytest.raises(ValueError, match="shuffle should be False for an IterableDataset"):
        make_loader(_Stream(4), batch_size=2, shuffle=True)
    with pytest.raises(ValueError, match="rank and world_size should be None"):
        make_loader(_Stream(4), batch_size=2, rank=0, world_size=2)
    with pytest.raises(ValueError, match="epoch should be a non-negative integer"):
        make_loader(_dataset(), batch_size=2).set_epoch(-1)
    with pytest.raises(TypeError, match="epoch should be a non-negative integer"):
        make_loader(_dataset(), batch_size=2).set_epoch(1.0)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        list(iter_batches(_dataset(), 0))
    with pytest.raises(TypeError, match="data should be a TabularDataset, a TensorDataset"):
        list(iter_batches([1, 2], 1))
    with pytest.raises(TypeError, match="dataset should be a map-style dataset with __len__"):
        make_loader(object(), batch_size=2)


# ---------------------------------------------------------------- tabloader streams
@pytest.fixture
def parquet_stream_file(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.standard_normal((503, 3)), columns=["a", "b", "c"])
    df["y"] = np.arange(503, dtype=np.float64)  # the target identifies the row
    path = tmp_path / "s.parquet"
    df.to_parquet(path, row_group_size=64)
    return path


@pytest.mark.parametrize("num_workers", [0, 2])
def test_stream_through_make_loader_covers_each_row_once(parquet_stream_file, num_workers):
    from tabloader.datasets import ParquetStream

    stream = ParquetStream(parquet_stream_file, target="y", batch_size=50)
    loader = make_loader(stream, shuffle=True, seed=3, num_workers=num_workers)
    assert loader.batch_size == 50
    epochs = []
    for _ in range(2):
        rows = torch.cat([y.reshape(-1) for _, y in loader])
        assert sorted(rows.tolist()) == list(range(503))
        epochs.append(rows)
    assert not torch.equal(epochs[0], epochs[1])  # a new order every epoch
    again = make_loader(stream, shuffle=True, seed=3, num_workers=num_workers)
    assert torch.equal(torch.cat([y.reshape(-1) for _, y in again]), epochs[0])


@pytest.mark.parametrize("world_size", [2, 3])
def test_stream_ranks_through_make_loader_are_disjoint_and_complete(
    parquet_stream_file, world_size
):
    from tabloader.datasets import ParquetStream

    stream = ParquetStream(parquet_stream_file, target="y", batch_size=32)
    seen, counts = [], []
    for rank in range(world_size):
        loader = make_loader(stream, shuffle=True, seed=1, rank=rank, world_size=world_size)
        batches = [y.reshape(-1) for _, y in loader]
        counts.append(len(batches))
        seen.extend(torch.cat(batches).tolist())
    assert sorted(seen) == list(range(503))
    assert len(set(counts)) == 1  # every rank gets the same number of batches


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("drop_last", [False, True])
def test_stream_loader_reports_the_stream_batches(parquet_stream_file, num_workers, drop_last):
    from tabloader.datasets import ParquetStream

    stream = ParquetStream(parquet_stream_file, target="y", batch_size=50)
    loader = make_loader(stream, drop_last=drop_last, num_workers=num_workers)
    assert (loader.batch_size, loader.drop_last) == (50, drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == (10 if drop_last else 11)
    assert sorted(len(y) for _, y in batches) == ([] if drop_last else [3]) + [50] * 10


def test_stream_batch_size_must_match(parquet_stream_file):
    from tabloader.datasets import ParquetStream

    stream = ParquetStream(parquet_stream_file, target="y", batch_size=32)
    with pytest.raises(ValueError, match="batch_size should be None or the stream's batch_size=32"):
        make_loader(stream, batch_size=10)
    with pytest.raises(ValueError, match="device should be None for a stream"):
        make_loader(stream, device="cpu")


@pytest.mark.parametrize("kind", ["parquet", "csv"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_a_position_saved_on_the_last_batch_resumes_into_the_next_epoch(
    parquet_stream_file, kind, shuffle
):
    import pandas as pd

    from tabloader.datasets import CsvStream, ParquetStream

    path = parquet_stream_file
    if kind == "csv":
        path = parquet_stream_file.with_suffix(".csv")
        pd.read_parquet(parquet_stream_file).to_csv(path, index=False)
    cls = CsvStream if kind == "csv" else ParquetStream

    def stream():
        return cls(path, target="y", batch_size=50, seed=2, shuffle=shuffle)

    def ids(batches):
        return [y.reshape(-1).tolist() for _, y in batches]

    whole = make_loader(stream())
    epochs = [ids(whole), ids(whole)]
    loader = make_loader(stream())
    for _ in loader:  # the state taken while the epoch's last batch is being used
        state = loader.dataset.state_dict()
    resumed = stream()
    resumed.load_state_dict(state)
    again = make_loader(resumed)
    assert ids(again) == epochs[1]  # the next epoch, not an empty iteration
    assert again.epoch == 1


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize(("world_size", "drop_last"), [(1, False), (1, True), (3, False)])
def test_stream_loader_length_is_the_batches_yielded(
    parquet_stream_file, shuffle, world_size, drop_last
):
    from tabloader.datasets import ParquetStream

    for rank in range(world_size):
        stream = ParquetStream(parquet_stream_file, target="y", batch_size=32, seed=4)
        loader = make_loader(
            stream, shuffle=shuffle, drop_last=drop_last, seed=4, rank=rank, world_size=world_size
        )
        assert len(loader) == len(list(loader)) == len(list(loader))
