"""The argument parser of the ``tabloader`` command: one small function per subcommand."""

from __future__ import annotations

import argparse
from typing import Any

from tabloader.cli._args import MODELS, add_csv_options, add_data_options, add_debug

__all__ = ["build_parser"]

_RAW = argparse.RawDescriptionHelpFormatter
_DATA_HELP = "CSV/Parquet file, list, directory or glob"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tabloader`` command."""
    from tabloader import __version__

    parser = argparse.ArgumentParser(
        prog="tabloader",
        description="Train linear, logistic and softmax regression from CSV/Parquet files "
        "with PyTorch, and compare with scikit-learn.",
        epilog="Run 'tabloader demo' for a 30-second tour; 'tabloader COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="version", version=f"tabloader {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    _add_predict(sub)
    _add_inspect(sub)
    _add_demo(sub)
    return parser


def _add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from data files",
        formatter_class=_RAW,
        description="Train a linear, logistic or softmax regression model from CSV/Parquet data.",
        epilog="examples:\n"
        "  tabloader train data.csv --target price --model linear --out price.pt\n"
        "  tabloader train data-04-zoo.csv --no-header --comment '#' --target -1 \\\n"
        "      --model softmax --compare-sklearn --plot loss.png\n",
    )
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--model", required=True, choices=sorted(MODELS), help="which model to train")
    add_data_options(p)
    _add_training_options(p.add_argument_group("training"))
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="MODEL", help="save the fitted model to this file")
    o.add_argument("--json", action="store_true", help="print the results as one JSON object")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.add_argument(
        "--compare-sklearn",
        action="store_true",
        help="also fit scikit-learn's estimator with the same objective and compare",
    )
    o.add_argument("--plot", metavar="FILE.png", help="write a loss-per-epoch figure (matplotlib)")
    add_debug(p)


def _add_training_options(t: Any) -> None:
    t.add_argument("--batch-size", type=int, help="rows per step (default: the trainer's)")
    t.add_argument("--full-batch", action="store_true", help="one step per epoch on all rows")
    t.add_argument("--max-epochs", type=int, help="passes over the data")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--optimizer", choices=["sgd", "adam", "lbfgs"], help="update rule")
    t.add_argument("--momentum", type=float, help="SGD momentum")
    t.add_argument("--alpha", type=float, help="L2 strength (mean loss + alpha/2 ||W||^2)")
    t.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="optimise on standardised features (coefficients stay in raw units)",
    )
    t.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="fraction of rows held out for validation (default 0.2; 0 = none)",
    )
    t.add_argument("--seed", type=int, default=0, help="seed of the split and the training order")
    t.add_argument("--device", default="auto", help="'auto' (CUDA when available), 'cpu', 'cuda'")
    t.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")


def _add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a saved model",
        formatter_class=_RAW,
        description="Predict every row of DATA, in order, with a model saved by 'train --out'. "
        "Feature columns are taken by name; classifiers add one probability column per class.",
        epilog="examples:\n"
        "  tabloader predict price.pt new.csv --out predictions.csv\n"
        "  tabloader predict zoo.pt animals.parquet --out pred.parquet\n",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by 'tabloader train --out'")
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--out", help="output file (.csv or .parquet); default: CSV on stdout")
    add_csv_options(p, inherit=True)
    add_debug(p)


def _add_inspect(sub: Any) -> None:
    p = sub.add_parser(
        "inspect",
        help="describe a data file cheaply",
        formatter_class=_RAW,
        description="Rows, columns, dtypes, missing counts and, with --target, the target's "
        "distribution. Parquet row counts and null counts come from the file metadata.",
        epilog="examples:\n"
        "  tabloader inspect data.parquet\n"
        "  tabloader inspect data-03-diabetes.csv --no-header --target -1\n",
    )
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--target", help="also show this column's distribution (name or position)")
    add_csv_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_debug(p)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="train all three models on tables scikit-learn ships, compare with scikit-learn",
        formatter_class=_RAW,
        description="Writes scikit-learn's diabetes, breast-cancer and wine tables to CSV and "
        "Parquet in a temporary folder, trains the linear, logistic and softmax trainers from "
        "those files through the loaders, and prints one comparison table. No network.",
        epilog="example:\n  tabloader demo\n",
    )
    p.add_argument("--json", action="store_true", help="print the table as JSON records")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    add_debug(p)
