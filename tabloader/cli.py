"""The ``tabloader`` command line: train, predict, inspect, demo.

Exit status: 0 on success, 2 on bad usage or bad input (one line on stderr, no traceback
unless ``--debug``), 1 on an internal failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "build_parser"]

MODELS = {
    "linear": ("LinearRegressor", "regression"),
    "logistic": ("LogisticClassifier", "binary"),
    "softmax": ("SoftmaxClassifier", "multiclass"),
}


class UsageError(Exception):
    """Bad usage found after argument parsing (exit status 2)."""


# --------------------------------------------------------------------------- parsing helpers
def _column_ref(text: str) -> str | int:
    """``"-1"`` and ``"3"`` are positions; anything else is a column name."""
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        return t


def _column_list(text: str | None) -> list[str | int] | None:
    if text is None:
        return None
    return [_column_ref(t) for t in text.split(",") if t.strip()]


def _add_data_options(p: argparse.ArgumentParser, *, target: bool) -> None:
    g = p.add_argument_group("data")
    if target:
        g.add_argument(
            "--target",
            required=True,
            help="target column: a name, or a position (-1 = last column)",
        )
    g.add_argument(
        "--features",
        help="comma-separated feature columns (names or positions); default: all but the target",
    )
    g.add_argument(
        "--categorical",
        help="comma-separated feature columns to one-hot encode",
    )
    g.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        help="CSV files have no header line (columns are named 0, 1, ...)",
    )
    g.add_argument("--comment", help="CSV: ignore lines starting with this character, e.g. '#'")
    g.add_argument("--delimiter", help="CSV field separator (default ',' or tab for .tsv)")
    g.add_argument("--skip-rows", type=int, default=0, help="CSV: lines to skip before the header")
    g.add_argument(
        "--missing",
        choices=["error", "drop", "mean"],
        default="error",
        help="missing cells: fail (default), drop the rows, or fill with the column mean",
    )


def _csv_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "header": args.header,
        "delimiter": args.delimiter,
        "comment": args.comment,
        "skip_rows": args.skip_rows,
    }


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")


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
    fmt = argparse.RawDescriptionHelpFormatter

    # ---- train
    p = sub.add_parser(
        "train",
        help="train a model from data files",
        formatter_class=fmt,
        description="Train a linear, logistic or softmax regression model from CSV/Parquet data.",
        epilog="examples:\n"
        "  tabloader train data.csv --target price --model linear --out price.pt\n"
        "  tabloader train data-04-zoo.csv --no-header --comment '#' --target -1 \\\n"
        "      --model softmax --compare-sklearn --plot loss.png\n",
    )
    p.add_argument("data", metavar="DATA", help="CSV/Parquet file, list, directory or glob")
    p.add_argument("--model", required=True, choices=sorted(MODELS), help="which model to train")
    _add_data_options(p, target=True)
    t = p.add_argument_group("training")
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
    _common(p)

    # ---- predict
    p = sub.add_parser(
        "predict",
        help="predict with a saved model",
        formatter_class=fmt,
        description="Predict every row of DATA, in order, with a model saved by 'train --out'. "
        "Feature columns are taken by name; classifiers add one probability column per class.",
        epilog="examples:\n"
        "  tabloader predict price.pt new.csv --out predictions.csv\n"
        "  tabloader predict zoo.pt animals.parquet --out pred.parquet\n",
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by 'tabloader train --out'")
    p.add_argument("data", metavar="DATA", help="CSV/Parquet file, list, directory or glob")
    p.add_argument("--out", help="output file (.csv or .parquet); default: CSV on stdout")
    p.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        default=None,
        help="CSV has no header (default: as when the model was trained)",
    )
    p.add_argument("--comment", help="CSV comment character (default: as when trained)")
    p.add_argument("--delimiter", help="CSV field separator (default: as when trained)")
    p.add_argument("--skip-rows", type=int, help="CSV lines to skip (default: as when trained)")
    _common(p)

    # ---- inspect
    p = sub.add_parser(
        "inspect",
        help="describe a data file cheaply",
        formatter_class=fmt,
        description="Rows, columns, dtypes, missing counts and, with --target, the target's "
        "distribution. Parquet row counts and null counts come from the file metadata.",
        epilog="examples:\n"
        "  tabloader inspect data.parquet\n"
        "  tabloader inspect data-03-diabetes.csv --no-header --target -1\n",
    )
    p.add_argument("data", metavar="DATA", help="CSV/Parquet file, list, directory or glob")
    p.add_argument("--target", help="also show this column's distribution (name or position)")
    p.add_argument("--no-header", dest="header", action="store_false")
    p.add_argument("--comment")
    p.add_argument("--delimiter")
    p.add_argument("--skip-rows", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _common(p)

    # ---- demo
    p = sub.add_parser(
        "demo",
        help="train all three models on tables scikit-learn ships, compare with scikit-learn",
        formatter_class=fmt,
        description="Writes scikit-learn's diabetes, breast-cancer and wine tables to CSV and "
        "Parquet in a temporary folder, trains the linear, logistic and softmax trainers from "
        "those files through the loaders, and prints one comparison table. No network.",
        epilog="example:\n  tabloader demo\n",
    )
    p.add_argument("--json", action="store_true", help="print the table as JSON records")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    _common(p)
    return parser


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from tabloader import _cli_commands as commands

    handler = getattr(commands, f"cmd_{args.command}")
    try:
        return handler(args) or 0
    except KeyboardInterrupt:
        print("tabloader: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        if _is_user_error(exc):
            print(f"tabloader {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        print(
            f"tabloader {args.command}: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(run again with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


def _is_user_error(exc: BaseException) -> bool:
    """Bad input or usage (exit 2) as opposed to an internal failure (exit 1)."""
    from tabloader.errors import TabloaderError

    # sklearn's InvalidParameterError is a ValueError; KeyError covers missing columns
    return isinstance(
        exc, (TabloaderError, UsageError, OSError, ValueError, KeyError)
    ) and not isinstance(exc, (AssertionError, MemoryError))


def _one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split())


def _isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def write_json(obj: Any, stream: Any = None) -> None:
    """Print ``obj`` as JSON (numpy scalars converted)."""
    stream = stream or sys.stdout

    def default(o: Any) -> Any:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    json.dump(obj, stream, default=default)
    stream.write("\n")


def atomic_path(path: str) -> str:
    """A temporary name beside ``path`` to write to before ``os.replace``."""
    d = os.path.dirname(os.path.abspath(path))
    return os.path.join(d, f".{os.path.basename(path)}.{os.getpid()}.{time.time_ns()}.tmp")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
