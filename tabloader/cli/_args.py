"""Argument helpers of the command line: converters, shared option groups, flag checks.

Imports nothing heavy (no torch, no trainers), so that ``tabloader --help`` stays fast.
Flag checks raise :class:`UsageError` with the house message shape of
:mod:`tabloader._checks`: ``"{flag} should be {expected}, but got {flag}={value!r}"``.
"""

from __future__ import annotations

import argparse
from typing import Any

from tabloader._checks import message

__all__ = [
    "MODELS",
    "UsageError",
    "add_csv_options",
    "add_data_options",
    "add_debug",
    "check_flag",
    "column_list",
    "column_ref",
    "csv_kwargs",
    "estimator_params",
]

#: ``--model`` -> (trainer class in :mod:`tabloader.trainers`, task)
MODELS = {
    "linear": ("LinearRegressor", "regression"),
    "logistic": ("LogisticClassifier", "binary"),
    "softmax": ("SoftmaxClassifier", "multiclass"),
}


class UsageError(Exception):
    """Bad usage found after argument parsing (exit status 2)."""


def check_flag(ok: bool, flag: str, expected: str, value: Any) -> None:
    """Raise :class:`UsageError` with the house message unless ``ok``."""
    if not ok:
        raise UsageError(message(flag, expected, value))


def column_ref(text: str) -> str | int:
    """``"-1"`` and ``"3"`` are positions; anything else is a column name."""
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        return t


def column_list(text: str | None) -> list[str | int] | None:
    """A comma-separated list of column references (``None`` stays ``None``)."""
    if text is None:
        return None
    return [column_ref(t) for t in text.split(",") if t.strip()]


def add_debug(p: argparse.ArgumentParser) -> None:
    """``--debug``, which every command has."""
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def add_csv_options(g: Any, *, inherit: bool = False) -> None:
    """``--no-header``, ``--comment``, ``--delimiter``, ``--skip-rows``.

    ``inherit=True`` (``predict``): every default is ``None``, meaning "as when the model
    was trained".
    """
    if inherit:
        g.add_argument(
            "--no-header",
            dest="header",
            action="store_false",
            default=None,
            help="CSV has no header (default: as when the model was trained)",
        )
        g.add_argument("--comment", help="CSV comment character (default: as when trained)")
        g.add_argument("--delimiter", help="CSV field separator (default: as when trained)")
        g.add_argument("--skip-rows", type=int, help="CSV lines to skip (default: as when trained)")
        return
    g.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        help="CSV files have no header line (columns are named 0, 1, ...)",
    )
    g.add_argument("--comment", help="CSV: ignore lines starting with this character, e.g. '#'")
    g.add_argument("--delimiter", help="CSV field separator (default ',' or tab for .tsv)")
    g.add_argument("--skip-rows", type=int, default=0, help="CSV: lines to skip before the header")


def add_data_options(p: argparse.ArgumentParser) -> None:
    """The ``data`` option group of ``train``: target, features, CSV options, missing."""
    g = p.add_argument_group("data")
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
    add_csv_options(g)
    g.add_argument(
        "--missing",
        choices=["error", "drop", "mean"],
        default="error",
        help="missing cells: fail (default), drop the rows, or fill with the column mean",
    )


def csv_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The CSV reader options given on the command line."""
    return {
        "header": args.header,
        "delimiter": args.delimiter,
        "comment": args.comment,
        "skip_rows": args.skip_rows,
    }


def estimator_params(args: argparse.Namespace) -> dict[str, Any]:
    """The trainer's constructor arguments from ``train``'s flags (unset flags: defaults)."""
    check_flag(
        not (args.full_batch and args.batch_size is not None),
        "--batch-size",
        "left out with --full-batch (they exclude each other; give one)",
        args.batch_size,
    )
    p: dict[str, Any] = {}
    if args.full_batch:
        p["batch_size"] = None
    elif args.batch_size is not None:
        p["batch_size"] = args.batch_size
    for name in ("max_epochs", "lr", "optimizer", "momentum", "alpha", "standardize"):
        v = getattr(args, name)
        if v is not None:
            p[name] = v
    p["random_state"] = args.seed
    p["device"] = args.device
    return p
