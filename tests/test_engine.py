"""The twin-path contract: a map-style dataset and a stream of the same files agree.

For random tables (numeric, boolean and categorical features, text/integer/boolean labels
or a regression target, missing values under each policy, 1-4 files, with or without a
header, values that overflow float32, integers that float32 or float64 rounds, float32 or
float64 tensors, fixed categorical levels with unknown_levels="error" or "ignore") ``CsvDataset``/``ParquetDataset`` and
``CsvStream``/``ParquetStream`` must give identical tensors, feature names, classes,
categories, fill values, dropped-row counts and warnings, or the same error class and
message: both learn one encoding and convert through one converter.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabloader.datasets import CsvDataset, CsvStream, ParquetDataset, ParquetStream

LABELS = {
    "text2": ["no", "yes"],
    "text3": ["p", "q", "r"],
    "int3": [0, 1, 2],
    "bool": [False, True],
}
OVERFLOW = 1e39  # finite in float64, beyond float32


@st.composite
def tables(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(2, 24))
    label = draw(st.sampled_from([*LABELS, "regression"]))
    maybe = st.integers(0, 99).map(lambda v: v / 100)
    p_missing = draw(st.sampled_from([0.15, 0.0, 0.3]))
    p_over = draw(st.sampled_from([0.0, 0.08, 0.0]))

    def cell(value: Any, p: float) -> Any:
        return None if draw(maybe) < p else value

    quarters = st.integers(-400, 400).map(lambda v: v / 4)
    a = [OVERFLOW if draw(maybe) < p_over else cell(draw(quarters), p_missing) for _ in range(n)]
    b = [cell(draw(st.integers(-50, 50)), p_missing) for _ in range(n)]
    c = [cell(draw(st.booleans()), p_missing) for _ in range(n)]
    k = [cell(draw(st.sampled_from(["u", "v", "w"])), p_missing) for _ in range(n)]
    k[0] = k[0] or "u"  # at least one level
    # integers float32 (or even float64) rounds: both paths count them in one warning
    big = st.sampled_from([3, 2**24 + 1, 2**53 + 1, -(2**40) - 3, 2**24])
    i = [cell(draw(big), p_missing / 2) for _ in range(n)]
    if label == "regression":
        y = [
            OVERFLOW if draw(maybe) < p_over else cell(draw(quarters), p_missing) for _ in range(n)
        ]
    else:
        y = [cell(draw(st.sampled_from(LABELS[label])), p_missing / 2) for _ in range(n)]
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=min(3, n - 1))))
    return {
        "columns": {"a": a, "b": b, "c": c, "k": k, "i": i, "y": y},
        "label": label,
        "cuts": [0, *cuts, n],
        "missing": draw(st.sampled_from(["drop", "mean", "error"])),
        "header": draw(st.booleans()),
        "fmt": draw(st.sampled_from(["parquet", "csv"])),
        "task": draw(st.sampled_from([None, "given"])),
        "dtype": draw(st.sampled_from([torch.float32, torch.float64])),
        # fixed levels without "w": an error, or all zeros with unknown_levels="ignore"
        "levels": draw(st.sampled_from([None, "error", "ignore"])),
    }


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def _write(case: dict[str, Any], tmp: str) -> list[str]:
    cols = case["columns"]
    names = list(cols)
    types = {
        "a": pa.float64(),
        "b": pa.int64(),
        "c": pa.bool_(),
        "k": pa.string(),
        "i": pa.int64(),
        "y": pa.float64()
        if case["label"] == "regression"
        else pa.array(LABELS[case["label"]]).type,
    }
    paths = []
    cuts = case["cuts"]
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        if case["fmt"] == "parquet":
            path = os.path.join(tmp, f"part{i}.parquet")
            table = pa.table({c: pa.array(cols[c][lo:hi], type=types[c]) for c in names})
            pq.write_table(table, path)
        else:
            path = os.path.join(tmp, f"part{i}.csv")
            lines = [",".join(names)] if case["header"] else []
            lines += [",".join(_csv_cell(cols[c][r]) for c in names) for r in range(lo, hi)]
            with open(path, "w") as fh:
                fh.write("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def _spec(case: dict[str, Any]) -> dict[str, Any]:
    csv_headless = case["fmt"] == "csv" and not case["header"]
    spec: dict[str, Any] = {
        "target": -1 if csv_headless else "y",
        "categorical": [3] if csv_headless else ["k"],
        "missing": case["missing"],
        "dtype": case["dtype"],
    }
    if case["levels"] is not None:
        spec["categories"] = {"3" if csv_headless else "k": ["u", "v"]}
        spec["unknown_levels"] = case["levels"]
    if case["task"] is not None:
        spec["task"] = {"regression": "regression", "text2": "binary", "bool": "binary"}.get(
            case["label"], "multiclass"
        )
    if case["fmt"] == "csv":
        spec["header"] = case["header"]
    return spec


def _outcome(make: Any) -> dict[str, Any]:
    """What a reader yields: tensors and encoding, or its error; and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = make()
        except Exception as exc:  # the error itself is the outcome
            out = {"error": (type(exc), str(exc))}
    out["warnings"] = [str(w.message) for w in caught]
    return out


def _dataset(cls: Any, paths: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    ds = cls(paths, **spec)
    return {"X": ds.features, "y": ds.targets, **_encoding(ds)}


def _stream(cls: Any, paths: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    s = cls(paths, batch_size=7, **spec)
    batches = list(s)
    X = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    return {"X": X, "y": y, **_encoding(s)}


def _encoding(d: Any) -> dict[str, Any]:
    return {
        "feature_names": d.feature_names,
        "task": d.task,
        "classes": None if d.classes_ is None else d.classes_.tolist(),
        "categories": d.categories_,
        "fill_values": d.fill_values_,
        "n_dropped": d.n_dropped_,
    }


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tables())
def test_dataset_and_stream_of_the_same_files_agree(case: dict[str, Any]) -> None:
    ds_cls, stream_cls = (
        (CsvDataset, CsvStream) if case["fmt"] == "csv" else (ParquetDataset, ParquetStream)
    )
    spec = _spec(case)
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write(case, tmp)
        ds = _outcome(lambda: _dataset(ds_cls, paths, spec))
        st_ = _outcome(lambda: _stream(stream_cls, paths, spec))
    assert ds.keys() == st_.keys()
    if "error" in ds:
        assert ds["error"] == st_["error"]
        return
    assert torch.equal(ds["X"], st_["X"]) and ds["X"].dtype == st_["X"].dtype
    assert torch.equal(ds["y"], st_["y"]) and ds["y"].dtype == st_["y"].dtype
    for key in ("feature_names", "task", "classes", "categories", "fill_values", "n_dropped"):
        assert ds[key] == st_[key], key
    assert ds["warnings"] == st_["warnings"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_float32_overflow_is_an_error_in_every_reader(tmp_path, fmt):
    """A finite value beyond float32 is an error naming the file, column, row and value."""
    table = pa.table({"a": [1.0, 2.0, OVERFLOW, 4.0], "y": [0.5, 1.5, 2.5, 3.5]})
    if fmt == "csv":
        path = str(tmp_path / "t.csv")
        with open(path, "w") as fh:
            fh.write("a,y\n1.0,0.5\n2.0,1.5\n1e39,2.5\n4.0,3.5\n")
        readers = [
            lambda: CsvDataset(path, target="y", missing="drop"),
            lambda: list(CsvStream(path, target="y", missing="drop", batch_size=2)),
        ]
    else:
        path = str(tmp_path / "t.parquet")
        pq.write_table(table, path)
        readers = [
            lambda: ParquetDataset(path, target="y", missing="drop"),
            lambda: list(ParquetStream(path, target="y", missing="drop", batch_size=2)),
        ]
    from tabloader.datasets import TabularDataset

    readers.append(lambda: TabularDataset.from_arrow(table, target="y"))
    readers.append(lambda: TabularDataset.from_pandas(table.to_pandas(), target="y"))
    readers.append(lambda: TabularDataset.from_numpy(np.array(table.column("a")), np.arange(4.0)))
    for read in readers:
        with pytest.raises(ValueError, match=r"column '(a|0)' in .* has 1e\+39 at row 2.*float32"):
            read()


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"batch_size": "4"}, TypeError, r"batch_size should be a positive integer, but got"),
        ({"batch_size": 4, "shuffle": "yes"}, TypeError, r"shuffle should be a bool"),
        ({"batch_size": 4, "drop_last": 1}, TypeError, r"drop_last should be a bool"),
        ({"batch_size": 4, "seed": 1.5}, TypeError, r"seed should be an integer or None"),
        ({"batch_size": 4, "chunk_rows": 0}, ValueError, r"chunk_rows should be a positive"),
        ({"batch_size": 4, "missing": "zero"}, ValueError, r"missing should be one of"),
        ({"batch_size": 4, "task": 3}, TypeError, r"task should be one of"),
    ],
)
def test_one_argument_policy_type_vs_value(tmp_path, kwargs, exc, match):
    """A wrong type is a TypeError, a bad value a ValueError, in the house message shape."""
    path = str(tmp_path / "t.parquet")
    pq.write_table(pa.table({"a": [1.0, 2.0], "y": [0.0, 1.0]}), path)
    with pytest.raises(exc, match=match):
        ParquetStream(path, target="y", **kwargs)


def test_split_seed_policy_and_private_generator():
    from tabloader.datasets import TabularDataset, split

    ds = TabularDataset.from_numpy(np.arange(40.0), np.arange(40) % 2, task="binary")
    state = torch.get_rng_state()
    a = split(ds, [0.5, 0.5], seed=3)
    b = split(ds, [0.5, 0.5], seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a[0].features, b[0].features)
    with pytest.raises(TypeError, match=r"seed should be a non-negative integer or None"):
        split(ds, [0.5, 0.5], seed="3")
    with pytest.raises(ValueError, match=r"seed should be a non-negative integer or None"):
        split(ds, [0.5, 0.5], seed=-1)
