"""Tests of tabloader.datasets: readers, column spec, tasks, missing values, indexing, split."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.preprocessing import LabelEncoder
from torch import nn
from torch.utils.data import DataLoader

from tabloader import errors
from tabloader.datasets import (
    MISSING_POLICIES,
    TASKS,
    CsvDataset,
    ParquetDataset,
    TabularDataset,
    infer_task,
    read_dataset,
    source_format,
    split,
)

FORMATS = ("csv", "parquet")
READERS = {"csv": CsvDataset, "parquet": ParquetDataset}


# --------------------------------------------------------------------------- helpers
def write(df: pd.DataFrame, path: Path, fmt: str) -> Path:
    """Write ``df`` (no index) as ``path.<fmt>``; returns the file's path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        out = path.with_suffix(".csv")
        df.to_csv(out, index=False)
    else:
        out = path.with_suffix(".parquet")
        df.to_parquet(out, index=False)
    return out


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def numeric_frame(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Floats that are exact in float32 (so CSV text, Parquet and pandas agree bit for bit)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.standard_normal(n).astype(np.float32).astype(np.float64),
            "b": rng.integers(-50, 50, n),
            "c": (rng.standard_normal(n) * 1e3).astype(np.float32).astype(np.float64),
            "y": rng.standard_normal(n).astype(np.float32).astype(np.float64),
        }
    )


def assert_frame_tensors(ds: TabularDataset, df: pd.DataFrame, target: str | None) -> None:
    """``ds`` holds exactly the numeric columns of ``df`` (target last removed) in order."""
    feats = [c for c in df.columns if c != target]
    assert ds.feature_names == feats
    np.testing.assert_array_equal(ds.features.numpy(), f32(df[feats].to_numpy(dtype=np.float64)))
    if target is not None:
        np.testing.assert_array_equal(
            ds.targets.numpy().reshape(-1), f32(df[target].to_numpy(dtype=np.float64))
        )


@pytest.fixture
def frame() -> pd.DataFrame:
    return numeric_frame()


# =========================================================================== sources
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("as_path", [True, False])
def test_single_file_path_or_str(tmp_path, frame, fmt, as_path):
    p = write(frame, tmp_path / "data", fmt)
    ds = READERS[fmt](p if as_path else str(p), target="y", task="regression")
    assert isinstance(ds, TabularDataset)
    assert len(ds) == len(frame)
    assert_frame_tensors(ds, frame, "y")
    assert ds.target_name == "y"


@pytest.mark.parametrize("fmt", FORMATS)
def test_list_of_files_concatenates_in_given_order(tmp_path, frame, fmt):
    parts = [frame.iloc[:5], frame.iloc[5:9], frame.iloc[9:]]
    # names in reverse sorted order: a list keeps the order it is given in
    paths = [write(p, tmp_path / f"part{9 - i}", fmt) for i, p in enumerate(parts)]
    ds = READERS[fmt](paths, target="y", task="regression")
    assert_frame_tensors(ds, frame, "y")


@pytest.mark.parametrize("fmt", FORMATS)
def test_directory_reads_sorted_files_and_skips_hidden(tmp_path, frame, fmt):
    d = tmp_path / "dir"
    write(frame.iloc[:6], d / "p0", fmt)
    write(frame.iloc[6:], d / "p1", fmt)
    (d / "_SUCCESS").write_text("")
    (d / ".hidden.csv").write_text("junk\n")
    ds = READERS[fmt](d, target="y", task="regression")
    assert_frame_tensors(ds, frame, "y")


@pytest.mark.parametrize("fmt", FORMATS)
def test_glob_pattern(tmp_path, frame, fmt):
    write(frame.iloc[:4], tmp_path / "g" / "x0", fmt)
    write(frame.iloc[4:], tmp_path / "g" / "x1", fmt)
    write(frame.iloc[:2], tmp_path / "g" / "other", fmt)  # not matched
    ds = READERS[fmt](str(tmp_path / "g" / f"x*.{fmt}"), target="y", task="regression")
    assert_frame_tensors(ds, frame, "y")


def _hive_frame(n: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "a": rng.standard_normal(n).astype(np.float32).astype(np.float64),
            "year": np.repeat([2020, 2021, 2022], n // 3),
            "region": np.tile(["east", "west"], n // 2),
            "y": rng.integers(0, 2, n).astype(np.float64),
        }
    )


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


@pytest.mark.parametrize("writer", ["write_to_dataset", "write_dataset"])
def test_hive_partitioned_directory_exposes_partition_keys(tmp_path, writer):
    df = _hive_frame()
    root = tmp_path / "hive"
    table = pa.Table.from_pandas(df, preserve_index=False)
    if writer == "write_to_dataset":
        pq.write_to_dataset(table, root, partition_cols=["year", "region"])
    else:
        pads.write_dataset(
            table,
            root,
            format="parquet",
            partitioning=["year", "region"],
            partitioning_flavor="hive",
        )
    assert (root / "year=2020" / "region=east").is_dir()
    ds = ParquetDataset(root, target="y", categorical=["region"])
    assert set(ds.feature_names) == {"a", "year", "region=east", "region=west"}
    # the same multiset of rows, with the partition columns
    oracle = pd.get_dummies(df, columns=["region"], prefix_sep="=", dtype=np.float64)
    oracle = oracle[[*ds.feature_names, "y"]].to_numpy(np.float32)
    got = np.concatenate([ds.features.numpy(), ds.targets.numpy()], axis=1)
    np.testing.assert_array_equal(_sorted_rows(got), _sorted_rows(oracle))
    # integer keys come back as numbers, without categorical=
    only_year = ParquetDataset(root, target="y", features=["a", "year"])
    assert sorted(set(only_year.features[:, 1].tolist())) == [2020, 2021, 2022]


def test_hive_partition_key_as_target_and_text_key_needs_categorical(tmp_path):
    df = _hive_frame()
    root = tmp_path / "hive"
    pq.write_to_dataset(pa.Table.from_pandas(df, preserve_index=False), root, ["region"])
    ds = ParquetDataset(root, target="region")
    assert ds.task == "binary"
    assert list(ds.classes_) == ["east", "west"]
    with pytest.raises(errors.ParseError, match=r"column 'region'.*categorical=\['region'\]"):
        ParquetDataset(root, target="y")


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_dataset_and_from_path_pick_the_reader(tmp_path, frame, fmt):
    p = write(frame, tmp_path / "data", fmt)
    ds = read_dataset(p, target="y", task="regression")
    assert isinstance(ds, READERS[fmt])
    assert_frame_tensors(ds, frame, "y")
    ds2 = TabularDataset.from_path(p, target=-1, task="regression")
    assert torch.equal(ds2.features, ds.features)
    assert source_format(p) == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_detected_from_content_when_suffix_is_unknown(tmp_path, frame, fmt):
    p = write(frame, tmp_path / "data", fmt)
    odd = p.rename(tmp_path / "data.bin")
    assert source_format(odd) == fmt
    ds = read_dataset(odd, target="y", task="regression")
    assert_frame_tensors(ds, frame, "y")


def test_read_dataset_rejects_csv_options_for_parquet(tmp_path, frame):
    p = write(frame, tmp_path / "data", "parquet")
    with pytest.raises(ValueError, match=r"\['delimiter'\] only apply to CSV files.*Parquet"):
        read_dataset(p, target="y", delimiter=";")
    # the defaults are harmless
    assert len(read_dataset(p, target="y", header=True, delimiter=None)) == len(frame)


def test_read_dataset_rejects_a_mix_of_formats(tmp_path, frame):
    write(frame, tmp_path / "d" / "a", "csv")
    write(frame, tmp_path / "d" / "b", "parquet")
    with pytest.raises(errors.UnsupportedFormatError, match="mixes CSV and Parquet"):
        read_dataset(tmp_path / "d", target="y")


def test_compressed_csv(tmp_path, frame):
    p = tmp_path / "data.csv.gz"
    frame.to_csv(p, index=False, compression="gzip")
    ds = read_dataset(p, target="y", task="regression")
    assert_frame_tensors(ds, frame, "y")


# =========================================================================== column spec
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("target", "name"), [("c", "c"), (2, "c"), (-2, "c"), (-1, "y"), (0, "a"), (-4, "a")]
)
def test_target_by_name_or_position(tmp_path, frame, fmt, target, name):
    p = write(frame, tmp_path / "data", fmt)
    ds = READERS[fmt](p, target=target, task="regression")
    assert ds.target_name == name
    assert_frame_tensors(ds, frame, name)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("features", "names"),
    [(["c", "a"], ["c", "a"]), ([2, 0], ["c", "a"]), ([-2, "b"], ["c", "b"]), (["b"], ["b"])],
)
def test_features_by_name_or_position_keep_the_given_order(tmp_path, frame, fmt, features, names):
    p = write(frame, tmp_path / "data", fmt)
    ds = READERS[fmt](p, target="y", features=features, task="regression")
    assert ds.feature_names == names
    assert ds.features.shape == (len(frame), len(names))
    np.testing.assert_array_equal(ds.features.numpy(), f32(frame[names].to_numpy(np.float64)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_features_only_dataset(tmp_path, frame, fmt):
    p = write(frame, tmp_path / "data", fmt)
    ds = READERS[fmt](p)
    assert ds.targets is None and ds.target_name is None
    assert ds.feature_names == list(frame.columns)
    x = ds[0]
    assert isinstance(x, torch.Tensor) and x.shape == (4,)
    assert ds[[0, 1]].shape == (2, 4)


def test_header_false_names_columns_by_position(tmp_path):
    p = write_text(tmp_path / "nh.csv", "1,2,3,4\n5,6,7,8\n9,10,11,12\n")
    ds = CsvDataset(p, header=False, target=-1, task="regression")
    assert ds.feature_names == ["0", "1", "2"]
    assert ds.target_name == "3"
    np.testing.assert_array_equal(ds.features.numpy(), f32([[1, 2, 3], [5, 6, 7], [9, 10, 11]]))
    np.testing.assert_array_equal(ds.targets.numpy(), f32([[4], [8], [12]]))
    # names given as strings select the same columns
    ds2 = CsvDataset(p, header=False, target="3", features=["2", "0"], task="regression")
    np.testing.assert_array_equal(ds2.features.numpy(), f32([[3, 1], [7, 5], [11, 9]]))


@pytest.mark.parametrize(
    ("delimiter", "suffix"), [(";", ".csv"), ("\t", ".csv"), ("|", ".txt"), (None, ".tsv")]
)
def test_delimiter(tmp_path, frame, delimiter, suffix):
    sep = delimiter or "\t"
    p = tmp_path / f"data{suffix}"
    frame.to_csv(p, sep=sep, index=False)
    ds = CsvDataset(p, target="y", delimiter=delimiter, task="regression")
    assert_frame_tensors(ds, frame, "y")


def test_comment_lines_are_ignored_anywhere(tmp_path):
    text = (
        "# a comment, with commas,,,\n"
        '  # an indented one with a stray " quote\n'
        "a,b,y\n"
        "1,2,0.5\n"
        "# between rows\n"
        "3,4,1.5\n"
        "\n"
        "5,6,2.5"  # no final newline
    )
    p = write_text(tmp_path / "c.csv", text)
    ds = CsvDataset(p, target="y", comment="#")
    assert ds.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ds.features.numpy(), f32([[1, 2], [3, 4], [5, 6]]))
    np.testing.assert_array_equal(ds.targets.numpy().ravel(), f32([0.5, 1.5, 2.5]))
    # without comment= the first comment line is taken as the header
    with pytest.raises(errors.ColumnNotFoundError, match=r"columns are \['# a comment'"):
        CsvDataset(p, target="y")


def test_skip_rows_before_the_header(tmp_path):
    text = "a title line\n569,30,odd,junk\na,b,y\n1,2,0.5\n3,4,1.5\n"
    p = write_text(tmp_path / "s.csv", text)
    ds = CsvDataset(p, target="y", skip_rows=2)
    assert ds.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ds.features.numpy(), f32([[1, 2], [3, 4]]))


def test_skip_rows_header_false_and_comment_together(tmp_path):
    text = "150,4,setosa\n# comment\n1,2,0\n# another\n3,4,1\n5,6,2\n"
    p = write_text(tmp_path / "s.csv", text)
    ds = CsvDataset(p, header=False, skip_rows=1, comment="#", target=-1)
    assert ds.feature_names == ["0", "1"]
    np.testing.assert_array_equal(ds.features.numpy(), f32([[1, 2], [3, 4], [5, 6]]))
    assert ds.task == "multiclass"
    assert ds.targets.tolist() == [0, 1, 2]


def test_target_also_listed_as_feature_is_an_error(tmp_path, frame):
    p = write(frame, tmp_path / "d", "csv")
    with pytest.raises(errors.SchemaError, match=r"column 'y' is both the target and a feature"):
        CsvDataset(p, target="y", features=["a", "y"])


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"task": "ordinal"}, ValueError, r"task should be one of .* but got task='ordinal'"),
        ({"missing": "zero"}, ValueError, r"missing should be one of .* but got missing='zero'"),
        ({"features": "a"}, TypeError, r"features should be a list .* wrap it in a list"),
        ({"categorical": "a"}, TypeError, r"categorical should be a list"),
        ({"target": 1.5}, TypeError, r"target should be a column name \(str\) or a position"),
        ({"skip_rows": -1}, ValueError, r"skip_rows should be a non-negative integer"),
        ({"delimiter": ";;"}, ValueError, r"delimiter should be a single character"),
        (
            {"header": "yes"},
            TypeError,
            r"header should be a bool \(True or False\), but got header=.yes.",
        ),
    ],
)
def test_bad_arguments(tmp_path, frame, kwargs, exc, pattern):
    p = write(frame, tmp_path / "d", "csv")
    kwargs = {"target": "y", **kwargs}
    with pytest.raises(exc, match=pattern):
        CsvDataset(p, **kwargs)


# =========================================================================== task and targets
@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["no", "yes", "no"], "binary"),
        (["cat", "dog", "emu", "cat"], "multiclass"),
        (["only"], "multiclass"),
        ([True, False, True], "binary"),
        ([0.5, 1.0, 2.25], "regression"),
        ([0.0, 1.0, 1.0], "binary"),
        ([0, 1, 1, 0], "binary"),
        ([-1, 1, 1], "binary"),
        ([3, 7, 3], "binary"),
        ([0, 1, 2, 3, 4, 5, 6], "multiclass"),
        ([1, 2, 3, 4, 5, 6, 7], "multiclass"),
        ([1.0, 2.0, 3.0], "multiclass"),
        ([0, 1, 2, 5], "regression"),  # not 0..K-1 nor 1..K
        ([2, 3, 4], "regression"),
        (list(range(101)), "regression"),  # K > 100
        (list(range(100)), "multiclass"),
        ([152, 185, 180, 196, 142], "regression"),
    ],
)
def test_infer_task_rule(values, task):
    assert infer_task(values) == task
    assert infer_task(pa.chunked_array([pa.array(values)])) == task


def test_infer_task_ignores_missing_values():
    assert infer_task(pa.array([0, 1, None, 1])) == "binary"
    assert infer_task(np.array([0.0, 1.0, np.nan, 2.0])) == "multiclass"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("y", "task", "dtype", "row_shape"),
    [
        ([0.5, 1.5, 2.5, 3.5, 4.5, 5.5], "regression", torch.float32, (1,)),
        ([0, 1, 1, 0, 1, 0], "binary", torch.float32, (1,)),
        ([0, 1, 2, 0, 1, 2], "multiclass", torch.int64, ()),
    ],
)
def test_target_dtype_and_shape_follow_the_pytorch_recipe(tmp_path, fmt, y, task, dtype, row_shape):
    df = pd.DataFrame({"a": np.arange(6.0), "b": np.arange(6.0) ** 2, "y": y})
    ds = READERS[fmt](write(df, tmp_path / "d", fmt), target="y")
    assert ds.task == task
    assert ds.targets.dtype == dtype
    assert ds.targets.shape == (6, *row_shape)
    x, t = ds[0]
    assert x.dtype == torch.float32 and x.shape == (2,)
    assert t.shape == row_shape and t.dtype == dtype
    # a DataLoader batch lines up with nn.Linear outputs and the standard loss
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert yb.shape == (4, *row_shape)
    n_out = 3 if task == "multiclass" else 1
    out = nn.Linear(2, n_out)(xb)
    loss = {
        "regression": nn.MSELoss(),
        "binary": nn.BCEWithLogitsLoss(),
        "multiclass": nn.CrossEntropyLoss(),
    }[task]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MSELoss warns on [B, 1] vs [B] broadcasting
        loss(out, yb)
    if task != "multiclass":
        assert out.shape == yb.shape


@pytest.mark.parametrize("fmt", FORMATS)
def test_explicit_task_overrides_the_inference(tmp_path, fmt):
    df = pd.DataFrame({"a": np.arange(6.0), "y": [0, 1, 1, 0, 1, 0]})
    p = write(df, tmp_path / "d", fmt)
    reg = READERS[fmt](p, target="y", task="regression")
    assert reg.task == "regression" and reg.classes_ is None
    assert reg.targets.dtype == torch.float32 and reg.targets.shape == (6, 1)
    mc = READERS[fmt](p, target="y", task="multiclass")
    assert mc.task == "multiclass" and mc.targets.dtype == torch.int64
    assert mc.targets.tolist() == [0, 1, 1, 0, 1, 0]
    assert mc.n_classes == 2


def test_text_target_under_regression_names_the_cell(tmp_path):
    p = write_text(tmp_path / "t.csv", "a,y\n1,2.5\n2,high\n")
    with pytest.raises(ValueError, match=r"'y'.*should be numeric.*'high'"):
        CsvDataset(p, target="y", task="regression")


# =========================================================================== class encoding
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("labels", "task"),
    [
        (["dog", "cat", "emu", "cat", "dog", "ant"], "multiclass"),
        (["yes", "no", "no", "yes", "yes", "no"], "binary"),
        ([True, False, False, True, True, True], "binary"),
        ([7, 1, 2, 3, 4, 5, 6, 7, 1], "multiclass"),  # UCI-style 1..7
        ([0, 6, 2, 3, 4, 5, 1, 1, 0], "multiclass"),
        ([10, 20, 10, 20, 10, 20], "binary"),
        ([-1, 1, 1, -1, 1, -1], "binary"),
    ],
)
def test_class_labels_are_encoded_in_sorted_order(tmp_path, fmt, labels, task):
    df = pd.DataFrame({"a": np.arange(len(labels), dtype=np.float64), "y": labels})
    ds = READERS[fmt](write(df, tmp_path / "d", fmt), target="y")
    enc = LabelEncoder().fit(labels)  # the oracle: sorted classes, codes 0..K-1
    assert ds.task == task
    np.testing.assert_array_equal(ds.classes_, enc.classes_)
    assert ds.n_classes == len(enc.classes_)
    np.testing.assert_array_equal(ds.targets.numpy().reshape(-1), enc.transform(labels))
    # decoding the indices gives back the labels
    np.testing.assert_array_equal(ds.classes_[ds.targets.numpy().reshape(-1).astype(int)], labels)


def test_numeric_looking_labels_with_a_late_text_label_are_all_text(tmp_path):
    # the first block looks numeric; a later label is text: every label is read as text
    rows = "".join(f"{i},{i % 3}\n" for i in range(9)) + "9,other\n"
    p = write_text(tmp_path / "l.csv", "a,y\n" + rows)
    ds = CsvDataset(p, target="y")
    assert ds.task == "multiclass"
    assert list(ds.classes_) == ["0", "1", "2", "other"]
    assert ds.targets.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 3]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("labels", "found"),
    [(["a", "b", "c", "a"], "3"), ([0, 1, 2, 1], "3"), (["a", "a", "a", "a"], "1")],
)
def test_binary_target_needs_exactly_two_classes(tmp_path, fmt, labels, found):
    df = pd.DataFrame({"x": np.arange(4.0), "label": labels})
    p = write(df, tmp_path / "d", fmt)
    with pytest.raises(errors.TargetError, match=r"binary target 'label'") as ei:
        READERS[fmt](p, target="label", task="binary")
    msg = str(ei.value)
    assert str(p) in msg
    assert "exactly 2 classes" in msg and f"found {found}" in msg
    assert isinstance(ei.value, ValueError)
    if found == "3":
        assert "task='multiclass'" in msg


# =========================================================================== categorical
def _cat_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "num": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "color": ["red", "blue", "red", "green", "blue", "red"],
            "size": [3, 1, 2, 10, 1, 2],
            "y": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
        }
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("categorical", [["color"], ["color", "size"], [1, "size"], ["size"]])
def test_categorical_columns_are_one_hot_encoded(tmp_path, fmt, categorical):
    df = _cat_frame()
    cats = [df.columns[c] if isinstance(c, int) else c for c in categorical]
    features = ["num", "color", "size"] if "color" in cats else ["num", "size"]
    p = write(df, tmp_path / "d", fmt)
    ds = READERS[fmt](p, target="y", features=features, categorical=categorical)
    oracle = pd.get_dummies(df[features], columns=cats, prefix_sep="=", dtype=np.float32)
    # one-hot blocks stay where their column was; levels in sorted order
    expected_names = []
    for c in features:
        if c in cats:
            expected_names += [f"{c}={v}" for v in sorted(df[c].unique())]
        else:
            expected_names.append(c)
    assert ds.feature_names == expected_names
    np.testing.assert_array_equal(ds.features.numpy(), oracle[expected_names].to_numpy())
    for c in cats:
        assert ds.categories_[c] == sorted(df[c].unique())


@pytest.mark.parametrize("kind", ["str", "object", "category", "category_unordered_levels"])
def test_categorical_from_pandas_string_and_category_dtypes(kind):
    df = _cat_frame()
    if kind == "object":
        df["color"] = df["color"].astype(object)
    elif kind == "category":
        df["color"] = df["color"].astype("category")
    elif kind == "category_unordered_levels":
        df["color"] = pd.Categorical(df["color"], categories=["red", "green", "blue", "unused"])
    ds = TabularDataset.from_pandas(df, target="y", categorical=["color"])
    oracle = pd.get_dummies(df["color"].astype(str), dtype=np.float32)
    assert ds.feature_names == ["num", "color=blue", "color=green", "color=red", "size"]
    np.testing.assert_array_equal(
        ds.features[:, 1:4].numpy(), oracle[["blue", "green", "red"]].to_numpy()
    )


def test_categorical_from_dictionary_encoded_parquet(tmp_path):
    df = _cat_frame()
    table = pa.Table.from_pandas(df, preserve_index=False)
    i = table.schema.get_field_index("color")
    table = table.set_column(i, "color", table.column("color").dictionary_encode())
    pq.write_table(table, tmp_path / "dict.parquet")
    assert pa.types.is_dictionary(pq.read_schema(tmp_path / "dict.parquet").field("color").type)
    ds = ParquetDataset(tmp_path / "dict.parquet", target="y", categorical=["color"])
    assert ds.feature_names == ["num", "color=blue", "color=green", "color=red", "size"]
    oracle = pd.get_dummies(df["color"], dtype=np.float32)
    np.testing.assert_array_equal(ds.features[:, 1:4].numpy(), oracle.to_numpy())
    with pytest.raises(errors.ParseError, match=r"categorical=\['color'\]"):
        ParquetDataset(tmp_path / "dict.parquet", target="y")


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_feature_without_categorical_is_an_error_suggesting_it(tmp_path, fmt):
    p = write(_cat_frame(), tmp_path / "d", fmt)
    with pytest.raises(errors.ParseError, match=r"column 'color'") as ei:
        READERS[fmt](p, target="y")
    msg = str(ei.value)
    assert "should be numeric" in msg and "'red'" in msg and "row 0" in msg
    assert "categorical=['color']" in msg and str(p) in msg
    assert isinstance(ei.value, ValueError)


def test_categorical_must_be_a_feature(tmp_path):
    p = write(_cat_frame(), tmp_path / "d", "csv")
    with pytest.raises(errors.SchemaError, match=r"categorical column 'color' is not one of"):
        CsvDataset(p, target="y", features=["num"], categorical=["color"])


def test_from_pandas_mixed_type_column_suggests_categorical():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "m": [1, "x", 2.5], "y": [0.0, 1.0, 0.0]})
    with pytest.raises(errors.SchemaError, match=r"column 'm'.*categorical=\['m'\]"):
        TabularDataset.from_pandas(df, target="y")
    ds = TabularDataset.from_pandas(df, target="y", categorical=["m"])
    assert ds.feature_names == ["a", "m=1", "m=2.5", "m=x"]


# =========================================================================== missing values
def _missing_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
            "b": [1.0, 2.0, 3.0, np.inf, 5.0, np.nan],
            "c": [9.0, 8.0, 7.0, 6.0, 5.0, 4.0],
            "y": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
        }
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_error_names_columns_counts_and_first_row(tmp_path, fmt):
    p = write(_missing_frame(), tmp_path / "d", fmt)
    with pytest.raises(errors.MissingValueError, match=r"missing values in") as ei:
        READERS[fmt](p, target="y")
    msg = str(ei.value)
    assert str(p) in msg
    assert re.search(r"column 'a': 1 missing .* first at row 1\b", msg)
    assert re.search(r"column 'b': 2 missing .* first at row 3\b", msg)
    assert "'c'" not in msg
    assert "missing='drop'" in msg and "missing='mean'" in msg
    assert isinstance(ei.value, ValueError)
    if fmt == "csv":  # text files also give the line (header is line 1)
        assert "(line 3)" in msg and "(line 5)" in msg


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_missing_error_on_each_kind_of_missing_cell(tmp_path, fmt, bad):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [0.5, 1.5, 2.5]})
    df["a"] = df["a"].astype(object)
    df.loc[2, "a"] = bad
    df["a"] = df["a"].astype(np.float64)
    p = write(df, tmp_path / "d", fmt)
    with pytest.raises(errors.MissingValueError, match=r"column 'a': 1 missing .* row 2"):
        READERS[fmt](p, target="y")


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_in_the_target_is_reported(tmp_path, fmt):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": ["u", None, "v", "u"]})
    p = write(df, tmp_path / "d", fmt)
    with pytest.raises(errors.MissingValueError, match=r"column 'y': 1 missing .* row 1"):
        READERS[fmt](p, target="y")
    with pytest.warns(UserWarning, match=r"dropped 1 of 4 rows"):
        ds = READERS[fmt](p, target="y", missing="drop")
    assert ds.task == "binary" and ds.targets.ravel().tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(errors.MissingValueError, match=r"cannot fill the target 'y'"):
        READERS[fmt](p, target="y", missing="mean")


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_drop_drops_rows_and_reports_how_many(tmp_path, fmt):
    df = _missing_frame()
    p = write(df, tmp_path / "d", fmt)
    with pytest.warns(UserWarning, match=r"dropped 3 of 6 rows") as rec:
        ds = READERS[fmt](p, target="y", missing="drop")
    assert rec[0].filename == __file__  # the warning points at the caller's line
    assert ds.n_dropped_ == 3
    kept = df.replace([np.inf, -np.inf], np.nan).dropna()
    assert_frame_tensors(ds, kept, "y")


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_mean_fills_with_the_column_mean_and_records_it(tmp_path, fmt):
    df = _missing_frame()
    p = write(df, tmp_path / "d", fmt)
    ds = READERS[fmt](p, target="y", missing="mean")
    clean = df.replace([np.inf, -np.inf], np.nan)
    means = clean.mean()  # pandas skips NaN: the oracle
    assert set(ds.fill_values_) == {"a", "b"}
    assert ds.fill_values_["a"] == pytest.approx(means["a"])
    assert ds.fill_values_["b"] == pytest.approx(means["b"])
    expected = clean[["a", "b", "c"]].fillna(means).to_numpy(np.float32)
    np.testing.assert_allclose(ds.features.numpy(), expected, rtol=1e-6)
    assert ds.n_dropped_ == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("missing", MISSING_POLICIES)
def test_no_nan_ever_reaches_a_tensor(tmp_path, fmt, missing):
    p = write(_missing_frame(), tmp_path / "d", fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            ds = READERS[fmt](p, target="y", missing=missing)
        except errors.MissingValueError:
            assert missing == "error"
            return
    assert missing != "error"
    assert torch.isfinite(ds.features).all() and torch.isfinite(ds.targets).all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_in_an_unused_column_is_not_read(tmp_path, fmt):
    df = _missing_frame()
    p = write(df, tmp_path / "d", fmt)
    ds = READERS[fmt](p, target="y", features=["c"])
    assert_frame_tensors(ds, df[["c", "y"]], "y")


@pytest.mark.parametrize("missing", ["error", "drop", "mean"])
def test_missing_in_a_categorical_column(tmp_path, missing):
    p = write_text(tmp_path / "m.csv", "a,c,y\n1,red,0.5\n2,,1.5\n3,blue,2.5\n")
    if missing == "error":
        with pytest.raises(errors.MissingValueError, match=r"column 'c': 1 missing .* row 1"):
            CsvDataset(p, target="y", categorical=["c"])
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds = CsvDataset(p, target="y", categorical=["c"], missing=missing)
    assert ds.feature_names == ["a", "c=blue", "c=red"]
    assert torch.isfinite(ds.features).all()
    if missing == "drop":
        np.testing.assert_array_equal(ds.features.numpy(), f32([[1, 0, 1], [3, 1, 0]]))
    else:  # the fill of a one-hot column is the level's frequency
        np.testing.assert_array_equal(ds.features.numpy()[1], f32([2, 0.5, 0.5]))


def test_missing_from_arrays_and_all_missing_column():
    X = np.array([[1.0, np.nan], [2.0, 3.0], [3.0, 5.0]])
    with pytest.raises(errors.MissingValueError, match=r"column '1': 1 missing .* row 0"):
        TabularDataset.from_numpy(X, [0.5, 1.5, 2.5])
    ds = TabularDataset.from_numpy(X, [0.5, 1.5, 2.5], missing="mean")
    assert ds.features[0, 1].item() == 4.0 and ds.fill_values_ == {"1": 4.0}
    with pytest.raises(errors.MissingValueError, match=r"column '0' .* no finite value"):
        TabularDataset.from_numpy(np.full((3, 1), np.nan), [0.5, 1.5, 2.5], missing="mean")


# =========================================================================== indexing
@pytest.fixture
def ds12(frame) -> TabularDataset:
    return TabularDataset.from_pandas(frame, target="y", task="regression")


def test_len_and_single_rows(ds12, frame):
    assert len(ds12) == 12
    X = f32(frame[["a", "b", "c"]].to_numpy(np.float64))
    for i in (0, 5, 11, -1, -12, np.int64(3)):
        x, y = ds12[i]
        assert x.dtype == torch.float32 and x.shape == (3,)
        np.testing.assert_array_equal(x.numpy(), X[i])
        assert y.item() == np.float32(frame["y"].iloc[int(i)])
    for bad in (12, -13):
        with pytest.raises(IndexError, match=rf"index {bad} is out of range .* 12 rows"):
            ds12[bad]


@pytest.mark.parametrize(
    "index",
    [
        [3, 0, 7, 3],
        slice(2, 9, 3),
        slice(None, None, -1),
        torch.tensor([11, 1, -1]),
        np.array([4, 5]),
        torch.tensor([], dtype=torch.int64),
        "mask",
    ],
)
def test_batch_indexing_equals_stacked_rows(ds12, index):
    if isinstance(index, str):
        index = torch.arange(12) % 3 == 0
        rows = [0, 3, 6, 9]
    elif isinstance(index, slice):
        rows = list(range(12))[index]
    else:
        rows = [int(i) for i in index]
    xb, yb = ds12[index]
    assert xb.shape == (len(rows), 3) and yb.shape == (len(rows), 1)
    if rows:
        xs, ys = zip(*(ds12[i] for i in rows))
        assert torch.equal(xb, torch.stack(xs))
        assert torch.equal(yb, torch.stack(ys))


def test_bad_batch_indices(ds12):
    with pytest.raises(IndexError, match=r"index 12 is out of range"):
        ds12[[0, 12]]
    with pytest.raises(IndexError, match=r"indices should be integers, but got dtype"):
        ds12[torch.tensor([0.0, 1.0])]
    with pytest.raises(IndexError, match=r"boolean mask should have shape \(12,\), but got \(3,\)"):
        ds12[torch.tensor([True, False, True])]


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_plain_dataloader_batches_equal_stacked_rows(task):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 3)).astype(np.float32)
    y = {"regression": rng.standard_normal(10), "binary": np.arange(10) % 2,
         "multiclass": np.arange(10) % 3}[task]  # fmt: skip
    ds = TabularDataset.from_numpy(X, y, task=task)
    batches = list(DataLoader(ds, batch_size=4, shuffle=False))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    for k, (xb, yb) in enumerate(batches):
        idx = list(range(4 * k, min(4 * k + 4, 10)))
        xr, yr = ds[idx]
        assert torch.equal(xb, xr) and torch.equal(yb, yr)
        assert xb.dtype == torch.float32
        assert yb.shape == ((len(idx), 1) if task != "multiclass" else (len(idx),))


def test_features_only_rows_with_a_dataloader():
    ds = TabularDataset(torch.arange(12.0).reshape(6, 2))
    xb = next(iter(DataLoader(ds, batch_size=4)))
    assert torch.equal(xb, ds[[0, 1, 2, 3]])


# =========================================================================== tensor layout
def _assert_layout(ds: TabularDataset) -> None:
    X, y = ds.features, ds.targets
    assert X.dtype == torch.float32 and X.ndim == 2
    assert X.is_contiguous() and X.stride() == (X.shape[1], 1)
    assert y.is_contiguous()
    # the same tensors on every access: no copies
    assert ds.features is X and ds.features.data_ptr() == X.data_ptr()
    assert ds.targets is y
    # writable: an in-place change is seen by indexing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X[0, 0] = 123.0
        y[0] = 7
    assert ds[0][0][0].item() == 123.0
    assert ds[0][1].reshape(-1)[0].item() == 7
    assert X.numpy().flags.writeable and X.numpy().flags.c_contiguous


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_file_tensors_are_contiguous_row_major_writable(tmp_path, frame, fmt, task):
    df = frame.assign(y=np.arange(12) % 3)
    ds = READERS[fmt](write(df, tmp_path / "d", fmt), target="y", task=task)
    _assert_layout(ds)


def test_pandas_block_and_arrow_zero_copy_inputs_are_copied_once():
    # a float32 DataFrame built from one 2-D array is one column-major block in pandas
    block = np.arange(30, dtype=np.float32).reshape(10, 3)
    df = pd.DataFrame(block, columns=["a", "b", "y"])
    ds = TabularDataset.from_pandas(df, target="y", task="regression")
    _assert_layout(ds)
    assert df.iloc[0, 0] == 0.0  # the DataFrame is not aliased
    # an Arrow table over read-only, zero-copy buffers
    a = np.arange(10, dtype=np.float32)
    y = np.linspace(0, 1, 10, dtype=np.float32)
    table = pa.table({"a": pa.array(a), "y": pa.array(y)})
    assert not table.column("y").to_numpy().flags.writeable
    ds = TabularDataset.from_arrow(table, target="y", task="regression")
    _assert_layout(ds)
    assert table.column("a")[0].as_py() == 0.0 and table.column("y")[0].as_py() == 0.0
    assert a[0] == 0.0 and y[0] == 0.0


@pytest.mark.parametrize("layout", ["fortran", "readonly", "strided", "tensor_t", "int64"])
def test_array_inputs_become_contiguous_writable_float32(layout):
    base = np.arange(20, dtype=np.float64).reshape(5, 4)
    X = {
        "fortran": np.asfortranarray(base),
        "readonly": base.copy(),
        "strided": np.arange(40.0).reshape(5, 8)[:, ::2],
        "tensor_t": torch.arange(20.0).reshape(4, 5).T,
        "int64": base.astype(np.int64),
    }[layout]
    if layout == "readonly":
        X.flags.writeable = False
    y = np.linspace(0, 1, 5)
    ds = TabularDataset.from_numpy(X, y, task="regression")
    oracle = np.asarray(X, dtype=np.float32)
    np.testing.assert_array_equal(ds.features.numpy(), oracle)
    _assert_layout(ds)
    ds2 = TabularDataset(X, np.asarray(y, np.float32), task="regression")
    _assert_layout(ds2)


# =========================================================================== constructors
def test_from_pandas_equals_the_frame(frame):
    ds = TabularDataset.from_pandas(frame.set_index("b"), target="y", task="regression")
    # the index is ignored; positions count the columns
    assert ds.feature_names == ["a", "c"]
    ds = TabularDataset.from_pandas(frame, target=-1, task="regression")
    assert_frame_tensors(ds, frame, "y")


def test_from_pandas_non_string_column_names():
    df = pd.DataFrame(np.arange(12.0).reshape(4, 3))
    ds = TabularDataset.from_pandas(df, target=-1, task="regression")
    assert ds.feature_names == ["0", "1"] and ds.target_name == "2"


def test_from_arrow_equals_the_table(frame):
    table = pa.Table.from_pandas(frame, preserve_index=False)
    ds = TabularDataset.from_arrow(table, target="y", task="regression")
    assert_frame_tensors(ds, frame, "y")
    with pytest.raises(TypeError, match=r"table should be a pyarrow.Table, but got DataFrame"):
        TabularDataset.from_arrow(frame, target="y")


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_from_numpy_and_from_tensors(kind):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((9, 3)).astype(np.float32)
    labels = np.array(["b", "a", "c"] * 3)
    if kind == "numpy":
        ds = TabularDataset.from_numpy(X, labels, feature_names=["p", "q", "r"], target_name="t")
        assert ds.feature_names == ["p", "q", "r"] and ds.target_name == "t"
        assert list(ds.classes_) == ["a", "b", "c"]
        assert ds.targets.tolist() == [1, 0, 2] * 3
    else:
        ds = TabularDataset.from_tensors(torch.from_numpy(X), torch.tensor([1, 0, 2] * 3))
        assert ds.feature_names == ["0", "1", "2"]
        assert ds.task == "multiclass" and ds.targets.tolist() == [1, 0, 2] * 3
    np.testing.assert_array_equal(ds.features.numpy(), X)
    reg = TabularDataset.from_tensors(torch.from_numpy(X), torch.linspace(0, 1, 9).reshape(9, 1))
    assert reg.task == "regression" and reg.targets.shape == (9, 1)
    with pytest.raises(ValueError, match=r"same number of rows, but got 9 and 4"):
        TabularDataset.from_numpy(X, np.arange(4))


def test_init_from_encoded_tensors_validates():
    X = torch.zeros(4, 2)
    ds = TabularDataset(X, torch.tensor([0, 1, 2, 1]), task="multiclass", classes=[5, 6, 7])
    assert ds.targets.dtype == torch.int64 and ds.n_classes == 3
    with pytest.raises(ValueError, match=r"task should be one of"):
        TabularDataset(X, torch.zeros(4))
    with pytest.raises(ValueError, match=r"same number of rows, but got 4 and 3"):
        TabularDataset(X, torch.zeros(3), task="regression")
    with pytest.raises(ValueError, match=r"one name per feature column \(2\), but got 1"):
        TabularDataset(X, feature_names=["a"])
    assert set(TASKS) == {"regression", "binary", "multiclass"}


# =========================================================================== split
@pytest.fixture
def ds_cls() -> TabularDataset:
    n = 60
    X = np.stack([np.arange(n), np.arange(n) % 7], axis=1).astype(np.float32)  # col 0 = row id
    y = np.array([0] * 30 + [1] * 20 + [2] * 10)
    return TabularDataset.from_numpy(X, y, task="multiclass")


@pytest.mark.parametrize(
    ("fractions", "sizes"), [((0.5, 0.5), [30, 30]), ((0.7, 0.2, 0.1), [42, 12, 6])]
)
def test_split_sizes_disjoint_and_complete(ds_cls, fractions, sizes):
    parts = split(ds_cls, fractions, seed=0)
    assert [len(p) for p in parts] == sizes
    ids = torch.cat([p.features[:, 0] for p in parts]).long()
    assert sorted(ids.tolist()) == list(range(60))
    for p in parts:
        assert isinstance(p, TabularDataset)
        # each row keeps its target
        assert torch.equal(p.targets, ds_cls.targets[p.features[:, 0].long()])
        assert p.feature_names == ds_cls.feature_names
        np.testing.assert_array_equal(p.classes_, ds_cls.classes_)
        assert p.task == ds_cls.task
        # fast whole-batch indexing kept: contiguous tensors, batch == stacked rows
        assert p.features.is_contiguous() and p.targets.is_contiguous()
        xb, yb = p[[0, 2, 1]]
        assert torch.equal(xb, torch.stack([p[i][0] for i in (0, 2, 1)]))
        assert torch.equal(yb, torch.stack([p[i][1] for i in (0, 2, 1)]))


def test_split_seed_is_reproducible_and_leaves_global_rng_alone(ds_cls):
    state = torch.get_rng_state()
    a = split(ds_cls, (0.8, 0.2), seed=42)
    b = split(ds_cls, (0.8, 0.2), seed=42)
    c = split(ds_cls, (0.8, 0.2), seed=43)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a[1].features, b[1].features)
    assert not torch.equal(a[1].features, c[1].features)
    ordered = split(ds_cls, (0.5, 0.5), shuffle=False)
    assert ordered[0].features[:, 0].tolist() == list(range(30))


@pytest.mark.parametrize("fractions", [(0.8, 0.2), (0.6, 0.2, 0.2)])
def test_split_stratified_keeps_class_proportions(ds_cls, fractions):
    parts = split(ds_cls, fractions, seed=1, stratify=True)
    class_counts = np.bincount(ds_cls.targets.numpy())  # 30, 20, 10
    for p, f in zip(parts, fractions):
        got = np.bincount(p.targets.numpy(), minlength=3)
        assert np.all(np.abs(got - f * class_counts) <= 1), (got, f * class_counts)
    # without stratification a small class can easily be missed; with it, never
    assert all((np.bincount(p.targets.numpy(), minlength=3) > 0).all() for p in parts)


def test_split_stratified_binary(tmp_path):
    y = np.array([0] * 40 + [1] * 10)
    ds = TabularDataset.from_numpy(np.arange(50.0), y, task="binary")
    tr, te = split(ds, (0.8, 0.2), seed=0, stratify=True)
    assert te.targets.sum().item() == 2 and tr.targets.sum().item() == 8


@pytest.mark.parametrize(
    ("fractions", "kwargs", "pattern"),
    [
        ((0.5, 0.4), {}, r"fractions should sum to 1, but got sum\(fractions\)=0.9"),
        ((1.0,), {}, r"fractions should be two or more numbers between 0 and 1"),
        ((0.995, 0.005), {}, r"leaves part\(s\) \[1\] empty"),
    ],
)
def test_split_bad_fractions(ds_cls, fractions, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        split(ds_cls, fractions, seed=0, **kwargs)


def test_split_stratify_needs_classification():
    ds = TabularDataset.from_numpy(np.arange(10.0), np.linspace(0, 1, 10), task="regression")
    with pytest.raises(ValueError, match=r"stratify=True needs a classification dataset"):
        split(ds, (0.5, 0.5), stratify=True)


# =========================================================================== bad input
@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_file(tmp_path, fmt):
    p = tmp_path / f"nope.{fmt}"
    with pytest.raises(errors.DataFileNotFoundError, match=re.escape(str(p))) as ei:
        READERS[fmt](p, target=0)
    assert isinstance(ei.value, FileNotFoundError) and "does not exist" in str(ei.value)
    with pytest.raises(FileNotFoundError, match=re.escape(str(p))):
        read_dataset(p, target=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_directory_and_unmatched_glob(tmp_path, fmt):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "notes.md").write_text("not data")
    with pytest.raises(errors.DataFileNotFoundError, match=re.escape(str(d))) as ei:
        READERS[fmt](d, target=0)
    assert "no CSV or Parquet files" in str(ei.value) and ".csv" in str(ei.value)
    pattern = str(tmp_path / f"*.{fmt}")
    with pytest.raises(FileNotFoundError, match=r"glob pattern .* matches no data files"):
        READERS[fmt](pattern, target=0)
    with pytest.raises(FileNotFoundError, match=r"empty list"):
        READERS[fmt]([], target=0)


@pytest.mark.parametrize(
    ("text", "kwargs", "pattern"),
    [
        ("", {}, r"is empty; expected a header line and data rows"),
        ("\n\n", {}, r"is empty; expected a header line and data rows"),
        ("", {"header": False}, r"is empty; expected data rows"),
        ("a,b,y\n", {}, r"has a header but no data rows"),
        ("a,b,y", {}, r"has a header but no data rows"),  # no final newline
        ("# only\n# comments\n", {"comment": "#"}, r"empty after skipping comment lines"),
        ("title\na,b,y\n", {"skip_rows": 1}, r"header but no data rows after skipping the first"),
    ],
)
def test_empty_csv_or_header_only(tmp_path, text, kwargs, pattern):
    p = write_text(tmp_path / "e.csv", text)
    with pytest.raises(errors.EmptyDataError, match=pattern) as ei:
        CsvDataset(p, target=0, **kwargs)
    assert str(p) in str(ei.value) and isinstance(ei.value, ValueError)


def test_empty_parquet(tmp_path):
    p = tmp_path / "e.parquet"
    pd.DataFrame({"a": pd.Series([], dtype=float), "y": pd.Series([], dtype=float)}).to_parquet(p)
    with pytest.raises(errors.EmptyDataError, match=rf"{re.escape(str(p))} has no data rows"):
        ParquetDataset(p, target="y")


def test_one_empty_file_among_several(tmp_path, frame):
    write(frame, tmp_path / "d" / "a", "csv")
    empty = write_text(tmp_path / "d" / "b.csv", "a,b,c,y\n")
    with pytest.raises(errors.EmptyDataError, match=re.escape(str(empty))):
        CsvDataset(tmp_path / "d", target="y")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"target": "label"}, "target column 'label'"),
        ({"target": "y", "features": ["a", "zz"]}, "feature column 'zz'"),
        ({"target": "y", "categorical": ["qq"]}, "categorical column 'qq'"),
    ],
)
def test_column_not_found_lists_the_columns(tmp_path, frame, fmt, kwargs, what):
    p = write(frame, tmp_path / "d", fmt)
    with pytest.raises(errors.ColumnNotFoundError, match=re.escape(what) + " not found") as ei:
        READERS[fmt](p, **kwargs)
    msg = str(ei.value)
    assert str(p) in msg and "columns are ['a', 'b', 'c', 'y']" in msg
    assert isinstance(ei.value, KeyError) and isinstance(ei.value, ValueError)
    assert not msg.startswith(("'", '"'))  # not the repr KeyError would give


def test_column_name_given_as_a_digit_string_hints_at_positions(tmp_path, frame):
    p = write(frame, tmp_path / "d", "csv")
    with pytest.raises(KeyError, match=r"to select by position pass an int"):
        CsvDataset(p, target="1")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("pos", "what"), [(4, "target"), (-5, "target"), (9, "feature")])
def test_position_out_of_range(tmp_path, frame, fmt, pos, what):
    p = write(frame, tmp_path / "d", fmt)
    kwargs = {"target": pos} if what == "target" else {"target": "y", "features": [0, pos]}
    with pytest.raises(errors.ColumnNotFoundError, match=rf"{what} position {pos} is out of range"):
        READERS[fmt](p, **kwargs)
    with pytest.raises(
        KeyError, match=r"with 4 columns \['a', 'b', 'c', 'y'\].*0\.\.3 or -4\.\.-1"
    ):
        READERS[fmt](p, **kwargs)


@pytest.mark.parametrize(
    ("text", "line", "found", "expected"),
    [
        ("a,b,y\n1,2,3\n4,5\n6,7,8\n", 3, 2, 3),
        ("a,b,y\n1,2,3\n4,5,6\n6,7,8,9\n", 4, 4, 3),
    ],
)
def test_ragged_csv_row_gives_the_line(tmp_path, text, line, found, expected):
    p = write_text(tmp_path / "r.csv", text)
    with pytest.raises(errors.ParseError, match=rf"line {line} has {found} fields") as ei:
        CsvDataset(p, target="y")
    msg = str(ei.value)
    assert str(p) in msg and f"header has {expected}" in msg and isinstance(ei.value, ValueError)


def test_ragged_row_counts_skipped_and_comment_lines(tmp_path):
    text = "title\n# c\n1,2,3\n# c\n4,5\n"
    p = write_text(tmp_path / "r.csv", text)
    with pytest.raises(errors.ParseError, match=r"line 5 has 2 fields, but the first row has 3"):
        CsvDataset(p, header=False, skip_rows=1, comment="#", target=-1)


def test_non_numeric_cell_gives_column_row_line_and_value(tmp_path):
    p = write_text(tmp_path / "n.csv", "a,b,y\n1,2,3\n4,5,6\n7,oops,9\n")
    with pytest.raises(errors.ParseError, match=r"column 'b'") as ei:
        CsvDataset(p, target="y")
    msg = str(ei.value)
    assert str(p) in msg and "should be numeric" in msg
    assert "row 2" in msg and "line 4" in msg and "'oops'" in msg
    assert "categorical=['b']" in msg and isinstance(ei.value, ValueError)


def test_non_numeric_cell_deep_in_a_large_csv(tmp_path):
    # the bad cell sits in a later parsing block than the first one
    n = 300_000
    body = "\n".join(f"{i},{i * 0.5}" for i in range(n))
    p = write_text(tmp_path / "big.csv", f"a,y\n{body}\n{n},bad\n")
    with pytest.raises(
        errors.ParseError, match=rf"column 'y' .* row {n} of .*\(line {n + 2}\) has 'bad'"
    ):
        CsvDataset(p, target="y", task="regression")


def test_non_numeric_cell_in_parquet_text_column(tmp_path):
    df = pd.DataFrame({"a": ["1.5", "2", "x7"], "y": [0.0, 1.0, 0.0]})
    p = write(df, tmp_path / "d", "parquet")
    with pytest.raises(errors.ParseError, match=r"column 'a' .* should be numeric.* row 2 .*'x7'"):
        ParquetDataset(p, target="y")
    # numeric text is read as numbers
    df["a"] = ["1.5", "2", "7"]
    ds = ParquetDataset(write(df, tmp_path / "e", "parquet"), target="y")
    assert ds.features.ravel().tolist() == [1.5, 2.0, 7.0]


def test_nan_under_missing_error_in_a_second_file_names_that_file(tmp_path, frame):
    a = write(frame, tmp_path / "d" / "a", "csv")
    bad = frame.copy()
    bad.loc[4, "c"] = np.nan
    b = write(bad, tmp_path / "d" / "b", "csv")
    with pytest.raises(errors.MissingValueError, match=r"column 'c': 1 missing") as ei:
        CsvDataset([a, b], target="y")
    assert f"row 4 of {b} (line 6)" in str(ei.value)


@pytest.mark.parametrize("case", ["missing_column", "renamed_column", "different_type"])
def test_parquet_files_with_different_schemas(tmp_path, frame, case):
    d = tmp_path / "d"
    a = write(frame, d / "part0", "parquet")
    other = frame.copy()
    if case == "missing_column":
        other = other.drop(columns="c")
    elif case == "renamed_column":
        other = other.rename(columns={"c": "cc"})
    else:
        other["c"] = other["c"].astype(str)
    b = write(other, d / "part1", "parquet")
    with pytest.raises(errors.SchemaError, match=r"different schemas: column 'c'") as ei:
        ParquetDataset(d, target="y")
    msg = str(ei.value)
    assert str(a) in msg and str(b) in msg and isinstance(ei.value, ValueError)


def test_parquet_files_with_only_different_int_widths_are_fine(tmp_path, frame):
    d = tmp_path / "d"
    write(frame.iloc[:6], d / "p0", "parquet")
    write(frame.iloc[6:].astype({"b": np.int32}), d / "p1", "parquet")
    assert_frame_tensors(ParquetDataset(d, target="y", task="regression"), frame, "y")


def test_csv_files_with_different_columns(tmp_path, frame):
    a = write(frame, tmp_path / "d" / "a", "csv")
    b = write(frame.drop(columns="b"), tmp_path / "d" / "b", "csv")
    with pytest.raises(errors.SchemaError, match=r"different columns") as ei:
        CsvDataset(tmp_path / "d", target="y")
    assert str(a) in str(ei.value) and str(b) in str(ei.value) and "['b']" in str(ei.value)


@pytest.mark.parametrize("damage", ["truncated", "garbled", "no_footer", "text"])
def test_corrupt_or_truncated_parquet(tmp_path, frame, damage):
    good = write(pd.concat([frame] * 50, ignore_index=True), tmp_path / "good", "parquet")
    raw = bytearray(good.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    elif damage == "garbled":  # keep the magic bytes and footer, break the pages
        raw[8:400] = b"\xff" * 392
    elif damage == "no_footer":
        raw = raw[:-8]
    else:
        raw = bytearray(b"PAR1 this is not really a parquet file at all")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(raw))
    with pytest.raises(errors.ParseError, match=re.escape(str(bad))) as ei:
        ParquetDataset(bad, target="y")
    msg = str(ei.value)
    assert "not a readable Parquet file" in msg and isinstance(ei.value, ValueError)
    with pytest.raises(errors.ParseError, match=re.escape(str(bad))):
        read_dataset(bad, target="y")


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00", b"PK\x03\x04\x00\x00\x00"])
def test_file_that_is_neither_csv_nor_parquet(tmp_path, content):
    p = tmp_path / "picture.png"
    p.write_bytes(content * 10)
    with pytest.raises(errors.UnsupportedFormatError, match=re.escape(str(p))) as ei:
        read_dataset(p, target=0)
    msg = str(ei.value)
    assert "neither CSV nor Parquet" in msg and ".csv" in msg and ".parquet" in msg
    assert isinstance(ei.value, ValueError)
    with pytest.raises(errors.UnsupportedFormatError, match=r"not a CSV file"):
        CsvDataset(p, target=0)
    with pytest.raises(errors.ParseError, match=re.escape(str(p))):
        ParquetDataset(p, target=0)


def test_wrong_reader_for_the_format(tmp_path, frame):
    csv = write(frame, tmp_path / "d", "csv")
    par = write(frame, tmp_path / "d", "parquet")
    with pytest.raises(errors.UnsupportedFormatError, match=r"is a Parquet file, not CSV"):
        CsvDataset(par, target="y")
    with pytest.raises(errors.UnsupportedFormatError, match=r"is not a Parquet file .*CSV"):
        ParquetDataset(csv, target="y")


def test_every_error_is_a_tabloader_error_and_a_builtin():
    pairs = {
        errors.DataFileNotFoundError: FileNotFoundError,
        errors.ColumnNotFoundError: KeyError,
        errors.EmptyDataError: ValueError,
        errors.ParseError: ValueError,
        errors.SchemaError: ValueError,
        errors.MissingValueError: ValueError,
        errors.TargetError: ValueError,
        errors.UnsupportedFormatError: ValueError,
    }
    for cls, builtin in pairs.items():
        assert issubclass(cls, errors.TabloaderError) and issubclass(cls, builtin)


# =========================================================================== acceptance
@pytest.mark.parametrize(
    ("name", "task", "n_rows", "n_features"),
    [
        ("iris.csv", "multiclass", 150, 4),
        ("wine_data.csv", "multiclass", 178, 13),
        ("breast_cancer.csv", "binary", 569, 30),
    ],
)
def test_sklearn_csv_files_equal_pandas(sklearn_data_dir, name, task, n_rows, n_features):
    path = sklearn_data_dir / name
    ds = CsvDataset(path, skip_rows=1, header=False, target=-1)
    df = pd.read_csv(path, skiprows=1, header=None)
    assert (len(ds), ds.n_features) == (n_rows, n_features) == (len(df), df.shape[1] - 1)
    assert ds.task == task
    np.testing.assert_array_equal(ds.features.numpy(), df.iloc[:, :-1].to_numpy(np.float32))
    labels = df.iloc[:, -1].to_numpy()
    np.testing.assert_array_equal(ds.classes_[ds.targets.numpy().reshape(-1).astype(int)], labels)
    # and the same as scikit-learn's own loader
    import sklearn.datasets as skd

    loader = {"iris.csv": skd.load_iris, "wine_data.csv": skd.load_wine}.get(
        name, skd.load_breast_cancer
    )
    bunch = loader()
    np.testing.assert_array_equal(ds.features.numpy(), bunch.data.astype(np.float32))
    np.testing.assert_array_equal(ds.targets.numpy().reshape(-1), bunch.target)


@pytest.mark.parametrize(
    "name", ["linnerud_exercise.csv", "linnerud_physiological.csv"]
)  # space-delimited with a header
def test_sklearn_linnerud_space_delimited(sklearn_data_dir, name):
    path = sklearn_data_dir / name
    df = pd.read_csv(path, sep=" ")
    first = df.columns[0]
    ds = CsvDataset(path, delimiter=" ", target=first, task="regression")
    assert ds.feature_names == list(df.columns[1:])
    np.testing.assert_array_equal(ds.features.numpy(), df.iloc[:, 1:].to_numpy(np.float32))
    np.testing.assert_array_equal(ds.targets.numpy().ravel(), df[first].to_numpy(np.float32))


def test_sklearn_compressed_csv_files(sklearn_data_dir):
    digits = CsvDataset(sklearn_data_dir / "digits.csv.gz", header=False, target=-1)
    df = pd.read_csv(sklearn_data_dir / "digits.csv.gz", header=None)
    assert digits.task == "multiclass" and digits.n_classes == 10
    np.testing.assert_array_equal(digits.features.numpy(), df.iloc[:, :-1].to_numpy(np.float32))
    np.testing.assert_array_equal(digits.targets.numpy(), df.iloc[:, -1].to_numpy())
    raw = CsvDataset(sklearn_data_dir / "diabetes_data_raw.csv.gz", header=False, delimiter=" ")
    df = pd.read_csv(sklearn_data_dir / "diabetes_data_raw.csv.gz", header=None, sep=" ")
    np.testing.assert_array_equal(raw.features.numpy(), df.to_numpy(np.float32))


@pytest.mark.parametrize(
    ("name", "task", "shape", "n_classes"),
    [
        ("data-01-test-score.csv", "regression", (25, 3), None),
        ("data-03-diabetes.csv", "binary", (759, 8), 2),
        ("data-04-zoo.csv", "multiclass", (101, 16), 7),
    ],
)
def test_lecture_csv_files_equal_pandas_and_loadtxt(lecture_dir, name, task, shape, n_classes):
    path = lecture_dir / name
    ds = CsvDataset(path, header=False, comment="#", target=-1)
    df = pd.read_csv(path, header=None, comment="#")
    xy = np.loadtxt(path, delimiter=",", dtype=np.float32)  # how the labs load it
    assert ds.task == task and tuple(ds.features.shape) == shape
    assert ds.n_classes == n_classes
    np.testing.assert_array_equal(ds.features.numpy(), df.iloc[:, :-1].to_numpy(np.float32))
    np.testing.assert_array_equal(ds.features.numpy(), xy[:, :-1])
    y = ds.targets.numpy().reshape(-1)
    if task == "regression":
        np.testing.assert_array_equal(y, xy[:, -1])
    else:
        np.testing.assert_array_equal(ds.classes_[y.astype(int)], df.iloc[:, -1].to_numpy())
        np.testing.assert_array_equal(y, xy[:, -1])  # labels are already 0..K-1


def test_lecture_zoo_needs_comment(lecture_dir):
    with pytest.raises(errors.ParseError):
        CsvDataset(lecture_dir / "data-04-zoo.csv", header=False, target=-1)


def _round_trip_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 40
    return pd.DataFrame(
        {
            "f1": rng.standard_normal(n).astype(np.float32).astype(np.float64),
            "f2": rng.integers(-1000, 1000, n),
            "f3": (rng.random(n) * 1e-3).astype(np.float32).astype(np.float64),
            "flag": rng.integers(0, 2, n).astype(bool),
            "part": rng.integers(0, 3, n),
            "label": rng.choice(["ant", "bee", "cat"], n),
        }
    )


@pytest.mark.parametrize("layout", ["csv", "csv_files", "parquet", "parquet_files", "parquet_dir"])
def test_round_trip_gives_identical_tensors(tmp_path, layout):
    df = _round_trip_frame()
    ref = TabularDataset.from_pandas(df, target="label")
    assert ref.task == "multiclass"
    fmt = "csv" if layout.startswith("csv") else "parquet"
    if layout in ("csv", "parquet"):
        source = write(df, tmp_path / "one", fmt)
    elif layout == "parquet_dir":
        for i in range(4):
            write(df.iloc[10 * i : 10 * i + 10], tmp_path / "dir" / f"part-{i:02d}", fmt)
        source = tmp_path / "dir"
    else:
        source = [write(df.iloc[i::3].sort_index(), tmp_path / f"f{i}", fmt) for i in range(3)]
        df = pd.concat([df.iloc[i::3] for i in range(3)], ignore_index=True)
        ref = TabularDataset.from_pandas(df, target="label")
    ds = read_dataset(source, target="label")
    assert ds.feature_names == ref.feature_names == ["f1", "f2", "f3", "flag", "part"]
    assert torch.equal(ds.features, ref.features)
    assert torch.equal(ds.targets, ref.targets)
    np.testing.assert_array_equal(ds.classes_, ref.classes_)


def test_round_trip_hive_partitioned_same_multiset_of_rows(tmp_path):
    df = _round_trip_frame()
    pq.write_to_dataset(
        pa.Table.from_pandas(df, preserve_index=False), tmp_path / "hive", partition_cols=["part"]
    )
    ds = ParquetDataset(tmp_path / "hive", target="label")
    ref = TabularDataset.from_pandas(df[[*df.columns.drop(["part", "label"]), "part", "label"]],
                                     target="label")  # fmt: skip
    assert ds.feature_names == ref.feature_names  # the partition key comes last
    got = np.concatenate([ds.features.numpy(), ds.targets.numpy()[:, None]], axis=1)
    want = np.concatenate([ref.features.numpy(), ref.targets.numpy()[:, None]], axis=1)
    np.testing.assert_array_equal(_sorted_rows(got), _sorted_rows(want))


def test_large_ish_csv_and_parquet_agree_with_pandas(tmp_path):
    rng = np.random.default_rng(11)
    df = pd.DataFrame(
        rng.standard_normal((20_000, 8)).astype(np.float32).astype(np.float64),
        columns=[f"x{i}" for i in range(8)],
    )
    df["y"] = rng.integers(0, 5, len(df))
    for fmt in FORMATS:
        ds = READERS[fmt](write(df, tmp_path / "big", fmt), target="y")
        np.testing.assert_array_equal(ds.features.numpy(), df.iloc[:, :-1].to_numpy(np.float32))
        np.testing.assert_array_equal(ds.targets.numpy(), df["y"].to_numpy())
        _assert_layout(ds)


def test_repr_names_the_source(tmp_path, frame):
    p = write(frame, tmp_path / "d", "csv")
    r = repr(CsvDataset(p, target="y", task="regression"))
    assert r.startswith("CsvDataset(n_rows=12, n_features=3, task='regression', target='y'")
    assert str(p) in r


# =========================================================================== CSV text details
@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        ("\ufeffa,b,y\n1,2,0.5\n3,4,1.5\n", {}),  # a UTF-8 byte-order mark (Excel)
        ("a,b,y\r\n1,2,0.5\r\n3,4,1.5\r\n", {}),  # Windows line endings
        ("\n\na,b,y\n1,2,0.5\n\n3,4,1.5\n\n", {}),  # blank lines around the header and rows
        ("title\n\na,b,y\n1,2,0.5\n3,4,1.5\n", {"skip_rows": 1}),
        ("# c\n\n  # c2\na,b,y\n# c3\n1,2,0.5\n3,4,1.5", {"comment": "#"}),
        ('"a","b","y"\n"1",2,"0.5"\n3,"4",1.5\n', {}),  # quoted fields
        ("a , b ,y\n1,2,0.5\n3,4,1.5\n", {}),  # spaces around names
    ],
)
def test_csv_text_variants(tmp_path, text, kwargs):
    p = tmp_path / "v.csv"
    p.write_bytes(text.encode("utf-8"))
    ds = CsvDataset(p, target="y", **kwargs)
    assert ds.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ds.features.numpy(), f32([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(ds.targets.numpy().ravel(), f32([0.5, 1.5]))


def test_csv_encoding(tmp_path):
    p = tmp_path / "l1.csv"
    p.write_bytes("größe,café\n1,2.5\n3,4.5\n".encode("latin-1"))
    ds = CsvDataset(p, target="café", encoding="latin-1")
    assert ds.feature_names == ["größe"] and ds.target_name == "café"
    np.testing.assert_array_equal(ds.features.numpy(), f32([[1], [3]]))


def test_line_numbers_count_blank_and_comment_lines(tmp_path):
    p = write_text(tmp_path / "l.csv", "# c\na,y\n\n1,0.5\n# c\n2,bad\n")
    with pytest.raises(errors.ParseError, match=r"row 1 .*\(line 6\).* has 'bad'"):
        CsvDataset(p, target="y", comment="#", task="regression")


@pytest.mark.parametrize("fmt", FORMATS)
def test_boolean_feature_columns_are_numbers(tmp_path, fmt):
    df = pd.DataFrame({"flag": [True, False, True], "y": [0.5, 1.5, 2.5]})
    ds = READERS[fmt](write(df, tmp_path / "d", fmt), target="y")
    np.testing.assert_array_equal(ds.features.numpy().ravel(), f32([1, 0, 1]))
    # with a missing cell: filled with the mean, like any number
    df["flag"] = pd.array([True, None, False], dtype="boolean")
    ds = READERS[fmt](write(df, tmp_path / "e", fmt), target="y", missing="mean")
    np.testing.assert_array_equal(ds.features.numpy().ravel(), f32([1, 0.5, 0]))


@pytest.mark.parametrize("dtype", ["Int64", "Float64", "boolean", "int8", "uint16", "float16"])
def test_pandas_nullable_and_narrow_dtypes(dtype):
    values = [1, 0, 1, None] if dtype in ("Int64", "Float64", "boolean") else [1, 0, 1, 1]
    df = pd.DataFrame({"a": pd.array(values, dtype=dtype), "y": [0.5, 1.5, 2.5, 3.5]})
    if None in values:
        with pytest.raises(errors.MissingValueError, match=r"column 'a': 1 missing .* row 3"):
            TabularDataset.from_pandas(df, target="y")
        with pytest.warns(UserWarning, match=r"dropped 1 of 4 rows"):
            ds = TabularDataset.from_pandas(df, target="y", missing="drop")
        np.testing.assert_array_equal(ds.features.numpy().ravel(), f32([1, 0, 1]))
    else:
        ds = TabularDataset.from_pandas(df, target="y")
        np.testing.assert_array_equal(ds.features.numpy().ravel(), f32(values))


def test_parquet_reads_only_the_needed_columns(tmp_path):
    # the 'junk' column's page header is destroyed: only a reader that skips it can succeed
    p = tmp_path / "x.parquet"
    n = 1000
    table = pa.table(
        {
            "a": np.arange(n, dtype=np.float64),
            "junk": np.random.default_rng(0).standard_normal(n),
            "y": (np.arange(n) % 2).astype(np.float64),
        }
    )
    pq.write_table(table, p, compression="none", use_dictionary=False)
    off = pq.ParquetFile(p).metadata.row_group(0).column(1).data_page_offset
    raw = bytearray(p.read_bytes())
    raw[off : off + 64] = b"\xff" * 64
    p.write_bytes(bytes(raw))
    ds = ParquetDataset(p, target="y", features=["a"])
    np.testing.assert_array_equal(ds.features.numpy().ravel(), np.arange(n, dtype=np.float32))
    with pytest.raises(errors.ParseError, match=r"not a readable Parquet file"):
        ParquetDataset(p, target="y")


def test_dataloader_with_worker_processes(ds12):
    loader = DataLoader(ds12, batch_size=5, num_workers=2)
    xs, ys = zip(*loader)
    assert torch.equal(torch.cat(xs), ds12.features) and torch.equal(torch.cat(ys), ds12.targets)


# =========================================================================== several files, one table
def test_csv_files_where_labels_look_numeric_in_one_file_only(tmp_path):
    a = write_text(tmp_path / "a.csv", "x,c,y\n1,1,0\n2,2,1\n")
    b = write_text(tmp_path / "b.csv", "x,c,y\n3,red,other\n4,2,1\n")
    ds = CsvDataset([a, b], target="y", categorical=["c"])
    assert ds.feature_names == ["x", "c=1", "c=2", "c=red"]
    np.testing.assert_array_equal(
        ds.features[:, 1:].numpy(), np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]
    )
    assert list(ds.classes_) == ["0", "1", "other"] and ds.targets.tolist() == [0, 1, 2, 1]


def test_csv_files_with_int_and_float_targets_are_promoted(tmp_path):
    a = write_text(tmp_path / "a.csv", "x,y\n1,0\n2,1\n")
    b = write_text(tmp_path / "b.csv", "x,y\n3,0.5\n4,1\n")
    ds = CsvDataset([a, b], target="y")
    assert ds.task == "regression" and ds.targets.ravel().tolist() == [0, 1, 0.5, 1]


def test_parquet_column_dictionary_encoded_in_some_files_only(tmp_path):
    pq.write_table(
        pa.table({"x": [1.0, 2.0], "c": pa.array(["u", "v"]).dictionary_encode(), "y": [0.5, 1]}),
        tmp_path / "p0.parquet",
    )
    pq.write_table(
        pa.table({"x": [3.0, 4.0], "c": pa.array(["w", "v"]), "y": [1.5, 2]}),
        tmp_path / "p1.parquet",
    )
    ds = ParquetDataset(tmp_path, target="y", categorical=["c"])
    assert ds.feature_names == ["x", "c=u", "c=v", "c=w"]
    np.testing.assert_array_equal(
        ds.features[:, 1:].numpy(), np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]
    )


def test_parquet_files_with_int_and_float_columns_are_promoted(tmp_path):
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_parquet(tmp_path / "p0.parquet")
    pd.DataFrame({"x": [1.5, 2.5], "y": [0.5, 1.0]}).to_parquet(tmp_path / "p1.parquet")
    ds = ParquetDataset(tmp_path, target="y")
    assert ds.features.ravel().tolist() == [1, 2, 1.5, 2.5]
    assert ds.task == "regression" and ds.targets.ravel().tolist() == [0, 1, 0.5, 1]


def test_pandas_categorical_target():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": pd.Categorical(["lo", "hi", "lo"])})
    ds = TabularDataset.from_pandas(df, target="y")
    assert ds.task == "binary" and list(ds.classes_) == ["hi", "lo"]
    assert ds.targets.ravel().tolist() == [1, 0, 1]


def test_hive_null_partition_is_a_missing_value(tmp_path):
    table = pa.table({"x": [1.0, 2.0, 3.0], "k": [1, None, 2], "y": [0.5, 1.5, 2.5]})
    pq.write_to_dataset(table, tmp_path / "h", partition_cols=["k"])
    with pytest.raises(
        errors.MissingValueError, match=r"column 'k': 1 missing .*DEFAULT_PARTITION"
    ):
        ParquetDataset(tmp_path / "h", target="y")
    with pytest.warns(UserWarning, match=r"dropped 1 of 3 rows"):
        ds = ParquetDataset(tmp_path / "h", target="y", missing="drop")
    assert _sorted_rows(ds.features.numpy()).tolist() == [[1, 1], [3, 2]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_datetime_column_is_not_a_feature_without_saying_so(tmp_path, fmt):
    df = pd.DataFrame(
        {"x": [1.0, 2.0], "t": pd.to_datetime(["2020-01-01", "2021-06-30"]), "y": [0.5, 1.5]}
    )
    p = write(df, tmp_path / "d", fmt)
    with pytest.raises(ValueError, match=r"column 't' .*categorical=\['t'\]"):
        READERS[fmt](p, target="y")
    assert READERS[fmt](p, target="y", features=["x"]).n_features == 1


def test_duplicate_csv_header_names(tmp_path):
    p = write_text(tmp_path / "d.csv", "a,a,y\n1,2,3\n")
    with pytest.raises(errors.SchemaError, match=r"duplicate column names \['a'\]"):
        CsvDataset(p, target="y")
    ds = CsvDataset(p, header=False, skip_rows=1, target=-1, task="regression")
    assert ds.feature_names == ["0", "1"]


# =========================================================================== reusing a training encoding
@pytest.mark.parametrize("fmt", FORMATS)
def test_fixed_categories_and_fill_values_from_training_data(tmp_path, fmt):
    train = pd.DataFrame(
        {"x": [1.0, np.nan, 3.0, 4.0], "c": ["red", "blue", "green", "red"], "y": [0, 1, 0, 1]}
    )
    new = pd.DataFrame({"x": [np.nan, 5.0], "c": ["red", "red"], "y": [1, 0]})
    tr = READERS[fmt](
        write(train, tmp_path / "tr", fmt), target="y", categorical=["c"], missing="mean"
    )
    assert tr.fill_values_ == {"x": pytest.approx(8 / 3)}
    p = write(new, tmp_path / "new", fmt)
    # on its own, the new data has one level and another mean
    alone = READERS[fmt](p, target="y", categorical=["c"], missing="mean")
    assert alone.feature_names == ["x", "c=red"]
    ds = READERS[fmt](
        p,
        target="y",
        categorical=["c"],
        categories=tr.categories_,
        fill_values=tr.fill_values_,
        missing="mean",
    )
    assert ds.feature_names == tr.feature_names == ["x", "c=blue", "c=green", "c=red"]
    np.testing.assert_allclose(ds.features.numpy(), f32([[8 / 3, 0, 0, 1], [5, 0, 0, 1]]))
    # a level the training data did not have is an error that names it
    odd = write(new.assign(c=["red", "purple"]), tmp_path / "odd", fmt)
    with pytest.raises(errors.SchemaError, match=r"column 'c' .* level 'purple' at row 1"):
        READERS[fmt](odd, target="y", categorical=["c"], categories=tr.categories_)


def test_fixed_integer_levels_match_text_or_numbers():
    df = pd.DataFrame({"k": ["2", "10"], "y": [0.5, 1.5]})
    ds = TabularDataset.from_pandas(df, target="y", categorical=["k"], categories={"k": [10, 2, 1]})
    assert ds.feature_names == ["k=1", "k=2", "k=10"]
    np.testing.assert_array_equal(ds.features.numpy(), f32([[0, 1, 0], [0, 0, 1]]))
    with pytest.raises(ValueError, match=r"categories should only name categorical columns"):
        TabularDataset.from_pandas(df, target="y", categorical=["k"], categories={"y": [1]})


# =========================================================================== issues 12 and 13
ALL_READERS = ("csv", "parquet", "csv-stream", "parquet-stream", "read_dataset")


def read_any(kind: str, path: Path, **kw):
    """``(features, targets, reader)`` of ``path`` read by reader ``kind`` (streams whole)."""
    from tabloader.datasets import CsvStream, ParquetStream

    if kind.endswith("stream"):
        cls = CsvStream if kind.startswith("csv") else ParquetStream
        s = cls(path, batch_size=3, **kw)
        batches = list(s)
        X = torch.cat([b[0] if isinstance(b, tuple) else b for b in batches])
        y = torch.cat([b[1] for b in batches]) if isinstance(batches[0], tuple) else None
        return X, y, s
    ds = (read_dataset if kind == "read_dataset" else READERS[kind])(path, **kw)
    return ds.features, ds.targets, ds


def _fmt(kind: str, path: Path) -> str:
    return "parquet" if kind.startswith("parquet") or path.suffix == ".parquet" else "csv"


IDS = [2**53 + k for k in range(1, 9)]  # float32 (and float64 for the odd ones) round them


@pytest.mark.parametrize("kind", ALL_READERS)
def test_integers_float32_rounds_warn_once_per_column_in_every_reader(tmp_path, kind):
    df = pd.DataFrame({"id": IDS, "x": np.arange(8) / 4, "y": np.arange(8) / 2})
    fmt = "parquet" if kind.startswith("parquet") else "csv"
    p = write(df, tmp_path / "ids", fmt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, _, _ = read_any(kind, p, target="y")
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1, msgs  # one per column: 'x' holds no large integer
    assert str(p) in msgs[0] and "column 'id'" in msgs[0] and "8 integer values" in msgs[0]
    assert "dtype=torch.float64" in msgs[0] and f"{IDS[0]} becomes {2**53}" in msgs[0]
    assert X.dtype == torch.float32


@pytest.mark.parametrize("kind", ALL_READERS)
def test_dtype_float64_keeps_integers_exact_without_a_warning(tmp_path, kind):
    ids = [2**40 + k for k in range(1, 9)]  # exact in float64, rounded by float32
    df = pd.DataFrame({"id": ids, "y": ["a", "b"] * 4})
    fmt = "parquet" if kind.startswith("parquet") else "csv"
    p = write(df, tmp_path / "ids", fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, y, _ = read_any(kind, p, target="y", dtype=torch.float64)
    assert X.dtype == torch.float64 and y.dtype == torch.float64  # a binary target follows
    np.testing.assert_array_equal(X.numpy().ravel(), np.array(ids, dtype=np.float64))
    with pytest.warns(UserWarning, match=r"column 'id' .* 8 integer values that float32"):
        read_any(kind, p, target="y")


def test_float64_warns_for_integers_beyond_2_53_and_frames_and_tensors_check_too(tmp_path):
    df = pd.DataFrame({"id": IDS, "y": np.arange(8.0)})
    with pytest.warns(UserWarning, match=r"4 integer values that float64 cannot hold"):
        TabularDataset.from_pandas(df, target="y", dtype=torch.float64)
    with pytest.warns(UserWarning, match=r"column 'id' in <DataFrame> has 8 integer values"):
        TabularDataset.from_pandas(df, target="y")
    with pytest.warns(UserWarning, match=r"column '0' in the features has 8 integer values"):
        TabularDataset(np.array(IDS).reshape(-1, 1))
    with pytest.warns(UserWarning, match=r"column '0' in <arrays> has 8 integer values"):
        TabularDataset.from_numpy(np.array(IDS), np.arange(8.0))
    ds = TabularDataset(torch.tensor(IDS).reshape(-1, 1) // 2**30, dtype=torch.float64)
    assert ds.features.dtype == torch.float64


def test_dtype_argument_policy_and_float64_loaders(tmp_path, frame):
    from tabloader.loaders import make_loader

    p = write(frame, tmp_path / "d", "csv")
    with pytest.raises(ValueError, match=r"dtype should be torch.float32 or torch.float64"):
        CsvDataset(p, target="y", dtype=torch.int64)
    with pytest.raises(TypeError, match=r"dtype should be torch.float32 or torch.float64"):
        CsvDataset(p, target="y", dtype=3)
    ds = CsvDataset(p, target="y", dtype=torch.float64, missing="mean")
    assert ds.features.dtype == torch.float64 and ds.targets.dtype == torch.float64
    X, y = next(iter(make_loader(ds, batch_size=4, shuffle=True, seed=0)))
    assert X.dtype == torch.float64 and y.dtype == torch.float64
    from tabloader.datasets import CsvStream

    s = CsvStream(p, target="y", dtype=torch.float64, batch_size=5, shuffle=True, seed=1)
    X = torch.cat([b[0] for b in s])  # the shuffle buffer holds float64 rows too
    assert X.dtype == torch.float64
    np.testing.assert_array_equal(_sorted_rows(X.numpy()), _sorted_rows(ds.features.numpy()))


def test_large_integers_in_a_clean_csv_are_not_rounded_by_the_fast_parser(tmp_path):
    """The pandas fast path parsed straight to float32, rounding 16777217 unseen."""
    p = write_text(tmp_path / "t.csv", "a,y\n16777217,1\n2,0\n")
    ds = CsvDataset(p, target="y", dtype=torch.float64, task="regression")
    assert ds.features[0, 0].item() == 16777217.0
    with pytest.warns(UserWarning, match=r"1 integer value that float32 .*16777217 becomes"):
        CsvDataset(p, target="y", task="regression")


LATIN1 = "a,c,y\n1,café,0.5\n2,thé,1.5\n3,café,2.5\n".encode("latin-1")


@pytest.mark.parametrize("kind", ["csv", "csv-stream", "read_dataset"])
def test_latin1_without_encoding_is_a_parse_error_naming_line_and_encoding(tmp_path, kind):
    p = tmp_path / "l1.csv"
    p.write_bytes(LATIN1)
    with pytest.raises(errors.ParseError) as ei:
        read_any(kind, p, target="y", categorical=["c"])
    msg = str(ei.value)
    assert str(p) in msg and "line 2" in msg and "0xe9" in msg and "encoding='latin-1'" in msg
    h = tmp_path / "h.csv"  # in the header: before any column is resolved
    h.write_bytes("größe,y\n1,2\n".encode("latin-1"))
    with pytest.raises(errors.ParseError, match=r"h.csv is not valid utf8 text.*line 1"):
        read_any(kind, h, target="y")


@pytest.mark.parametrize("kind", ["csv", "csv-stream", "read_dataset"])
def test_encoding_gives_str_levels_in_every_csv_reader(tmp_path, kind):
    p = tmp_path / "l1.csv"
    p.write_bytes(LATIN1)
    X, _, r = read_any(kind, p, target="y", categorical=["c"], encoding="latin-1")
    assert r.categories_ == {"c": ["café", "thé"]} and r.feature_names[1] == "c=café"
    np.testing.assert_array_equal(X.numpy()[:, 1:], f32([[1, 0], [0, 1], [1, 0]]))


def _corrupt_checksummed_parquet(tmp_path: Path) -> Path:
    n = 500
    t = pa.table({"a": np.arange(n, dtype=np.float64), "y": np.arange(n) % 2 * 1.0})
    p = tmp_path / "c.parquet"
    pq.write_table(t, p, write_page_checksum=True, compression="none", use_dictionary=False)
    raw = bytearray(p.read_bytes())
    pos = raw.find(np.array([100.0]).tobytes())
    raw[pos : pos + 8] = np.array([np.nan]).tobytes()  # a NaN, where checksums see a change
    p.write_bytes(bytes(raw))
    return p


@pytest.mark.parametrize("kind", ["parquet", "parquet-stream", "read_dataset"])
def test_corrupt_parquet_page_is_a_parse_error_not_missing_values(tmp_path, kind):
    p = _corrupt_checksummed_parquet(tmp_path)
    with pytest.raises(errors.ParseError, match=re.escape(str(p)) + r".*checksum"):
        read_any(kind, p, target="y")


@pytest.mark.parametrize(
    ("X", "y", "kw", "exc", "match"),
    [
        ([[np.nan], [1.0]], [0.0, 1.0], {"task": "regression"}, errors.MissingValueError,
         r"features have NaN or inf values \(column '0': 1, first at row 0\)"),
        ([[np.inf], [1.0]], None, {}, errors.MissingValueError, r"NaN or inf"),
        (np.array([[1e39], [1.0]]), None, {}, errors.ParseError, r"1e\+39 .*float32 range"),
        ([[0.0], [1.0]], [1.7, 0.0], {"task": "multiclass"}, errors.TargetError,
         r"integer class indices 0, 1, 2, ..., but row 0 has 1.7"),
        ([[0.0], [1.0]], [0, -1], {"task": "multiclass", "classes": ["a", "b", "c"]},
         errors.TargetError, r"class indices 0..2 \(classes= has 3 labels\), but row 1 has -1"),
        ([[0.0], [1.0]], [0, 5], {"task": "multiclass", "classes": ["a", "b", "c"]},
         errors.TargetError, r"but row 1 has 5"),
        ([[0.0], [1.0]], [0.5, np.nan], {"task": "regression"}, errors.MissingValueError,
         r"targets have 1 NaN or inf values, first at row 1"),
    ],
)  # fmt: skip
def test_constructor_validates_like_the_readers(X, y, kw, exc, match):
    with pytest.raises(exc, match=match):
        TabularDataset(torch.as_tensor(np.asarray(X, dtype=np.float64)), y, **kw)
    ok = TabularDataset(
        torch.zeros(2, 1), torch.tensor([2, 0]), task="multiclass", classes=[0, 1, 2]
    )
    assert ok.targets.tolist() == [2, 0]


def test_truncated_gz_is_a_parse_error_naming_the_file(tmp_path, frame):
    import gzip

    from tabloader.datasets import CsvStream

    big = pd.concat([frame] * 4000, ignore_index=True)
    raw = gzip.compress(big.to_csv(index=False).encode())
    p = tmp_path / "t.csv.gz"
    p.write_bytes(raw[: len(raw) // 2])  # the header reads fine, the data ends early
    for read in (
        lambda: CsvDataset(p, target="y"),
        lambda: list(CsvStream(p, target="y", batch_size=100)),
        lambda: read_dataset(p, target="y"),
    ):
        with pytest.raises(errors.ParseError, match=re.escape(str(p)) + r".*truncated"):
            read()
    small = tmp_path / "s.csv.gz"
    small.write_bytes(raw[:20])  # even the header is cut
    with pytest.raises(errors.ParseError, match=re.escape(str(small))):
        CsvDataset(small, target="y")


def test_unreadable_directory_is_an_access_error_not_an_empty_one(tmp_path, frame, monkeypatch):
    import os

    write(frame, tmp_path / "d" / "ok", "csv")
    locked = tmp_path / "d" / "locked"
    write(frame, locked / "more", "csv")
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(locked):  # (the tests run as root: chmod cannot lock it)
            raise PermissionError(13, "Permission denied", str(locked))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(errors.AccessError, match=re.escape(str(locked)) + r" cannot be read"):
        CsvDataset(tmp_path / "d", target="y")
    with pytest.raises(PermissionError):  # the builtin too
        read_dataset(tmp_path / "d", target="y")


@pytest.mark.parametrize("fmt", FORMATS)
def test_hadoop_part_files_without_suffix_are_read(tmp_path, frame, fmt):
    d = tmp_path / "out"
    for i, part in enumerate([frame.iloc[:6], frame.iloc[6:]]):
        write(part, d / f"part-0000{i}", fmt).rename(d / f"part-0000{i}")
    (d / "_SUCCESS").write_text("")
    for read in (READERS[fmt], read_dataset):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ds = read(d, target="y")
        assert_frame_tensors(ds, frame, "y")
    assert len(read_dataset(d, target="y", format=fmt)) == len(frame)
    with pytest.raises(ValueError, match=r"format should be one of \['csv', 'parquet'\]"):
        read_dataset(d, target="y", format="json")


def test_other_files_in_a_folder_are_named_in_a_warning(tmp_path, frame):
    d = tmp_path / "mixed"
    write(frame, d / "a", "csv")
    write(frame, d / "b", "parquet")  # a known suffix of the other format
    (d / "notes.md").write_text("# about this data\n")
    write(frame, d / "tmp", "parquet").rename(d / "part-00009")  # no suffix, Parquet inside
    with pytest.warns(UserWarning) as caught:
        ds = CsvDataset(d, target="y")
    msg = str(caught[0].message)
    assert len(ds) == len(frame) and "skipped 3 files" in msg
    for name in ("b.parquet", "notes.md", "part-00009"):
        assert name in msg


@pytest.mark.parametrize("kind", ["csv", "csv-stream", "csv.gz-stream"])
def test_quoted_header_with_a_line_break_is_read_as_pandas_reads_it(tmp_path, kind):
    import gzip

    text = '"a\nb",c,y\n1,2,3\n3,4,5\n5,x,7\n'
    p = tmp_path / ("h.csv.gz" if "gz" in kind else "h.csv")
    p.write_bytes(gzip.compress(text.encode()) if "gz" in kind else text.encode())
    kind = kind.replace(".gz", "")
    with pytest.raises(errors.ParseError, match=r"column 'c' .* row 2 \(line 5\) has 'x'"):
        read_any(kind, p, target="y")
    X, _, r = read_any(kind, p, target="y", categorical=["c"])
    assert r.feature_names[0] == "a\nb" == pd.read_csv(p).columns[0]
    np.testing.assert_array_equal(X.numpy()[:, 0], f32([1, 3, 5]))


@pytest.mark.parametrize("kind", [*ALL_READERS, "pandas"])
def test_unknown_levels_ignore_encodes_an_unseen_level_as_zeros(tmp_path, kind):
    df = pd.DataFrame({"c": ["a", "z", None, "b"], "x": [1.0, 2, 3, 4], "y": [0, 1, 0, 1]})
    p = write(df, tmp_path / "u", "parquet" if kind.startswith("parquet") else "csv")
    kw = {"target": "y", "categorical": ["c"], "categories": {"c": ["a", "b"]}}
    kw["missing"] = "drop"  # the missing level is still a missing value, not an unknown one

    def read(**more):
        if kind == "pandas":
            ds = TabularDataset.from_pandas(df, **kw, **more)
            return ds.features, ds.targets, ds
        return read_any(kind, p, **kw, **more)

    with pytest.raises(errors.SchemaError, match=r"level 'z' at row 1.*unknown_levels='ignore'"):
        read()
    with pytest.warns(UserWarning, match=r"dropped 1 of 4 rows"):
        X, _, r = read(unknown_levels="ignore")
    assert r.feature_names == ["c=a", "c=b", "x"]
    np.testing.assert_array_equal(X.numpy(), f32([[1, 0, 1], [0, 0, 2], [0, 1, 4]]))
    with pytest.raises(ValueError, match=r"unknown_levels should be one of \['error', 'ignore'\]"):
        read(unknown_levels="zero")


@pytest.mark.parametrize(
    ("text", "delim"),
    [("a;b;y\n1;2;3\n", ";"), ("a\tb\ty\n1\t2\t3\n", "\t"), ("a|b|y\n1|2|3\n", "|")],
)
@pytest.mark.parametrize("kind", ["csv", "csv-stream"])
def test_one_column_header_says_which_delimiter_it_looks_like(tmp_path, text, delim, kind):
    p = write_text(tmp_path / "d.csv", text)
    with pytest.raises(errors.ColumnNotFoundError) as ei:
        read_any(kind, p, target="y")
    assert f"looks {delim!r}-separated: pass delimiter={delim!r}" in str(ei.value)
    with pytest.raises(errors.ParseError, match=re.escape(f"pass delimiter={delim!r}")):
        read_any(kind, p)  # no target: the one column is not a number
    X, _, _ = read_any(kind, p, target="y", delimiter=delim)
    np.testing.assert_array_equal(X.numpy(), f32([[1, 2]]))


def test_ragged_rows_of_a_one_column_header_suggest_the_delimiter(tmp_path):
    p = write_text(tmp_path / "d.csv", "a;b;y\n1,5;2,5;3\n")
    with pytest.raises(errors.ParseError, match=r"ragged row .*line 2 has 3 fields.*delimiter=';'"):
        CsvDataset(p)


@pytest.mark.parametrize("kind", ["csv", "csv-stream"])
def test_decimal_comma_gets_a_decimal_hint_not_categorical(tmp_path, kind):
    p = write_text(tmp_path / "d.csv", "a;b;y\n1,5;2;3\n2,25;4;5\n")
    with pytest.raises(errors.ParseError) as ei:
        read_any(kind, p, target="y", delimiter=";")
    msg = str(ei.value)
    assert "'1,5'" in msg and "decimal comma" in msg and "decimal=','" in msg
    assert "sep=';'" in msg and "categorical" not in msg


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_bad_column_is_reported_in_one_error(tmp_path, fmt):
    df = pd.DataFrame({"a": ["1", "x"], "b": [1.0, 2.0], "c": ["3", "zz"], "y": [0.0, 1.0]})
    p = write(df, tmp_path / "bad", fmt)
    with pytest.raises(errors.ParseError) as ei:
        READERS[fmt](p, target="y")
    msg = str(ei.value)
    assert msg.startswith(f"2 feature columns in {p} should be numeric, but are not:")
    assert "column 'a': row 1" in msg and "'x'" in msg and "column 'c': row 1" in msg
    assert "pass categorical=['a', 'c']" in msg


def test_a_stray_quote_in_a_header_name_does_not_open_a_field(tmp_path):
    p = write_text(tmp_path / "q.csv", 'a"b,y\n1,2\n3,4\n')
    ds = CsvDataset(p, target="y")
    assert ds.feature_names == ['a"b'] == list(pd.read_csv(p).columns[:1])
    np.testing.assert_array_equal(ds.features.numpy().ravel(), f32([1, 3]))


def test_every_row_dropped_is_a_tabloader_error_not_a_numpy_one():
    # a multi-index frame from a ragged CSV whose rows all have a gap (found by the fuzz test):
    # the regression target's chunked column then has no chunks at all
    frame = pd.read_csv(io.BytesIO(b"a,b,c,y\n,,0,,a,;0\n,,0,,a,0\n"))
    with pytest.raises(errors.MissingValueError, match=r"missing=.drop. leaves nothing"):
        TabularDataset.from_pandas(
            frame, target="y", task="regression", categorical=["c"], missing="drop"
        )


def test_invalid_utf8_text_in_an_arrow_table_is_a_parse_error():
    # found by the fuzz test: a damaged Parquet file pyarrow reads without page checksums
    bad = pa.array([b"a", b"caf\x99"], type=pa.binary()).cast(pa.string(), safe=False)
    table = pa.table({"c": bad, "y": [0.0, 1.0]})
    with pytest.raises(errors.ParseError, match=r"column 'c' of .* not valid UTF-8"):
        TabularDataset.from_arrow(table, target="y", categorical=["c"])
