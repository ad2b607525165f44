"""The command line, run as a real subprocess through the installed console entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

from tabloader import trainers

_SCRIPT = Path(sys.executable).with_name("tabloader")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "tabloader"]

MODEL_TASK = {"linear": "regression", "logistic": "binary", "softmax": "multiclass"}


def run(*args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def make_frame(model: str, n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    z = X @ np.array([1.5, -2.0, 0.5, 0.0])
    if model == "linear":
        df["y"] = 3.0 + z + 0.1 * rng.standard_normal(n)
    elif model == "logistic":
        df["y"] = np.where(z + 0.5 * rng.standard_normal(n) > 0, "yes", "no")
    else:
        df["y"] = np.array(["cat", "dog", "eel"])[
            np.digitize(z + 0.3 * rng.standard_normal(n), [-1, 1])
        ]
    return df


def write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("model", ["linear", "logistic", "softmax"])
def test_train_predict_round_trip(tmp_path, model, fmt):
    df = make_frame(model)
    data = write(df, tmp_path / f"train.{fmt}")
    model_file = tmp_path / "model.pt"
    out = run(
        "train",
        str(data),
        "--target",
        "y",
        "--model",
        model,
        "--val-fraction",
        "0",
        "--optimizer",
        "lbfgs",
        "--out",
        str(model_file),
        "--json",
        "--seed",
        "0",
    )
    res = json.loads(out.stdout)
    assert res["rows"] == len(df) and res["features"] == 4 and res["val_rows"] == 0
    assert model_file.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary file left"

    # the model file loads in Python, and its metrics are scikit-learn's on the same rows
    est = trainers.load(model_file)
    X = df[["a", "b", "c", "d"]]
    if model == "linear":
        pred = est.predict(X)
        assert res["train_loss"] == pytest.approx(mean_squared_error(df["y"], pred), rel=1e-5)
        assert res["train_r2"] == pytest.approx(r2_score(df["y"], pred), rel=1e-5)
        assert res["train_r2"] > 0.95
    else:
        proba = est.predict_proba(X)
        assert list(est.classes_) == sorted(df["y"].unique())
        assert res["train_loss"] == pytest.approx(
            log_loss(df["y"], proba, labels=est.classes_), rel=1e-5
        )
        assert res["train_accuracy"] == pytest.approx(accuracy_score(df["y"], est.predict(X)))
        assert res["train_accuracy"] > 0.8

    # predict: every row, same order, probabilities named after the classes
    new = df.drop(columns="y").sample(frac=1.0, random_state=1)
    new_path = write(new, tmp_path / f"new.{fmt}")
    pred_path = tmp_path / ("pred.parquet" if fmt == "csv" else "pred.csv")
    run("predict", str(model_file), str(new_path), "--out", str(pred_path))
    pred = pd.read_parquet(pred_path) if pred_path.suffix == ".parquet" else pd.read_csv(pred_path)
    assert len(pred) == len(new)
    expected = est.predict(new[["a", "b", "c", "d"]])
    if model == "linear":
        np.testing.assert_allclose(pred["prediction"], expected, rtol=1e-5, atol=1e-5)
    else:
        assert list(pred["prediction"].astype(str)) == [str(v) for v in expected]
        proba_cols = [f"proba_{c}" for c in est.classes_]
        assert [c for c in pred.columns if c.startswith("proba_")] == proba_cols
        np.testing.assert_allclose(
            pred[proba_cols].to_numpy(),
            est.predict_proba(new[["a", "b", "c", "d"]]),
            rtol=1e-5,
            atol=1e-6,
        )


def test_predict_to_stdout_and_missing_column(tmp_path):
    df = make_frame("linear", n=80)
    data = write(df, tmp_path / "d.csv")
    model_file = tmp_path / "m.pt"
    run(
        "train",
        str(data),
        "--target",
        "y",
        "--model",
        "linear",
        "--out",
        str(model_file),
        "--quiet",
    )
    out = run("predict", str(model_file), str(data))
    pred = pd.read_csv(__import__("io").StringIO(out.stdout))
    assert len(pred) == len(df)
    bad = write(df.drop(columns=["c"]), tmp_path / "bad.csv")
    proc = run("predict", str(model_file), str(bad), check=False)
    assert proc.returncode == 2
    assert "'c' not found" in proc.stderr and "Traceback" not in proc.stderr


def test_python_model_predicts_from_cli(tmp_path):
    """A model fitted and saved in Python is usable by `tabloader predict`."""
    df = make_frame("logistic", n=120)
    est = trainers.LogisticClassifier(optimizer="lbfgs").fit(df[["a", "b", "c", "d"]], df["y"])
    est.save(tmp_path / "py.pt")
    data = write(df.drop(columns="y"), tmp_path / "x.parquet")
    out = run("predict", str(tmp_path / "py.pt"), str(data))
    pred = pd.read_csv(__import__("io").StringIO(out.stdout))
    assert list(pred["prediction"]) == list(est.predict(df[["a", "b", "c", "d"]]))


@pytest.mark.parametrize("model", ["linear", "logistic"])
def test_compare_sklearn_matches_separate_fit(tmp_path, model):
    df = make_frame(model, n=400, seed=3)
    data = write(df, tmp_path / "d.csv")
    alpha = 0.0 if model == "linear" else 0.01
    res = json.loads(
        run(
            "train",
            str(data),
            "--target",
            "y",
            "--model",
            model,
            "--val-fraction",
            "0",
            "--alpha",
            str(alpha),
            "--compare-sklearn",
            "--json",
        ).stdout
    )
    X = df[["a", "b", "c", "d"]].to_numpy()
    n = len(df)
    if model == "linear":
        sk = LinearRegression().fit(X, df["y"])
        loss = mean_squared_error(df["y"], sk.predict(X))
    else:
        sk = LogisticRegression(C=1.0 / (n * alpha), tol=1e-10, max_iter=10_000).fit(X, df["y"])
        loss = log_loss(df["y"], sk.predict_proba(X))
    assert res["sklearn"]["train_loss"] == pytest.approx(loss, rel=1e-4)
    # ours reaches the same optimum: the objectives agree closely
    assert res["sklearn"]["objective_tabloader"] == pytest.approx(
        res["sklearn"]["objective"], rel=1e-2
    )
    assert res["sklearn"]["max_coef_diff"] is not None


def test_train_table_output_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    df = make_frame("softmax", n=200)
    data = write(df, tmp_path / "d.parquet")
    png = tmp_path / "loss.png"
    out = run(
        "train",
        str(data),
        "--target",
        "y",
        "--model",
        "softmax",
        "--max-epochs",
        "20",
        "--compare-sklearn",
        "--plot",
        str(png),
    )
    assert "accuracy" in out.stdout and "sklearn" in out.stdout and "epochs" in out.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_train_plot_draws_the_validation_curve_per_epoch(tmp_path, monkeypatch, optimizer):
    """The held-out split is the trainer's validation set: the model's history_ has its
    loss every epoch, the last one that of the saved model, and --plot draws it."""
    pytest.importorskip("matplotlib")
    df = make_frame("logistic", n=300)
    data = write(df, tmp_path / "d.parquet")
    png, model_file = tmp_path / "loss.png", tmp_path / "m.pt"
    args = ["train", str(data), "--target", "y", "--model", "logistic", "--json"]
    args += ["--optimizer", optimizer, "--max-epochs", "8", "--val-fraction", "0.25"]
    res = json.loads(run(*args, "--plot", str(png), "--out", str(model_file)).stdout)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    est = trainers.load(model_file)
    hist = est.history_
    assert len(hist) == res["epochs"] >= 2
    assert all(np.isfinite(h["val_loss"]) and np.isfinite(h["train_loss"]) for h in hist)
    # history's val_loss is the objective on the validation rows: the printed data loss
    # (log-loss, computed by scikit-learn) plus alpha/2 ||coef||^2, at the kept epoch
    objective = res["val_loss"] + est.alpha / 2 * float(np.sum(est.coef_**2))
    kept = hist[-1] if optimizer == "lbfgs" else min(hist, key=lambda h: h["val_loss"])
    assert kept["val_loss"] == pytest.approx(objective, rel=1e-5)
    # the figure's data: both curves, one point per epoch
    from tabloader.cli import train as train_cmd

    figures = []
    monkeypatch.setattr(train_cmd, "save_figure", lambda fig, path: figures.append(fig))
    train_cmd._plot(est, str(tmp_path / "again.png"), None)
    lines = {ln.get_label(): ln for ln in figures[0].axes[0].get_lines()}
    assert set(lines) == {"training loss", "validation loss"}
    np.testing.assert_allclose(lines["validation loss"].get_ydata(), [h["val_loss"] for h in hist])
    np.testing.assert_allclose(lines["training loss"].get_ydata(), [h["train_loss"] for h in hist])
    assert list(lines["validation loss"].get_xdata()) == list(range(1, len(hist) + 1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "{tmp}/nope.csv", "--target", "y", "--model", "linear"], "does not exist"),
        (
            ["train", "{data}", "--target", "label", "--model", "linear"],
            "target column 'label' not found",
        ),
        (["train", "{dirty}", "--target", "y", "--model", "linear"], "should be numeric"),
        (
            ["train", "{data}", "--target", "y", "--model", "linear", "--val-fraction", "1.5"],
            "--val-fraction",
        ),
        (
            ["train", "{data}", "--target", "y", "--model", "linear", "--batch-size", "0"],
            "--batch-size",
        ),
        (["predict", "{data}", "{data}"], "not a tabloader model"),
        (["inspect", "{tmp}/empty.csv"], "empty"),
        (["train", "{data}", "--target", "y", "--model", "bogus"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    df = make_frame("linear", n=30)
    df.to_csv(tmp_path / "data.csv", index=False)
    df["b"] = df["b"].astype(object)
    df.loc[3, "b"] = "oops"
    df.to_csv(tmp_path / "dirty.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    argv = [
        a.format(tmp=tmp_path, data=tmp_path / "data.csv", dirty=tmp_path / "dirty.csv")
        for a in args
    ]
    proc = run(*argv, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback(tmp_path):
    proc = run("inspect", str(tmp_path / "nope.csv"), "--debug", check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_inspect(tmp_path):
    df = make_frame("logistic", n=50)
    df.loc[[2, 7], "a"] = np.nan
    for path in (tmp_path / "d.csv", tmp_path / "d.parquet"):
        write(df, path)
        res = json.loads(run("inspect", str(path), "--target", "y", "--json").stdout)
        assert res["rows"] == 50
        cols = {c["name"]: c for c in res["columns"]}
        assert cols["a"]["missing"] == 2 and cols["b"]["missing"] == 0
        counts = {c["class"]: c["count"] for c in res["target"]["classes"]}
        assert counts == df["y"].value_counts().to_dict()
    text = run("inspect", str(tmp_path / "d.csv"), "--target", "y").stdout
    assert "50 rows" in text and "binary" in text


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "inspect", "demo"])
def test_help_has_example(command):
    out = run(command, "--help").stdout
    assert "example" in out


def test_python_dash_m_matches_script():
    proc = subprocess.run(
        [sys.executable, "-m", "tabloader", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.startswith("tabloader ")


def test_demo_runs_end_to_end():
    proc = run("demo", "--json")
    rows = json.loads(proc.stdout)
    assert {(r["table"], r["file"]) for r in rows} == {
        (t, f) for t in ("diabetes", "breast_cancer", "wine") for f in ("CSV", "Parquet")
    }
    for r in rows:
        # the defaults get close to scikit-learn's optimum of the same objective on these raw
        # (unstandardised, collinear) tables: within 5% (docs/trainers.md: use lbfgs for the last 1%)
        assert 0.99 * r["sklearn objective"] <= r["objective"] <= 1.05 * r["sklearn objective"], r
        assert r["val metric"] > (0.4 if r["metric"] == "R^2" else 0.85), r
        assert abs(r["val metric"] - r["sklearn val metric"]) < 0.05, r


@pytest.mark.parametrize("model", ["linear", "logistic", "softmax"])
def test_compare_sklearn_figures_are_the_library_compare(tmp_path, model):
    """--compare-sklearn reports trainers.compare's figures (objective, metric, max_coef_diff
    over coefficients and intercepts) for the model it fitted and saved."""
    df = make_frame(model, n=300, seed=5)
    data = write(df, tmp_path / "d.parquet")
    model_file = tmp_path / "m.pt"
    alpha = 0.0 if model == "linear" else 0.02
    res = json.loads(
        run(
            "train",
            str(data),
            "--target",
            "y",
            "--model",
            model,
            "--val-fraction",
            "0",
            "--optimizer",
            "lbfgs",
            "--alpha",
            str(alpha),
            "--compare-sklearn",
            "--out",
            str(model_file),
            "--json",
        ).stdout
    )["sklearn"]
    fitted = trainers.load(model_file)
    # the rows the CLI trained on: float32 features (and regression targets), as datasets hold them
    X = df[["a", "b", "c", "d"]].to_numpy(np.float32).astype(np.float64)
    y = df["y"].to_numpy(np.float32).astype(np.float64) if model == "linear" else df["y"].to_numpy()
    table = trainers.compare(fitted, X, y)
    ref_name = table.index[1]
    assert res["estimator"].startswith(ref_name)
    # scikit-learn's side: the same fit on the same rows, so the same figures
    assert res["objective"] == pytest.approx(table.loc[ref_name, "train_loss"], rel=1e-9)
    metric = "train_r2" if model == "linear" else "train_accuracy"
    assert res[metric] == pytest.approx(table.loc[ref_name, "train_metric"], rel=1e-9)
    # tabloader's side: the objective of the fitted (saved) model, which compare's refit of
    # the same configuration reaches too
    named = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    assert res["objective_tabloader"] == pytest.approx(fitted.loss(named, y), rel=1e-9)
    assert res["objective_tabloader"] == pytest.approx(
        table.loc["tabloader", "train_loss"], rel=1e-5
    )
    # max_coef_diff: compare's definition (coefficients and intercepts) on the saved model
    sk = trainers.sklearn_equivalent(fitted, len(X)).fit(X, y)

    def params(m):
        c = np.atleast_2d(np.asarray(m.coef_, dtype=np.float64)).ravel()
        return np.concatenate([c, np.atleast_1d(np.asarray(m.intercept_, np.float64)).ravel()])

    expected = float(np.max(np.abs(params(fitted) - params(sk))))
    assert res["max_coef_diff"] == pytest.approx(expected, rel=1e-6, abs=1e-12)
    assert res["max_coef_diff"] == pytest.approx(table.loc["tabloader", "max_coef_diff"], abs=1e-3)


def test_help_imports_neither_torch_nor_the_trainers():
    code = (
        "import sys\n"
        "from tabloader.cli import build_parser\n"
        "build_parser().parse_args(['train', 'd.csv', '--target', 'y', '--model', 'linear'])\n"
        "build_parser().parse_args(['evaluate', 'm.pt', 'd.csv', '--json'])\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'pandas', 'sklearn')]\n"
        "heavy += [m for m in sys.modules if m.startswith(('tabloader.trainers', "
        "'tabloader.datasets', 'tabloader.loaders'))]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_usage_errors_have_the_house_shape(tmp_path):
    df = make_frame("linear", n=30)
    df.to_csv(tmp_path / "d.csv", index=False)
    base = ["train", str(tmp_path / "d.csv"), "--target", "y", "--model", "linear"]
    for extra, flag, value in (
        (["--val-fraction", "1.5"], "--val-fraction", "1.5"),
        (["--plot", "loss.jpg"], "--plot", "'loss.jpg'"),
        (["--full-batch", "--batch-size", "8"], "--batch-size", "8"),
    ):
        proc = run(*base, *extra, check=False)
        assert proc.returncode == 2, proc.stderr
        line = proc.stderr.strip()
        assert "\n" not in line and "Traceback" not in line
        assert line.startswith(f"tabloader train: error: {flag} should be ")
        assert line.endswith(f", but got {flag}={value}")


# --------------------------------------------------------------------------- issue 13
def train_model(tmp_path: Path, df: pd.DataFrame, model: str, *extra: str) -> Path:
    data = write(df, tmp_path / f"train-{model}.csv")
    model_file = tmp_path / f"{model}.pt"
    run(
        "train",
        str(data),
        "--target",
        "y",
        "--model",
        model,
        "--optimizer",
        "lbfgs",
        "--val-fraction",
        "0",
        "--quiet",
        "--out",
        str(model_file),
        *extra,
    )
    return model_file


@pytest.mark.parametrize("model", ["linear", "softmax"])
def test_evaluate_equals_sklearn_metrics(tmp_path, model):
    from sklearn.metrics import (
        confusion_matrix,
        mean_absolute_error,
        precision_recall_fscore_support,
    )

    model_file = train_model(tmp_path, make_frame(model, n=200), model)
    test = make_frame(model, n=120, seed=7)
    data = write(test, tmp_path / "test.parquet")
    png = tmp_path / "eval.png"
    res = json.loads(
        run("evaluate", str(model_file), str(data), "--json", "--plot", str(png)).stdout
    )
    est = trainers.load(model_file)
    # the rows as the CLI read them: float32 features (and regression targets)
    X = test[["a", "b", "c", "d"]].astype(np.float32).astype(np.float64)
    y = test["y"].astype(np.float32).astype(np.float64) if model == "linear" else test["y"]
    assert res["rows"] == len(test) and png.read_bytes()[:4] == b"\x89PNG"
    if model == "linear":
        pred = est.predict(X)
        assert res["r2"] == pytest.approx(r2_score(y, pred), rel=1e-9)
        assert res["rmse"] == pytest.approx(mean_squared_error(y, pred) ** 0.5, rel=1e-9)
        assert res["mae"] == pytest.approx(mean_absolute_error(y, pred), rel=1e-9)
        return
    proba = est.predict_proba(X)
    pred = est.classes_[proba.argmax(axis=1)]
    assert res["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert res["log_loss"] == pytest.approx(log_loss(y, proba, labels=est.classes_), rel=1e-9)
    assert res["confusion_matrix"] == confusion_matrix(y, pred, labels=est.classes_).tolist()
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=est.classes_, zero_division=0)
    assert [c["class"] for c in res["per_class"]] == list(est.classes_)
    np.testing.assert_allclose([c["precision"] for c in res["per_class"]], p)
    np.testing.assert_allclose([c["recall"] for c in res["per_class"]], r)
    np.testing.assert_allclose([c["f1"] for c in res["per_class"]], f)
    assert [c["support"] for c in res["per_class"]] == list(s)
    # the table output says the same
    text = run("evaluate", str(model_file), str(data)).stdout
    assert "confusion matrix" in text and "log loss" in text and "precision" in text


def test_predict_keep_and_missing(tmp_path):
    df = make_frame("logistic", n=150)
    model_file = train_model(tmp_path, df, "logistic")
    est = trainers.load(model_file)
    new = df.drop(columns="y").sample(frac=1.0, random_state=3).reset_index(drop=True)
    new.insert(0, "id", [f"r{i:04d}" for i in range(len(new))])
    new["note"] = "x"
    gaps = new.copy()
    gaps.loc[[4, 9, 30], "b"] = np.nan
    gaps.loc[50, "d"] = np.nan
    path = write(gaps, tmp_path / "gaps.csv")

    # --keep: ids first, in the file's order
    out = run("predict", str(model_file), str(write(new, tmp_path / "new.csv")), "--keep", "id")
    pred = pd.read_csv(__import__("io").StringIO(out.stdout), dtype={"id": str})
    assert list(pred["id"]) == list(new["id"]) and pred.columns[0] == "id"
    assert list(pred["prediction"]) == list(est.predict(new[["a", "b", "c", "d"]]))

    # gaps: an error by default that names the flag
    proc = run("predict", str(model_file), str(path), check=False)
    assert (
        proc.returncode == 2 and "--missing drop" in proc.stderr and "missing=" not in proc.stderr
    )

    # --missing mean: the training means saved in the model fill the gaps
    out = run("predict", str(model_file), str(path), "--missing", "mean", "--keep", "note,id")
    pred = pd.read_csv(__import__("io").StringIO(out.stdout), dtype={"id": str})
    filled = gaps[["a", "b", "c", "d"]].fillna(
        df[["a", "b", "c", "d"]].astype(np.float32).astype(np.float64).mean()
    )
    assert list(pred.columns[:2]) == ["note", "id"] and list(pred["id"]) == list(new["id"])
    np.testing.assert_allclose(
        pred[[f"proba_{c}" for c in est.classes_]].to_numpy(),
        est.predict_proba(filled),
        rtol=1e-5,
        atol=1e-6,
    )

    # --missing drop: the rows with gaps leave, the kept ids line up
    proc = run("predict", str(model_file), str(path), "--missing", "drop", "--keep", "id")
    pred = pd.read_csv(__import__("io").StringIO(proc.stdout), dtype={"id": str})
    kept = gaps.drop(index=[4, 9, 30, 50])
    assert list(pred["id"]) == list(kept["id"]) and "dropped 4 rows" in proc.stderr
    assert list(pred["prediction"]) == list(est.predict(kept[["a", "b", "c", "d"]]))


@pytest.fixture(scope="module")
def latin_model(tmp_path_factory) -> tuple[Path, Path]:
    """A Latin-1 CSV with a categorical column and the model `train --encoding latin-1` fits."""
    folder = tmp_path_factory.mktemp("latin")
    df = make_frame("linear", n=90)
    df["island"] = np.array(["Biscoë", "Dréam", "Tørgersen"])[np.arange(90) % 3]
    data = folder / "latin.csv"
    data.write_bytes(df.to_csv(index=False).encode("latin-1"))
    model_file = folder / "m.pt"
    args = ["train", str(data), "--target", "y", "--model", "linear", "--categorical", "island"]
    run(*args, "--encoding", "latin-1", "--quiet", "--out", str(model_file))
    return data, model_file


def test_encoding_latin1_gives_utf8_levels(latin_model):
    data, model_file = latin_model
    est = trainers.load(model_file)
    assert {"island=Biscoë", "island=Dréam", "island=Tørgersen"} <= set(est.feature_names_in_)
    # predict reads the file with the training run's encoding; --keep gives UTF-8 text
    out = run("predict", str(model_file), str(data), "--keep", "island")
    assert out.stdout.splitlines()[1].startswith("Biscoë,")
    # evaluate takes --encoding too (here the training run's, given again)
    res = json.loads(
        run("evaluate", str(model_file), str(data), "--encoding", "latin-1", "--json").stdout
    )
    assert res["rows"] == 90 and res["r2"] > 0.9
    # inspect reads Latin-1 with --encoding (it refused anything but UTF-8 before)
    info = json.loads(
        run("inspect", str(data), "--encoding", "latin-1", "--target", "island", "--json").stdout
    )
    assert [c["class"] for c in info["target"]["classes"]] == ["Biscoë", "Dréam", "Tørgersen"]


def test_unknown_levels_error_or_ignore(latin_model, tmp_path):
    data, model_file = latin_model
    df = pd.read_csv(data, encoding="latin-1")
    new = df.drop(columns="y").iloc[:6].copy()
    new["island"] = ["Biscoë", "Fréo", "Dréam", "Fréo", "Tørgersen", "Biscoë"]
    path = tmp_path / "new.csv"
    path.write_bytes(new.to_csv(index=False).encode("latin-1"))
    # by default a level training never saw is an error that names it and the flag
    proc = run("predict", str(model_file), str(path), check=False)
    assert proc.returncode == 2 and "Fréo" in proc.stderr, proc.stderr
    assert "--unknown-levels ignore" in proc.stderr and "unknown_levels=" not in proc.stderr
    assert "categories=" not in proc.stderr and "train the model on data that has it" in proc.stderr
    # --unknown-levels ignore: the row gets no level (all zeros in the one-hot columns)
    out = run("predict", str(model_file), str(path), "--unknown-levels", "ignore")
    pred = pd.read_csv(__import__("io").StringIO(out.stdout))
    est = trainers.load(model_file)
    X = pd.DataFrame(0.0, index=new.index, columns=list(est.feature_names_in_))
    for c in ("a", "b", "c", "d"):
        X[c] = new[c].astype(np.float32).astype(np.float64)
    for i, level in enumerate(new["island"]):
        if f"island={level}" in X.columns:
            X.loc[i, f"island={level}"] = 1.0
    np.testing.assert_allclose(pred["prediction"], est.predict(X), rtol=1e-5, atol=1e-5)
    # evaluate has the flag too
    labelled = df.iloc[:6].assign(island=new["island"])
    lab_path = tmp_path / "lab.csv"
    lab_path.write_bytes(labelled.to_csv(index=False).encode("latin-1"))
    res = run("evaluate", str(model_file), str(lab_path), "--unknown-levels", "ignore", "--json")
    assert json.loads(res.stdout)["rows"] == 6


@pytest.mark.parametrize(
    ("case", "args", "flag", "python"),
    [
        ("text cell", ["--target", "y", "--model", "linear"], "--categorical b", "categorical="),
        ("3 classes", ["--target", "z", "--model", "logistic"], "--task multiclass", "task="),
        ("gap", ["--target", "y", "--model", "linear"], "--missing drop", "missing="),
        ("clean", ["--target", "y", "--batch-size", "0"], "--batch-size", "batch_size"),
    ],
)
def test_error_messages_name_flags(tmp_path, case, args, flag, python):
    df = make_frame("linear", n=40)
    df["z"] = np.arange(40) % 3
    if case == "text cell":
        df["b"] = df["b"].astype(object)
        df.loc[3, "b"] = "oops"
    elif case == "gap":
        df.loc[5, "c"] = np.nan
    data = write(df, tmp_path / "d.csv")
    proc = run("train", str(data), *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert flag in proc.stderr and python not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_inferred_task_is_reported_with_the_override_flag(tmp_path):
    df = make_frame("linear", n=60)
    df["y"] = np.arange(60) % 4  # small integer counts look like 4 classes
    data = write(df, tmp_path / "d.csv")
    res = json.loads(run("train", str(data), "--target", "y", "--max-epochs", "3", "--json").stdout)
    assert res["task"] == "multiclass" and res["model"] == "softmax"
    assert "--task regression" in res["task_note"] and res["class_labels"] == [0, 1, 2, 3]
    res = json.loads(
        run(
            "train",
            str(data),
            "--target",
            "y",
            "--task",
            "regression",
            "--max-epochs",
            "3",
            "--json",
        ).stdout
    )
    assert res["task"] == "regression" and res["model"] == "linear"
    text = run("train", str(data), "--target", "y", "--max-epochs", "3").stdout
    assert "inferred" in text and "--task regression" in text


def test_warnings_once_one_line_no_paths(tmp_path):
    df = make_frame("linear", n=60)
    df.loc[[3, 4], "a"] = np.nan
    data = write(df, tmp_path / "d.csv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    argv = ["train", str(data), "--target", "y", "--model", "linear", "--missing", "drop"]
    proc = subprocess.run(
        [*COMMAND, *argv, "--max-epochs", "2", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and all(line.startswith("tabloader train: warning: ") for line in lines), lines
    assert len(lines) == len(set(lines)) and ".py" not in proc.stderr
    assert any("--missing drop dropped 2 of 60 rows" in line for line in lines), lines
    assert any("--max-epochs" in line for line in lines), lines


def test_warnings_only_on_rank_0(monkeypatch, capsys):
    import warnings

    from tabloader.cli._messages import show_warnings

    for rank, shown in (("0", True), ("1", False)):
        monkeypatch.setenv("RANK", rank)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            with show_warnings("train"):
                warnings.warn("missing='drop' dropped 1 of 3 rows", UserWarning, stacklevel=1)
                warnings.warn("missing='drop' dropped 1 of 3 rows", UserWarning, stacklevel=1)
        err = capsys.readouterr().err
        assert err == (
            "tabloader train: warning: --missing drop dropped 1 of 3 rows\n" if shown else ""
        )


def test_predict_into_a_closed_pipe_exits_0(tmp_path):
    df = make_frame("softmax", n=200)
    model_file = train_model(tmp_path, df, "softmax")
    big = pd.concat([df.drop(columns="y")] * 150, ignore_index=True)  # 30,000 rows
    data = write(big, tmp_path / "big.parquet")
    cmd = " ".join(f"'{c}'" for c in [*COMMAND, "predict", str(model_file), str(data)])
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {cmd} | head -1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("prediction,") and proc.stderr == ""


def test_every_option_has_help_and_default():
    import argparse

    from tabloader.cli import build_parser
    from tabloader.cli._args import TRAINER_DEFAULTS

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        formatter = p._get_formatter()
        for action in p._actions:
            assert action.help, (name, action.dest)
            if action.option_strings and action.nargs != 0 and not action.required:
                assert "default" in formatter._get_help_string(action), (name, action.dest)
        assert "--debug" in p.format_help()
    params = trainers.LinearRegressor().get_params()
    for key, value in TRAINER_DEFAULTS.items():
        assert params[key] == value, key
    train_help = run("train", "--help").stdout
    assert "(default: 0.03)" in train_help and "(default: 1000)" in train_help


def test_demo_write_data(tmp_path):
    out = run("demo", "--write-data", str(tmp_path / "data"))
    names = sorted(Path(line).name for line in out.stdout.split())
    assert names == sorted(
        f"{t}.{e}" for t in ("diabetes", "breast_cancer", "wine") for e in ("csv", "parquet")
    )
    wine = pd.read_csv(tmp_path / "data" / "wine.csv")
    assert wine.shape == (178, 14) and set(wine["target"]) == {"class_0", "class_1", "class_2"}
    pd.testing.assert_frame_equal(wine, pd.read_parquet(tmp_path / "data" / "wine.parquet"))


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["evaluate", "--help"], ["predict", "--help"], ["inspect", "{tiny}"]],
)
def test_help_and_inspect_do_not_import_torch(tmp_path, argv):
    write(make_frame("logistic", n=5), tmp_path / "tiny.csv")
    argv = [a.format(tiny=tmp_path / "tiny.csv") for a in argv]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tabloader", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and ("usage: tabloader" in proc.stdout or "5 rows" in proc.stdout)
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("torch", "pandas", "sklearn")}


# --------------------------------------------------------------------------- issues 12, 13
def python_model(tmp_path: Path, df: pd.DataFrame) -> Path:
    """A model fitted and saved in Python (no CLI process): predict takes it by feature names."""
    est = trainers.LogisticClassifier(optimizer="lbfgs", max_epochs=50)
    est.fit(df[["a", "b", "c", "d"]], df["y"]).save(tmp_path / "m.pt")
    return tmp_path / "m.pt"


def one_line_exit_2(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in proc.stderr, (n, proc.stderr)


def test_outputs_that_are_inputs_or_unwritable_are_refused_first(tmp_path):
    """Checked before the data is read (the bad --target would fail there) or a model
    trained, and before torch loads: an output that is an input (also through a link or
    another relative path), a directory, a device, a missing folder; the input survives."""
    df = make_frame("logistic", n=40)
    data = write(df, tmp_path / "in.csv")
    model = python_model(tmp_path, df)
    before = data.read_bytes(), model.read_bytes()
    (tmp_path / "link.csv").symlink_to("in.csv")
    (tmp_path / "outdir").mkdir()
    hive = tmp_path / "hive" / "k=1"
    hive.mkdir(parents=True)
    write(df, hive / "part.parquet")
    train = ["train", "in.csv", "--target", "nope", "--model", "logistic"]
    cases = [
        (["predict", "m.pt", "in.csv", "--out", "in.csv"], "--out in.csv is the input DATA"),
        (["predict", "m.pt", "in.csv", "--out", "./link.csv"], "is the input DATA (in.csv)"),
        (["predict", "m.pt", "in.csv", "--out", "../" + tmp_path.name + "/in.csv"], "DATA"),
        ([*train, "--out", "in.csv"], "--out in.csv is the input DATA"),
        ([*train, "--out", "link.csv", "--plot", "l.png"], "is the input DATA"),
        ([*train, "--out", "outdir"], "--out outdir is a directory"),
        ([*train, "--out", "no/such/dir/m.pt"], "does not exist; create it first"),
        ([*train, "--out", "/dev/null"], "not a regular file"),
        ([*train, "--out", "x.png", "--plot", "x.png"], "--out and --plot are the same file"),
        (["train", "hive", "--target", "y", "--out", "hive/k=1/m.pt"], "inside the input"),
        (["evaluate", "m.pt", "in.csv", "--plot", "outdir"], "--plot should be"),
        (["predict", "m.pt", "in.csv", "--out", "p.json"], "--out should be a file name"),
        ([*train, "--device", "gpu"], "--device should be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        ([*train, "--worker-timeout", "5"], "--worker-timeout applies to worker processes"),
        ([*train, "--persistent-workers"], "--num-workers is 0"),
    ]
    for argv, needle in cases:
        one_line_exit_2(run(*argv, check=False, cwd=tmp_path), needle)
    # standard output redirected to the input: refused before anything is written
    cmd = " ".join(f"'{c}'" for c in [*COMMAND, "predict", "m.pt", "in.csv"])
    proc = subprocess.run(
        ["bash", "-c", f"{cmd} >> in.csv"], capture_output=True, text=True, cwd=tmp_path
    )
    one_line_exit_2(proc, "standard output is redirected to the input DATA")
    assert (data.read_bytes(), model.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hive",
        "in.csv",
        "link.csv",
        "m.pt",
        "outdir",
    ]


def test_device_cuda_without_cuda_is_a_usage_error(tmp_path):
    data = write(make_frame("linear", n=30), tmp_path / "d.csv")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [*COMMAND, "train", str(data), "--target", "y", "--device", "cuda"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    one_line_exit_2(proc, "--device cuda needs a CUDA GPU", "--device cpu")
    assert "internal error" not in proc.stderr and "AssertionError" not in proc.stderr


def test_predict_into_a_full_disk_exits_1_in_one_line(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    df = make_frame("logistic", n=40)
    write(df, tmp_path / "in.csv")
    python_model(tmp_path, df)
    cmd = " ".join(f"'{c}'" for c in [*COMMAND, "predict", "m.pt", "in.csv"])
    proc = subprocess.run(
        ["bash", "-c", f"{cmd} > /dev/full"], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("tabloader predict: failed: ") and proc.stderr.count("\n") == 1
    assert "No space left on device" in proc.stderr and "please report" not in proc.stderr


def test_save_failures_exit_1_and_interrupts_130_without_leftovers(tmp_path, monkeypatch, capsys):
    """torch's serializer fails ("enforce fail at inline_container.cc"): exit 1 in one
    plain line; the same failure caused by Ctrl-C during the save: 130. No file is left."""
    import signal

    import torch

    from tabloader.cli import main

    data = write(make_frame("linear", n=60), tmp_path / "d.csv")
    out = tmp_path / "out"
    out.mkdir()
    argv = ["train", str(data), "--target", "y", "--model", "linear", "--optimizer", "lbfgs",
            "--max-epochs", "20", "--quiet", "--device", "cpu", "--out", str(out / "m.pt")]  # fmt: skip

    def full_disk(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial")
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")

    def interrupted(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial")
        try:  # the signal arrives inside the write; torch turns it into a RuntimeError
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise RuntimeError("[enforce fail at inline_container.cc:588] . write failed") from None

    for fake, status, words in ((full_disk, 1, "failed: could not write --out"),
                                (interrupted, 130, "interrupted")):  # fmt: skip
        monkeypatch.setattr(torch, "save", fake)
        assert main(argv) == status
        err = capsys.readouterr().err.strip()
        assert err.startswith("tabloader train: ") and words in err and "\n" not in err, err
        assert "please report" not in err
        assert list(out.iterdir()) == []  # no model, no temporary file
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_predict_on_a_stream_says_what_to_do(tmp_path):
    from tabloader.datasets import CsvStream
    from tabloader.loaders import make_loader

    df = make_frame("logistic", n=40)
    data = write(df, tmp_path / "d.csv")
    est = trainers.LogisticClassifier(optimizer="lbfgs", max_epochs=20)
    est.fit(df[["a", "b", "c", "d"]], df["y"])
    stream = CsvStream(str(data), target="y", batch_size=8)
    for X in (stream, make_loader(stream)):
        for method in (est.predict, est.predict_proba, est.decision_function):
            with pytest.raises(TypeError, match="yields batches in its own order; predict on"):
                method(X)


def test_inspect_lists_hive_partition_columns(tmp_path):
    df = make_frame("linear", n=60)
    df["region"] = np.array(["north", "south", "east"])[np.arange(60) % 3]
    df.loc[[1, 4], "a"] = np.nan
    df.to_parquet(tmp_path / "sales", partition_cols=["region"])
    res = json.loads(run("inspect", str(tmp_path / "sales"), "--target", "region", "--json").stdout)
    cols = {c["name"]: c for c in res["columns"]}
    assert list(cols) == ["a", "b", "c", "d", "y", "region"] and res["rows"] == 60
    assert cols["region"]["partition"] and cols["a"]["missing"] == 2
    assert {c["class"]: c["count"] for c in res["target"]["classes"]} == {
        "east": 20,
        "north": 20,
        "south": 20,
    }
    assert "(partition)" in run("inspect", str(tmp_path / "sales")).stdout


@pytest.mark.slow  # three failing runs at once, about 10 s on 2 busy cores
def test_environment_failures_exit_1_and_sigint_130(tmp_path):
    """Ctrl-C while training: 130, nothing written. A killed DataLoader worker, a dead peer
    rank under torchrun: 1, one plain line, not "internal error ... please report it"."""
    import signal
    import socket

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.standard_normal((20_000, 4)), columns=["a", "b", "c", "d"])
    df["y"] = df @ np.array([1.0, 2.0, 3.0, 4.0])
    df.loc[5, "a"] = np.nan  # --missing drop warns once the data is read: the start signal
    write(df, tmp_path / "big.csv")
    slow = ["train", "big.csv", "--target", "y", "--task", "regression", "--missing", "drop",
            "--optimizer", "sgd", "--batch-size", "16", "--lr", "1e-6", "--max-epochs",
            "100000", "--val-fraction", "0", "--device", "cpu"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "RANK")}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def start(*extra: str, **more: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*COMMAND, *slow, *extra], cwd=tmp_path, env={**env, **more}, text=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    ranks = {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
             "TABLOADER_DIST_TIMEOUT": "60"}  # fmt: skip
    interrupted = start("--out", "m.pt")
    workers = start("--num-workers", "1", "--persistent-workers", "--worker-timeout", "120")
    rank0 = start(**ranks, RANK="0", LOCAL_RANK="0")
    rank1 = start(**ranks, RANK="1", LOCAL_RANK="1")
    try:
        for p in (interrupted, workers, rank0):  # training has begun
            assert "--missing drop dropped 1 of" in p.stderr.readline()
        interrupted.send_signal(signal.SIGINT)
        rank1.kill()
        victims: list[str] = []
        deadline = time.monotonic() + 120
        while not victims and time.monotonic() < deadline:  # the worker, under the forkserver
            kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(workers.pid)],
                                  capture_output=True, text=True).stdout.split()  # fmt: skip
            victims = [g for k in kids for g in subprocess.run(
                ["ps", "-o", "pid=", "--ppid", k], capture_output=True, text=True).stdout.split()]  # fmt: skip
            time.sleep(0.2)
        for v in victims:
            os.kill(int(v), signal.SIGKILL)
        errs = [p.communicate(timeout=180)[1] for p in (interrupted, workers, rank0)]
    finally:
        for p in (interrupted, workers, rank0, rank1):
            p.kill()
    assert interrupted.returncode == 130 and errs[0].strip() == "tabloader train: interrupted"
    for p, err, words in ((workers, errs[1], "worker"), (rank0, errs[2], "another rank died")):
        assert p.returncode == 1, err
        assert err.startswith("tabloader train: failed: ") and words in err, err
        assert err.count("\n") == 1 and "please report" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_datasets_namespace_is_lazy_and_complete(tmp_path):
    """``tabloader.datasets`` loads its names on first use (``inspect`` without torch), and
    every name of ``__all__`` is there, in ``dir()`` and through ``import *``."""
    write(make_frame("linear", n=10), tmp_path / "d.csv")
    code = (
        "import sys\n"
        "import tabloader.datasets as d\n"
        "from tabloader.datasets import inspect_source, infer_task\n"
        "assert 'torch' not in sys.modules\n"
        "assert set(d._LAZY) == set(d.__all__) and set(d.__all__) <= set(dir(d))\n"
        "from tabloader.datasets import TabularDataset\n"
        "assert len(TabularDataset.from_path('d.csv', target='y')) == 10  # readers registered\n"
        "ns = {}\n"
        "exec('from tabloader.datasets import *', ns)\n"
        "assert set(d.__all__) <= set(ns)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
