"""Messages in the command line's own words: Python keywords become flags, warnings one line.

The library's messages name its Python arguments (``pass categorical=['island']``,
``use task='multiclass'``, ``missing='drop'``, ``header=False``). Under the command line
:func:`cli_words` rewrites them, in this one place, to the flags that do the same
(``--categorical island``, ``--task multiclass``, ``--missing drop``, ``--no-header``).
Imports nothing heavy.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TextIO

__all__ = ["cli_words", "one_line", "quiet_warnings", "show_warnings"]

#: Python argument -> flag (arguments with the same name as their flag are not listed)
_FLAGS = {
    "skip_rows": "--skip-rows",
    "batch_size": "--batch-size",
    "max_epochs": "--max-epochs",
    "validation_fraction": "--val-fraction",
    "random_state": "--seed",
    "num_workers": "--num-workers",
    "unknown_levels": "--unknown-levels",
    "persistent_workers": "--persistent-workers",
    "prefetch_factor": "--prefetch-factor",
    "multiprocessing_context": "--worker-start",
}
#: Python-only advice -> what does the same from the command line (the levels of a saved
#: model's categorical columns are fixed at training)
_ADVICE = (
    (
        re.compile(
            r"add it to categories= \(or leave categories= out to learn the levels from "
            r"the data\)"
        ),
        "train the model on data that has it",
    ),
)
_SAME = (
    "categorical",
    "features",
    "target",
    "task",
    "missing",
    "delimiter",
    "comment",
    "encoding",
    "lr",
    "alpha",
    "momentum",
    "optimizer",
    "tol",
)
_NAMES = "|".join(sorted([*_FLAGS, *_SAME], key=len, reverse=True))
#: ``name=`` followed by a Python literal (a list, a quoted string, a number, True/False/None)
_ASSIGN = re.compile(
    rf"(?<![\w\-.])({_NAMES})=(\[[^\]]*\]|'[^']*'|\"[^\"]*\"|-?[\d.]+(?:e-?\d+)?|True|False|None)?"
)
#: ``name should be ...`` at the start of an argument check's message
_SUBJECT = re.compile(rf"(?<![\w\-.=])({_NAMES}) should be ")


_BARE = re.compile(rf"(?<![\w\-.'\"])({'|'.join(_FLAGS)})(?![\w'\"=])")


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name)


def _value(literal: str) -> str:
    """A Python literal as it is typed after a flag: lists comma-joined, strings unquoted."""
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return literal
    if isinstance(value, list):
        if any(v is Ellipsis for v in value):
            return "COLS"
        return ",".join(str(v) for v in value)
    if isinstance(value, str):
        return value if re.fullmatch(r"[\w.\-]+", value) else repr(value)
    return str(value)


def _assign(m: re.Match) -> str:
    name, literal = m.group(1), m.group(2)
    if literal is None:  # "add it to features=", "check delimiter="
        return _flag(name)
    if literal == "[...]":
        return f"{_flag(name)} COLS"
    return f"{_flag(name)} {_value(literal)}"


def cli_words(text: str) -> str:
    """``text`` with the Python keywords it mentions rewritten to the command line's flags."""
    text = text.replace("header=False", "--no-header").replace("header=True", "a header line")
    for pattern, words in _ADVICE:
        text = pattern.sub(words, text)
    text = _SUBJECT.sub(lambda m: f"{_flag(m.group(1))} should be ", text)
    text = _ASSIGN.sub(_assign, text)
    # bare names with an underscore cannot be ordinary words: "increase max_epochs"
    return _BARE.sub(lambda m: _flag(m.group(1)), text)


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (a KeyError's without the quotes)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split())


def _rank0() -> bool:
    """Whether this process reports: rank 0 under torchrun (``RANK``), or alone."""
    return os.environ.get("RANK", "0") in ("", "0")


@contextmanager
def show_warnings(command: str) -> Iterator[None]:
    """Print each distinct warning once, as one line without source paths, on rank 0 only.

    The warning filters (``-W``, ``PYTHONWARNINGS``) still decide which warnings are shown.
    """
    seen: set[str] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = cli_words(" ".join(str(message).split()))
        if not _rank0() or text in seen:
            return
        seen.add(text)
        kind = "" if category is UserWarning else f"{category.__name__}: "
        with suppress(OSError, ValueError):
            print(f"tabloader {command}: warning: {kind}{text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """Silence warnings (inside the demo's table, where a column says the same)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
