"""``main``: parse, dispatch to a command, and turn exceptions into exit statuses."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tabloader.cli._args import UsageError
from tabloader.cli.parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 on success; 2 on bad usage or bad input (one line on stderr, no traceback unless
    ``--debug``); 1 on an internal failure; 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from tabloader.cli.commands import COMMANDS  # torch and the trainers load from here on

    try:
        return COMMANDS[args.command](args) or 0
    except KeyboardInterrupt:
        print("tabloader: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        if is_user_error(exc):
            print(f"tabloader {args.command}: error: {one_line(exc)}", file=sys.stderr)
            return 2
        print(
            f"tabloader {args.command}: internal error: {type(exc).__name__}: {one_line(exc)} "
            "(run again with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


def is_user_error(exc: BaseException) -> bool:
    """Bad input or usage (exit 2) as opposed to an internal failure (exit 1)."""
    from tabloader.errors import TabloaderError

    # sklearn's InvalidParameterError is a ValueError; KeyError covers missing columns
    return isinstance(
        exc, (TabloaderError, UsageError, OSError, ValueError, KeyError)
    ) and not isinstance(exc, (AssertionError, MemoryError))


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (a KeyError's without the quotes)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split())
