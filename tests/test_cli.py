"""The command line, run as a real subprocess through the installed console entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
            "batch_size",
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


@pytest.mark.parametrize("command", ["train", "predict", "inspect", "demo"])
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
        # (unstandardised, collinear) tables: within 5% (README: use lbfgs for the last 1%)
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
