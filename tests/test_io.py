"""Tests of model files (tabloader.trainers._io): modes, interrupted saves, damaged files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from tabloader.errors import ModelFileError
from tabloader.trainers import LinearRegressor, LogisticClassifier, SoftmaxClassifier, load

pytestmark = pytest.mark.filterwarnings("ignore:L-BFGS did not converge")


def _data(n_classes: int | None = None):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((60, 3)), columns=["a", "b", "c"])
    if n_classes is None:
        return X, X.to_numpy() @ np.array([1.0, -2.0, 0.5])
    return X, np.arange(60) % n_classes


def _saved(tmp_path, kind: str = "binary", name: str = "model.pt", metadata=None):
    if kind == "regression":
        est = LinearRegressor(random_state=0, max_epochs=2).fit(*_data())
    elif kind == "binary":
        est = LogisticClassifier(random_state=0, max_epochs=2).fit(*_data(2))
    else:
        est = SoftmaxClassifier(random_state=0, max_epochs=2).fit(*_data(3))
    path = tmp_path / name
    est.save(path, metadata=metadata)
    return est, path


def _rewrite(path, change) -> None:
    """Load the file's dict, let ``change`` damage it, write it back as torch.save does."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    change(state)
    torch.save(state, path)


def _set_meta(path, change) -> None:
    def edit(state):
        meta = json.loads(state["metadata"])
        change(meta)
        state["metadata"] = json.dumps(meta)

    _rewrite(path, edit)


@pytest.fixture
def umask():
    """Set the process umask for a test; restored afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


# ---------------------------------------------------------------- file modes
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_a_new_model_file_gets_the_umask_mode(tmp_path, umask, mask):
    umask(mask)
    _, path = _saved(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_overwriting_a_model_file_keeps_its_mode(tmp_path, umask):
    est, path = _saved(tmp_path)
    path.chmod(0o644)
    umask(0o077)
    est.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


# ---------------------------------------------------------------- interrupted saves
def test_an_interrupted_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    est, path = _saved(tmp_path)
    before = path.read_bytes()

    def interrupted(obj, fh, *args, **kwargs):
        fh.write(b"x" * 100_000)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        est.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert path.read_bytes() == before


def test_a_process_killed_during_save_leaves_no_temporary(tmp_path):
    _, path = _saved(tmp_path)
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import os, signal, torch
        from tabloader.trainers import load
        est = load({str(path)!r})
        def killed(obj, fh, *args, **kwargs):
            fh.write(b"x" * 1_000_000)
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = killed
        est.save({str(path)!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert path.read_bytes() == before


def test_saving_onto_a_directory_says_so(tmp_path):
    est, _ = _saved(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory; give a file name"):
        est.save(tmp_path / "models")


# ---------------------------------------------------------------- damaged files
def test_a_directory_given_as_a_model_file_says_so(tmp_path):
    with pytest.raises(ModelFileError, match="should be a model file, but it is a directory"):
        load(tmp_path)


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("key", ["coef", "intercept", "mean", "scale"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_numbers_are_refused(tmp_path, kind, key, bad):
    _, path = _saved(tmp_path, kind)

    def poison(state):
        state[key].view(-1)[0] = bad

    _rewrite(path, poison)
    with pytest.raises(ModelFileError, match=rf"{key} should hold finite numbers") as info:
        load(path)
    assert str(path) in str(info.value) and "save the model again" in str(info.value)


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_a_coefficient_shape_that_does_not_match_the_features_is_refused(tmp_path, kind):
    _, path = _saved(tmp_path, kind)

    def grow(state):
        state["coef"] = torch.cat([state["coef"], state["coef"][:1]])

    _rewrite(path, grow)
    with pytest.raises(ModelFileError, match=r"coef should have shape \(3, K\)"):
        load(path)


@pytest.mark.parametrize(
    ("key", "n_features"), [("mean", 4), ("scale", 2), ("intercept", 5), ("feature_names", 2)]
)
def test_other_shapes_are_checked(tmp_path, key, n_features):
    _, path = _saved(tmp_path, "multiclass")

    def change(state):
        if key == "feature_names":
            meta = json.loads(state["metadata"])
            meta["feature_names"] = meta["feature_names"][:n_features]
            state["metadata"] = json.dumps(meta)
        else:
            state[key] = torch.zeros(n_features, dtype=torch.float64)

    _rewrite(path, change)
    with pytest.raises(ModelFileError, match=f"{key} should have"):
        load(path)


def test_three_classes_in_a_binary_model_are_refused(tmp_path):
    _, path = _saved(tmp_path, "binary")

    def three(meta):
        meta["classes"] = [0, 1, 2]

    _set_meta(path, three)
    with pytest.raises(ModelFileError, match="a LogisticClassifier should have 2 classes"):
        load(path)


def test_classes_and_coefficient_columns_must_agree(tmp_path):
    _, path = _saved(tmp_path, "multiclass")

    def four(meta):
        meta["classes"] = [0, 1, 2, 3]

    _set_meta(path, four)
    with pytest.raises(ModelFileError, match="a SoftmaxClassifier should have 3 classes"):
        load(path)
    _, path = _saved(tmp_path, "regression", name="r.pt")
    _set_meta(path, lambda meta: meta.update(classes=[0, 1], classes_dtype="<i8"))
    with pytest.raises(ModelFileError, match="a LinearRegressor should have 0 classes"):
        load(path)


def test_deeply_nested_metadata_is_refused_without_recursion_error(tmp_path):
    _, path = _saved(tmp_path)
    depth = 200_000

    def nest(state):
        meta = state["metadata"]
        state["metadata"] = meta[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"

    _rewrite(path, nest)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        load(path)


def test_metadata_that_is_not_an_object_is_refused(tmp_path):
    _, path = _saved(tmp_path)
    _rewrite(path, lambda state: state.update(metadata="[1, 2]"))
    with pytest.raises(ModelFileError, match="metadata should be a JSON object"):
        load(path)


def test_unknown_keys_in_the_data_spec_are_refused(tmp_path):
    spec = {"source_features": ["a", "b", "c"], "categories": {}, "fill_values": {}, "csv": {}}
    _, path = _saved(tmp_path, metadata={"data": dict(spec)})
    assert load(path).metadata_["data"] == spec  # a valid spec loads
    _set_meta(path, lambda meta: meta["user"]["data"].update(engine="python"))
    with pytest.raises(ModelFileError, match=r"data spec should have keys among .*'engine'"):
        load(path)
    _set_meta(path, lambda meta: meta["user"]["data"].pop("engine"))
    _set_meta(path, lambda meta: meta["user"]["data"]["csv"].update(quotechar="'"))
    with pytest.raises(ModelFileError, match=r"csv should have keys among .*'quotechar'"):
        load(path)
