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
    "TASK_MODELS",
    "TRAINER_DEFAULTS",
    "HelpFormatter",
    "RuntimeFailure",
    "UsageError",
    "add_csv_options",
    "add_data_options",
    "add_debug",
    "add_worker_options",
    "check_device",
    "check_flag",
    "check_plot",
    "column_list",
    "column_ref",
    "csv_kwargs",
    "estimator_params",
    "loader_options",
]

#: ``--model`` -> (trainer class in :mod:`tabloader.trainers`, task)
MODELS = {
    "linear": ("LinearRegressor", "regression"),
    "logistic": ("LogisticClassifier", "binary"),
    "softmax": ("SoftmaxClassifier", "multiclass"),
}


#: task -> the ``--model`` that learns it
TASK_MODELS = {task: model for model, (_, task) in MODELS.items()}

#: the trainers' defaults of the parameters ``train`` has flags for (shown in ``--help``;
#: ``tests/test_cli.py`` checks them against the trainers' own ``get_params()``)
TRAINER_DEFAULTS: dict[str, Any] = {
    "batch_size": "auto",
    "max_epochs": 1000,
    "lr": 0.03,
    "optimizer": "auto",
    "momentum": 0.9,
    "alpha": 1e-4,
    "tol": 1e-4,
    "standardize": True,
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and appends ``(default: ...)`` to every option
    whose help does not already say its default (flags that are off by default and
    options whose default is "unset" explain themselves in their help)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or action.default is None
            or action.default is False
            or action.default == argparse.SUPPRESS
            or action.required
        ):
            return text
        return text + " (default: %(default)s)"


class UsageError(Exception):
    """Bad usage found after argument parsing (exit status 2)."""


class RuntimeFailure(Exception):
    """The environment failed (a disk full, a file that could not be written, a dead
    worker or peer): exit status 1 with one plain line, not reported as a bug."""


def check_flag(ok: bool, flag: str, expected: str, value: Any) -> None:
    """Raise :class:`UsageError` with the house message unless ``ok``."""
    if not ok:
        raise UsageError(message(flag, expected, value))


def check_plot(path: str | None) -> None:
    """``--plot``: a .png name, and matplotlib (the ``plot`` extra) installed."""
    if not path:
        return
    check_flag(path.lower().endswith(".png"), "--plot", "the name of a .png file", path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed; install the extra: "
            "pip install 'tabloader[plot]'"
        ) from None


def check_device(device: str) -> None:
    """``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, and CUDA present for cuda.

    Imports torch (only ``train`` has ``--device``, and it needs torch anyway).
    """
    kind, _, index = device.partition(":")
    check_flag(
        device in ("auto", "cpu", "cuda") or (kind == "cuda" and index.isdigit()),
        "--device",
        "'auto', 'cpu', 'cuda' or 'cuda:N'",
        device,
    )
    if kind != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        why = "was built without CUDA" if torch.version.cuda is None else "finds no CUDA GPU"
        raise UsageError(
            f"--device {device} needs a CUDA GPU, but torch {torch.__version__} {why}; "
            "use --device cpu, or --device auto (CUDA when available)"
        )
    count = torch.cuda.device_count()
    check_flag(
        not index or int(index) < count,
        "--device",
        f"'cuda' or 'cuda:N' with N < {count} (the GPUs visible)",
        device,
    )


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
        g.add_argument(
            "--encoding", help="CSV text encoding, e.g. latin-1 (default: as when trained)"
        )
        return
    g.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        help="CSV files have no header line; columns are then named 0, 1, ... "
        "(default: the first line is the header)",
    )
    g.add_argument(
        "--comment",
        help="CSV: ignore lines starting with this character, e.g. '#' (default: none)",
    )
    g.add_argument("--delimiter", help="CSV field separator (default: ',', or tab for .tsv files)")
    g.add_argument("--skip-rows", type=int, default=0, help="CSV: lines to skip before the header")
    g.add_argument(
        "--encoding",
        default="utf8",
        help="CSV text encoding, e.g. latin-1 or cp1252; levels come out as UTF-8 text",
    )


def add_worker_options(t: Any) -> None:
    """``--num-workers`` and the DataLoader options that apply with worker processes."""
    t.add_argument(
        "--num-workers",
        type=int,
        default=0,
        help="DataLoader worker processes that prepare the batches (0: the main process)",
    )
    t.add_argument(
        "--worker-timeout",
        type=float,
        metavar="SECONDS",
        help="with --num-workers: fail (exit 1) when a batch takes longer than this "
        "(default: wait without limit)",
    )
    t.add_argument(
        "--persistent-workers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --num-workers: keep the workers from one epoch to the next "
        "(default: off, start them each epoch)",
    )
    t.add_argument(
        "--prefetch-factor",
        type=int,
        metavar="N",
        help="with --num-workers: batches each worker prepares ahead (default: 2, torch's)",
    )
    t.add_argument(
        "--worker-start",
        choices=["forkserver", "spawn", "fork"],
        help="with --num-workers: how workers start (default: forkserver where available, "
        "else spawn; fork can deadlock with threads)",
    )


def loader_options(args: argparse.Namespace) -> dict[str, Any]:
    """``make_loader``'s worker keywords from ``--num-workers`` and the options above."""
    given = {
        "--worker-timeout": args.worker_timeout,
        "--persistent-workers": args.persistent_workers,
        "--prefetch-factor": args.prefetch_factor,
        "--worker-start": args.worker_start,
    }
    check_flag(args.num_workers >= 0, "--num-workers", "0 or more", args.num_workers)
    if args.num_workers == 0:
        used = [flag for flag, v in given.items() if v is not None]
        if used:
            raise UsageError(
                f"{used[0]} applies to worker processes, but --num-workers is 0; "
                f"add --num-workers 2 (say), or leave {used[0]} out"
            )
        return {}
    timeout = args.worker_timeout or 0.0
    check_flag(timeout >= 0, "--worker-timeout", "0 or more seconds", args.worker_timeout)
    prefetch = args.prefetch_factor
    check_flag(prefetch is None or prefetch >= 1, "--prefetch-factor", "1 or more", prefetch)
    return {
        "num_workers": args.num_workers,
        "timeout": timeout,
        "persistent_workers": bool(args.persistent_workers),
        "prefetch_factor": prefetch,
        "multiprocessing_context": args.worker_start,
    }


def add_data_options(p: argparse.ArgumentParser) -> None:
    """The ``data`` option group of ``train``: target, features, CSV options, missing."""
    g = p.add_argument_group("data")
    g.add_argument(
        "--target",
        required=True,
        help="target column: a name, or a position (-1 = last column) (required)",
    )
    g.add_argument(
        "--features",
        help="comma-separated feature columns (names or positions) (default: all but the target)",
    )
    g.add_argument(
        "--categorical",
        help="comma-separated feature columns to one-hot encode (default: none)",
    )
    add_csv_options(g)
    g.add_argument(
        "--missing",
        choices=["error", "drop", "mean"],
        default="error",
        help="missing cells: fail, drop the rows, or fill features with the column mean",
    )


def csv_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The CSV reader options given on the command line."""
    return {
        "header": args.header,
        "delimiter": args.delimiter,
        "comment": args.comment,
        "skip_rows": args.skip_rows,
        "encoding": args.encoding,
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
    for name in ("max_epochs", "lr", "optimizer", "momentum", "alpha", "tol", "standardize"):
        v = getattr(args, name)
        if v is not None:
            p[name] = v
    p["random_state"] = args.seed
    p["device"] = args.device
    return p
