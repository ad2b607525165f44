"""The argument parser of the ``tabloader`` command: one small function per subcommand."""

from __future__ import annotations

import argparse
from typing import Any

from tabloader.cli._args import (
    MODELS,
    TRAINER_DEFAULTS,
    HelpFormatter,
    add_csv_options,
    add_data_options,
    add_debug,
    add_worker_options,
)

__all__ = ["build_parser"]

_DATA_HELP = "CSV/Parquet file, list, directory or glob"
_TASKS = ("regression", "binary", "multiclass")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tabloader`` command."""
    from tabloader import __version__

    parser = argparse.ArgumentParser(
        prog="tabloader",
        formatter_class=HelpFormatter,
        description="Train linear, logistic and softmax regression from CSV/Parquet files "
        "with PyTorch, and compare with scikit-learn.",
        epilog="Run 'tabloader demo' for a 30-second tour; 'tabloader COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="version", version=f"tabloader {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    _add_predict(sub)
    _add_evaluate(sub)
    _add_inspect(sub)
    _add_demo(sub)
    return parser


def _add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from data files",
        formatter_class=HelpFormatter,
        description="Train a linear, logistic or softmax regression model from CSV/Parquet data.",
        epilog="examples:\n"
        "  tabloader demo --write-data data/\n"
        "  tabloader train data/diabetes.csv --target target --out diabetes.pt\n"
        "  tabloader train data/wine.parquet --target target --model softmax \\\n"
        "      --compare-sklearn --plot loss.png\n",
    )
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument(
        "--model",
        choices=sorted(MODELS),
        help="which model to train (default: linear, logistic or softmax by the task)",
    )
    p.add_argument(
        "--task",
        choices=_TASKS,
        help="what the target is (default: implied by --model, else inferred from the target)",
    )
    add_data_options(p)
    _add_training_options(p.add_argument_group("training"))
    o = p.add_argument_group("output")
    o.add_argument(
        "--out", metavar="MODEL", help="save the fitted model to this file (default: not saved)"
    )
    o.add_argument("--json", action="store_true", help="print the results as one JSON object")
    o.add_argument("--quiet", action="store_true", help="no progress bar, no task message")
    o.add_argument(
        "--compare-sklearn",
        action="store_true",
        help="also fit scikit-learn's estimator with the same objective and compare",
    )
    o.add_argument(
        "--plot",
        metavar="FILE.png",
        help="write a loss-per-epoch figure, training and validation (matplotlib) (default: none)",
    )
    add_debug(p)


def _add_training_options(t: Any) -> None:
    d = TRAINER_DEFAULTS
    t.add_argument(
        "--batch-size",
        type=int,
        help=f"rows per step (default: {d['batch_size']!r}, the trainer's)",
    )
    t.add_argument("--full-batch", action="store_true", help="one step per epoch on all rows")
    t.add_argument(
        "--max-epochs", type=int, help=f"passes over the data (default: {d['max_epochs']})"
    )
    t.add_argument("--lr", type=float, help=f"learning rate (default: {d['lr']})")
    t.add_argument(
        "--optimizer",
        choices=["auto", "sgd", "adam", "lbfgs"],
        help="update rule; auto: L-BFGS for in-memory tables under 100,000 rows, "
        f"Adam otherwise (default: {d['optimizer']})",
    )
    t.add_argument("--momentum", type=float, help=f"SGD momentum (default: {d['momentum']})")
    t.add_argument(
        "--alpha",
        type=float,
        help=f"L2 strength: mean loss + alpha/2 ||W||^2 (default: {d['alpha']})",
    )
    t.add_argument(
        "--tol",
        type=float,
        help=f"early-stopping tolerance: a plateau is no relative improvement above it "
        f"(default: {d['tol']})",
    )
    t.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="optimise on standardised features; coefficients stay in raw units "
        f"(default: {d['standardize']})",
    )
    t.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="fraction of rows held out for validation, stratified for classifiers; the "
        "trainer's validation set, its loss recorded every epoch (0 = none)",
    )
    t.add_argument("--seed", type=int, default=0, help="seed of the split and the training order")
    t.add_argument(
        "--device",
        default="auto",
        help="'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'; 'cuda' without a GPU "
        "is an error",
    )
    add_worker_options(t)


def _add_model_input(p: Any) -> None:
    """MODEL, DATA and the CSV options that default to the training run's."""
    p.add_argument("model", metavar="MODEL", help="a model file written by 'tabloader train --out'")
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    add_csv_options(p, inherit=True)
    p.add_argument(
        "--missing",
        choices=["error", "drop", "mean"],
        help="missing feature cells: fail, drop the rows, or fill with the training means "
        "saved in the model (default: 'mean' if the model was trained with --missing mean, "
        "else 'error')",
    )
    _add_unknown_levels(p)


def _add_unknown_levels(p: Any) -> None:
    p.add_argument(
        "--unknown-levels",
        choices=["error", "ignore"],
        help="a categorical level that training never saw: fail, naming it, or encode it "
        "as all zeros (no level) (default: 'error')",
    )


def _add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a saved model",
        formatter_class=HelpFormatter,
        description="Predict every row of DATA, in order, with a model saved by 'train --out'. "
        "Feature columns are taken by name; classifiers add one probability column per class.",
        epilog="examples:\n"
        "  tabloader predict wine.pt data/wine.csv --keep target --out predictions.csv\n"
        "  tabloader predict diabetes.pt data/diabetes.parquet --missing mean | head\n",
    )
    _add_model_input(p)
    p.add_argument(
        "--keep",
        metavar="COLS",
        help="comma-separated columns (ids, ...) copied into the output, first, in this order "
        "(default: none)",
    )
    p.add_argument("--out", help="output file (.csv or .parquet) (default: CSV on stdout)")
    add_debug(p)


def _add_evaluate(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a saved model on labelled data",
        formatter_class=HelpFormatter,
        description="Score a model saved by 'train --out' on labelled files (the target column "
        "of training): accuracy, log loss, per-class precision/recall/F1 and the confusion "
        "matrix for classifiers; R^2, RMSE and MAE for regression. Computed with "
        "scikit-learn's metrics.",
        epilog="examples:\n"
        "  tabloader evaluate wine.pt data/wine.csv\n"
        "  tabloader evaluate diabetes.pt data/diabetes.parquet --json --plot diabetes.png\n",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by 'tabloader train --out'")
    p.add_argument(
        "data", metavar="DATA", nargs="+", help=_DATA_HELP + " (several are read as one)"
    )
    add_csv_options(p, inherit=True)
    p.add_argument(
        "--missing",
        choices=["error", "drop", "mean"],
        help="missing cells: fail, drop the rows, or fill features with the training means "
        "(default: 'mean' if the model was trained with --missing mean, else 'error')",
    )
    _add_unknown_levels(p)
    p.add_argument(
        "--target", help="the target column (default: the training target saved in the model)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="write the confusion matrix, or predicted-vs-true and residuals (default: none)",
    )
    add_debug(p)


def _add_inspect(sub: Any) -> None:
    p = sub.add_parser(
        "inspect",
        help="describe a data file cheaply",
        formatter_class=HelpFormatter,
        description="Rows, columns, dtypes, missing counts and, with --target, the target's "
        "distribution. Parquet row counts and null counts come from the file metadata; the "
        "partition columns of a hive directory are listed too. Does not load torch.",
        epilog="examples:\n"
        "  tabloader inspect data/wine.parquet\n"
        "  tabloader inspect data/diabetes.csv --target target --json\n",
    )
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument(
        "--target",
        help="also show this column's distribution (name or position) (default: none)",
    )
    add_csv_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_debug(p)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="train all three models on tables scikit-learn ships, compare with scikit-learn",
        formatter_class=HelpFormatter,
        description="Writes scikit-learn's diabetes, breast-cancer and wine tables to CSV and "
        "Parquet in a temporary folder, trains the linear, logistic and softmax trainers from "
        "those files through the loaders, and prints one comparison table. No network. "
        "With --write-data DIR: only write the tables to DIR (for the docs' examples).",
        epilog="examples:\n  tabloader demo\n  tabloader demo --write-data data/\n",
    )
    p.add_argument("--json", action="store_true", help="print the table as JSON records")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    p.add_argument(
        "--write-data",
        metavar="DIR",
        help="write diabetes, breast_cancer and wine as .csv and .parquet to DIR, and exit "
        "(default: train and compare instead)",
    )
    add_debug(p)
