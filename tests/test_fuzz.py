"""Fuzzing the readers: random small CSV and Parquet files, some of them broken.

Cells hold random text and bytes (non-ASCII letters, stray delimiters, quotes and line
breaks, bytes that are not UTF-8), files come in random encodings, gzip-compressed or not,
and some are cut short or have bytes flipped. Every reader (``CsvDataset``,
``ParquetDataset``, ``read_dataset``, ``CsvStream``, ``ParquetStream``) must either give
exactly what pandas / pyarrow read from the same file, converted the same way
(``TabularDataset.from_pandas`` / ``from_arrow`` with the same column spec), or raise a
:class:`~tabloader.errors.TabloaderError`: never another exception, never a NaN or inf
in a tensor.
"""

from __future__ import annotations

import gzip
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabloader.datasets import (
    CsvDataset,
    CsvStream,
    ParquetDataset,
    ParquetStream,
    TabularDataset,
    read_dataset,
)
from tabloader.errors import TabloaderError

ENCODINGS = ["utf-8", "latin-1", "cp1252", "utf-8-sig"]
#: pieces of cells: numbers, words (with letters outside ASCII), and trouble
PLAIN = st.one_of(
    st.integers(-999, 999).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.6g}"),
)
SPECIAL = st.sampled_from(["", "1e39", "16777217", str(2**53 + 1), "true", "-0", "7.", "+3"])
WORDS = st.sampled_from(["a", "b", "caf\u00e9", "th\u00e9", "\u00fcber", "x y"])
NOISE = st.sampled_from([",", ";", '"', "\n", "\t", " ", "\x80", "\xff", "1,5", "\x00"])


@st.composite
def cells(draw: Any, kind: str, p_noise: float) -> str:
    roll = draw(st.integers(0, 99)) / 100
    if roll < p_noise:
        return draw(NOISE) + draw(PLAIN if kind == "number" else WORDS)
    if kind == "number" and roll < p_noise + 0.05:
        return draw(SPECIAL)
    return draw(PLAIN if kind == "number" else WORDS)


@st.composite
def csv_cases(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 8))
    p_noise = draw(st.sampled_from([0.0, 0.0, 0.03, 0.2]))
    kinds = ["number", "number", "word", "number"]
    rows = [[draw(cells(k, p_noise)) for k in kinds] for _ in range(n)]
    text = "a,b,c,y\n" + "".join(",".join(r) + "\n" for r in rows)
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 5)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return {
        "data": data,
        "gzip": draw(st.booleans()),
        "cut_gzip": draw(st.integers(0, 5)) == 0,
        "encoding": draw(st.sampled_from([encoding, None])),
        "spec": _spec(draw),
    }


@st.composite
def parquet_cases(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 12))
    floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=64))
    table = pa.table(
        {
            "a": pa.array([draw(floats) for _ in range(n)], pa.float64()),
            "b": pa.array([draw(st.integers(-(2**62), 2**62)) for _ in range(n)], pa.int64()),
            "c": pa.array([draw(st.one_of(st.none(), WORDS)) for _ in range(n)], pa.string()),
            "y": pa.array([draw(st.floats(-1e3, 1e3)) for _ in range(n)], pa.float64()),
        }
    )
    return {
        "table": table,
        "row_group_size": draw(st.integers(1, 12)),
        "checksums": draw(st.booleans()),
        "damage": draw(st.sampled_from([None, None, "truncate", "flip"])),
        "where": draw(st.floats(0.0, 1.0)),
        "spec": _spec(draw),
    }


def _spec(draw: Any) -> dict[str, Any]:
    return {
        "target": "y",
        "task": "regression",
        "categorical": ["c"],
        "missing": draw(st.sampled_from(["error", "drop", "mean"])),
        "dtype": draw(st.sampled_from([torch.float32, torch.float64])),
    }


def _outcome(read: Any) -> tuple[torch.Tensor, torch.Tensor, list[str]] | TabloaderError:
    """What a reader gives: ``(X, y, feature names)``, or the TabloaderError it raised
    (any other exception fails the test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read()
        except TabloaderError as exc:
            return exc


def _dataset(ds: Any) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    return ds.features, ds.targets, list(ds.feature_names)


def _stream(s: Any) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    batches = list(s)
    X = torch.cat([b[0] for b in batches]) if batches else torch.empty(0, s.n_features)
    y = torch.cat([b[1] for b in batches]) if batches else torch.empty(0, 1)
    return X, y, list(s.feature_names)


def _check(results: dict[str, Any], expected: Any) -> None:
    for name, got in results.items():
        if isinstance(got, TabloaderError):
            continue
        X, y, names = got
        assert bool(torch.isfinite(X).all()) and bool(torch.isfinite(y).all()), name
        if expected is None or isinstance(expected, TabloaderError):
            continue  # pandas / pyarrow could not read it, or refused it converted
        eX, ey, enames = expected
        assert names == enames, (name, names, enames)
        assert X.dtype == eX.dtype and torch.equal(X, eX), (name, X, eX)
        assert torch.equal(y, ey), (name, y, ey)


SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(csv_cases())
def test_csv_readers_read_what_pandas_reads_or_raise_a_tabloader_error(case: dict[str, Any]):
    spec = dict(case["spec"])
    kw = {} if case["encoding"] is None else {"encoding": case["encoding"]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("f.csv.gz" if case["gzip"] else "f.csv")
        data = case["data"]
        if case["gzip"]:
            data = gzip.compress(data)
            if case["cut_gzip"]:
                data = data[: len(data) // 2]
        path.write_bytes(data)
        results = {
            "CsvDataset": _outcome(lambda: _dataset(CsvDataset(path, **spec, **kw))),
            "read_dataset": _outcome(lambda: _dataset(read_dataset(path, **spec, **kw))),
            "CsvStream": _outcome(lambda: _stream(CsvStream(path, batch_size=3, **spec, **kw))),
        }
        try:
            frame = pd.read_csv(path, encoding=case["encoding"] or "utf-8")
        except Exception:  # pandas cannot read it either: only the tabloader errors count
            frame = None
        expected = None
        if frame is not None:
            expected = _outcome(lambda: _dataset(TabularDataset.from_pandas(frame, **spec)))
    _check(results, expected)


def _damage(raw: bytes, how: str | None, where: float) -> bytes:
    if how == "truncate":
        return raw[: int(len(raw) * where)]
    if how == "flip":
        out = bytearray(raw)
        i = min(int(len(out) * where), len(out) - 1)
        out[i] ^= 0x5A
        return bytes(out)
    return raw


@SETTINGS
@given(parquet_cases())
def test_parquet_readers_read_what_pyarrow_reads_or_raise_a_tabloader_error(case: dict[str, Any]):
    spec = dict(case["spec"])
    buf = io.BytesIO()
    pq.write_table(
        case["table"],
        buf,
        row_group_size=case["row_group_size"],
        write_page_checksum=case["checksums"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.parquet"
        path.write_bytes(_damage(buf.getvalue(), case["damage"], case["where"]))
        results = {
            "ParquetDataset": _outcome(lambda: _dataset(ParquetDataset(path, **spec))),
            "read_dataset": _outcome(lambda: _dataset(read_dataset(path, **spec))),
            "ParquetStream": _outcome(lambda: _stream(ParquetStream(path, batch_size=4, **spec))),
        }
        try:
            table = pq.read_table(path)
        except Exception:  # pyarrow cannot read it either
            table = None
        expected = None
        if table is not None:
            expected = _outcome(lambda: _dataset(TabularDataset.from_arrow(table, **spec)))
    _check(results, expected)


def test_fuzz_helpers_see_a_tabloader_error_as_an_outcome():
    assert isinstance(_outcome(lambda: CsvDataset("/nonexistent.csv")), TabloaderError)
    with pytest.raises(ZeroDivisionError):  # any other exception fails the test
        _outcome(lambda: 1 / 0)
    assert np.isfinite(1.0)
