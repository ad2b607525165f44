"""``main``: parse, dispatch to a command, and turn exceptions into exit statuses."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tabloader.cli._args import UsageError
from tabloader.cli._messages import cli_words, one_line, show_warnings
from tabloader.cli.parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 on success (also when the reader of stdout goes away, as ``| head`` does); 2 on bad
    usage or bad input (one line on stderr in the command line's words, no traceback
    unless ``--debug``); 1 on an internal failure; 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with show_warnings(args.command):
            return _run(args)
    except BrokenPipeError:
        return _quiet_broken_pipe()


def _run(args: argparse.Namespace) -> int:
    from tabloader.cli.commands import COMMANDS  # torch and the trainers load from here on

    command = args.command
    try:
        status = COMMANDS[command](args) or 0
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:
        raise
    except KeyboardInterrupt:
        print("tabloader: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        if is_user_error(exc):
            print(f"tabloader {command}: error: {cli_words(one_line(exc))}", file=sys.stderr)
            return 2
        print(
            f"tabloader {command}: internal error: {type(exc).__name__}: {one_line(exc)} "
            "(run again with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


def _quiet_broken_pipe() -> int:
    """The reader of stdout left (``tabloader predict ... | head -1``): end quietly, 0.

    stdout is pointed at /dev/null so that Python's own flush at exit does not fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 0


def is_user_error(exc: BaseException) -> bool:
    """Bad input or usage (exit 2) as opposed to an internal failure (exit 1)."""
    from tabloader.errors import TabloaderError

    # sklearn's InvalidParameterError is a ValueError; KeyError covers missing columns
    return isinstance(
        exc, (TabloaderError, UsageError, OSError, ValueError, KeyError)
    ) and not isinstance(exc, (AssertionError, MemoryError))
