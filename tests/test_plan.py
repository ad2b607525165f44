"""Property tests of the one epoch planner (tabloader._plan): one sharding rule, two grains."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabloader._plan import EpochLayout, EpochPlan, epoch_order, share

SETTINGS = settings(max_examples=150, deadline=None)


def _dealt_by_definition(n: int, parts: int, part: int, blocks: int) -> list[int]:
    """The rule as written: ``blocks`` consecutive blocks, sizes within one, block j to j % P."""
    q, e = divmod(n, blocks)
    out, start = [], 0
    for j in range(blocks):
        size = q + (j < e)
        if j % parts == part:
            out.extend(range(start, start + size))
        start += size
    return out


def _plan(n, b, *, r=0, ws=1, remainder="uneven", drop_last=False, shuffle=True, seed=5, epoch=0):
    plan = EpochPlan(
        n,
        b,
        shuffle=shuffle,
        drop_last=drop_last,
        seed=seed,
        rank=r,
        world_size=ws,
        remainder=remainder,
    )
    return [bt.tolist() for bt in plan.batches(epoch)]


def _layout(units, b, *, r=0, ws=1, drop_last=False, shuffle=True, seed=5, epoch=0):
    return EpochLayout(
        np.array(units, dtype=np.int64),
        epoch=epoch,
        shuffle=shuffle,
        seed=seed,
        batch_size=b,
        drop_last=drop_last,
        rank=r,
        world_size=ws,
    )


def _rows_of(layout: EpochLayout, units, start: int, stop: int) -> list[tuple[int, int]]:
    """``(unit, row in unit)`` of the sequence rows ``[start, stop)``."""
    return [(u, i) for u, lo, hi in layout.pieces(start, stop) for i in range(lo, hi)]


# --------------------------------------------------------------------------- the rule
@SETTINGS
@given(n=st.integers(0, 60), parts=st.integers(1, 7), data=st.data())
def test_share_is_the_written_rule_at_both_grains(n, parts, data):
    part = data.draw(st.integers(0, parts - 1))
    assert list(share(n, parts, part, contiguous=False)) == _dealt_by_definition(
        n, parts, part, max(n, 1)
    )
    assert list(share(n, parts, part, contiguous=True)) == _dealt_by_definition(
        n, parts, part, parts
    )


@SETTINGS
@given(n=st.integers(0, 60), parts=st.integers(1, 7), contiguous=st.booleans())
def test_share_covers_every_item_once_and_parts_differ_by_one(n, parts, contiguous):
    shares = [share(n, parts, p, contiguous=contiguous) for p in range(parts)]
    assert sorted(i for s in shares for i in s) == list(range(n))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


# --------------------------------------------------------------------------- map-style
@SETTINGS
@given(
    n=st.integers(0, 80),
    b=st.integers(1, 9),
    ws=st.integers(1, 4),
    nw=st.integers(1, 3),
    seed=st.integers(0, 2**40),
    epoch=st.integers(0, 5),
)
def test_map_style_reads_every_row_once_over_ranks_and_workers(n, b, ws, nw, seed, epoch):
    seen = Counter()
    for r in range(ws):
        batches = _plan(n, b, r=r, ws=ws, seed=seed, epoch=epoch)
        for w in range(nw):  # the DataLoader's dispatch: batch i to worker i % nw
            for i in share(len(batches), nw, w, contiguous=False):
                seen.update(batches[i])
    assert seen == Counter(range(n))


@SETTINGS
@given(
    n=st.integers(0, 80),
    b=st.integers(1, 9),
    ws=st.integers(1, 4),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**40),
)
def test_map_style_step_t_of_w_ranks_is_step_t_of_one_process(n, b, ws, drop_last, seed):
    single = _plan(n, ws * b, drop_last=drop_last, seed=seed)
    ranks = [_plan(n, b, r=r, ws=ws, drop_last=drop_last, seed=seed) for r in range(ws)]
    counts = [len(x) for x in ranks]
    steps = min(counts) if drop_last else max(counts)  # what the distributed loop runs
    assert steps == len(single)
    for t in range(steps):
        union = Counter(i for x in ranks if t < len(x) for i in x[t])
        assert union == Counter(single[t])


@SETTINGS
@given(n=st.integers(1, 60), b=st.integers(1, 9), ws=st.integers(1, 4), seed=st.integers(0, 99))
def test_map_style_pad_and_drop_give_equal_ranks(n, b, ws, seed):
    for remainder in ("pad", "drop"):
        ranks = [_plan(n, b, r=r, ws=ws, remainder=remainder, seed=seed) for r in range(ws)]
        assert len({len(x) for x in ranks}) == 1
        rows = Counter(i for x in ranks for bt in x for i in bt)
        if remainder == "pad":
            assert set(rows) == set(range(n))
            assert sum(rows.values()) == -(-n // ws) * ws
        else:
            assert max(rows.values(), default=1) == 1
            assert sum(rows.values()) == n - n % ws


@SETTINGS
@given(n=st.integers(0, 60), seed=st.integers(0, 2**62), epoch=st.integers(0, 10**6))
def test_same_seed_and_epoch_same_order(n, seed, epoch):
    a = epoch_order(n, seed=seed, epoch=epoch, shuffle=True)
    assert a.tolist() == epoch_order(n, seed=seed, epoch=epoch, shuffle=True).tolist()
    assert sorted(a.tolist()) == list(range(n))
    assert _plan(n, 4, seed=seed, epoch=epoch) == _plan(n, 4, seed=seed, epoch=epoch)


def test_epochs_and_seeds_give_other_orders():
    orders = {
        tuple(epoch_order(50, seed=s, epoch=e, shuffle=True).tolist())
        for s in range(3)
        for e in range(3)
    }
    assert len(orders) == 9


# --------------------------------------------------------------------------- streams
units_st = st.lists(st.integers(0, 25), min_size=0, max_size=8)


@SETTINGS
@given(
    units=units_st,
    b=st.integers(1, 9),
    ws=st.integers(1, 4),
    nw=st.integers(1, 3),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**40),
    epoch=st.integers(0, 5),
)
def test_stream_reads_every_row_once_over_ranks_and_workers(units, b, ws, nw, shuffle, seed, epoch):
    n = sum(units)
    layouts = []
    for r in range(ws):
        try:
            layouts.append(_layout(units, b, r=r, ws=ws, shuffle=shuffle, seed=seed, epoch=epoch))
        except ValueError as exc:  # too few rows for the same number of batches on every rank
            assert "should yield the same number of batches" in str(exc)
            assert -(-n // ws) > (n // ws) * b
            return
    assert len({lay.k for lay in layouts}) == 1  # every rank the same number of batches
    seen = Counter()
    for lay in layouts:
        assert sum(lay.sizes) == lay.rank_rows and all(s > 0 for s in lay.sizes)
        assert sum(lay.worker_counts(nw)) == lay.k
        for w in range(nw):
            wp = lay.worker(w, nw)
            assert len(wp.batch_sizes) == lay.worker_counts(nw)[w]
            assert wp.stop - wp.start == sum(wp.batch_sizes)
            seen.update(_rows_of(lay, units, wp.start, wp.stop))
    assert seen == Counter((u, i) for u, rows in enumerate(units) for i in range(rows))


@SETTINGS
@given(units=units_st, b=st.integers(1, 9), ws=st.integers(1, 4), seed=st.integers(0, 99))
def test_stream_one_rank_is_the_concatenation_of_n_ranks(units, b, ws, seed):
    one = _layout(units, b, seed=seed)
    whole = _rows_of(one, units, 0, one.n_rows)
    parts = []
    for r in range(ws):
        lay = _layout(units, b, r=r, ws=ws, drop_last=True, seed=seed)  # never refused
        assert lay.order.tolist() == one.order.tolist()  # one sequence, shared out
        parts += _rows_of(lay, units, lay.rank_start, lay.rank_start + lay.rank_rows)
        assert lay.k == (one.n_rows // ws) // b and lay.sizes == [b] * lay.k
    assert parts == whole  # contiguous shares, in rank order: the single sequence itself


@SETTINGS
@given(units=units_st, ws=st.integers(1, 4), seed=st.integers(0, 99))
def test_stream_ranks_read_only_their_own_units(units, ws, seed):
    n = sum(units)
    if n == 0:
        return
    touched = 0
    for r in range(ws):
        lay = _layout(units, n, r=r, ws=ws, drop_last=True, seed=seed)
        start = share(n, ws, r, contiguous=True).start
        touched += len({u for u, _, _ in lay.pieces(start, start + lay.rank_rows)})
    # contiguous shares: a unit is opened by at most two neighbouring ranks at a boundary
    assert touched <= sum(1 for u in units if u) + ws - 1


@pytest.mark.parametrize("shuffle", [False, True])
def test_one_row_units_give_the_map_style_sequence(shuffle):
    for epoch in range(3):
        lay = _layout([1] * 37, 4, shuffle=shuffle, seed=11, epoch=epoch)
        plan = _plan(37, 37, shuffle=shuffle, seed=11, epoch=epoch)
        assert lay.order.tolist() == plan[0]
