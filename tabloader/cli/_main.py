"""``main``: parse, dispatch to a command, and turn exceptions into exit statuses.

===========  ===============================================================================
exit status  when
===========  ===============================================================================
0            success; also when the reader of stdout goes away (``| head -1``)
1            the environment failed (a full disk, an I/O error, a dead worker or peer rank,
             out of memory): one plain line; or a bug: "internal error ... please report it"
2            bad usage or bad input: one line in the command line's words
130          interrupted (Ctrl-C, SIGINT), also during a save; no partial output is left
===========  ===============================================================================
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from tabloader.cli._args import RuntimeFailure, UsageError
from tabloader.cli._messages import cli_words, one_line, show_warnings
from tabloader.cli.parser import build_parser

__all__ = ["is_runtime_failure", "is_user_error", "main"]

#: errno values of failures of the machine, not of the input: exit 1 without a bug report
_ENVIRONMENT_ERRNOS = {
    getattr(errno, name)
    for name in (
        "ENOSPC",
        "EDQUOT",
        "EIO",
        "EROFS",
        "EFBIG",
        "ENOMEM",
        "EMFILE",
        "ENFILE",
        "ESTALE",
        "ENXIO",
        "ETIMEDOUT",
        "ECONNRESET",
        "ECONNREFUSED",
        "ECONNABORTED",
        "EHOSTUNREACH",
        "ENETUNREACH",
    )
    if hasattr(errno, name)
}
#: what torch's RuntimeErrors say when a worker, a peer rank, the disk or memory failed
_ENVIRONMENT_MESSAGES = (
    "DataLoader worker",
    "DataLoader timed out",
    "another rank died",
    "enforce fail at inline_container",
    "out of memory",
    "Connection closed by peer",
    "Connection reset by peer",
    "NCCL error",
)
#: exception classes of the same (matched by name: torch need not be imported): torch's
#: distributed errors, and tabloader's StorageError (a remote store out of reach)
_ENVIRONMENT_CLASSES = {
    "DistError",
    "DistBackendError",
    "DistNetworkError",
    "DistStoreError",
    "StorageError",
}


class _Interrupt:
    """Whether SIGINT arrived: an exception raised while it was handled (torch's
    serializer turns a KeyboardInterrupt inside its write callback into a RuntimeError)
    still means "interrupted"."""

    seen = False

    @classmethod
    def handler(cls, signum: int, frame: Any) -> None:
        cls.seen = True
        raise KeyboardInterrupt

    @classmethod
    @contextmanager
    def watch(cls) -> Iterator[None]:
        """Note SIGINT while the command runs (unless SIGINT is ignored, as for ``&``)."""
        cls.seen = False
        try:
            previous = signal.getsignal(signal.SIGINT)
            if previous is signal.default_int_handler:
                signal.signal(signal.SIGINT, cls.handler)
        except ValueError:  # not the main thread: Python's handler stays
            previous = None
        try:
            yield
        finally:
            if previous is signal.default_int_handler:
                signal.signal(signal.SIGINT, previous)


@contextmanager
def _quiet_threads() -> Iterator[None]:
    """A background thread's broken connection (multiprocessing's resource sharer when a
    worker dies) prints no traceback: the main thread reports the failure in one line."""
    previous, previous_sys = threading.excepthook, sys.excepthook

    def hook(info: Any) -> None:
        if not issubclass(info.exc_type, (OSError, EOFError)):
            previous(info)

    def sys_hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        # multiprocessing's resource sharer reports through sys.excepthook
        if threading.current_thread() is threading.main_thread() or not isinstance(
            exc, (OSError, EOFError)
        ):
            previous_sys(kind, exc, tb)

    threading.excepthook, sys.excepthook = hook, sys_hook
    try:
        yield
    finally:
        threading.excepthook, sys.excepthook = previous, previous_sys


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 on success (also when the reader of stdout goes away, as ``| head`` does); 2 on bad
    usage or bad input (one line on stderr in the command line's words, no traceback
    unless ``--debug``); 1 when the environment fails (one plain line) or on a bug
    ("internal error"); 130 when interrupted.
    """
    command = "tabloader"
    try:
        with _Interrupt.watch():
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help(sys.stderr)
                return 2
            command = f"tabloader {args.command}"
            with show_warnings(args.command), _quiet_threads():
                return _run(args, command)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        return _interrupted(command)


def _run(args: argparse.Namespace, command: str) -> int:
    from tabloader.cli.commands import COMMANDS  # the heavy imports happen in the commands

    try:
        status = COMMANDS[args.command](args) or 0
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if _Interrupt.seen:
            return _interrupted(command)
        if args.debug:
            raise
        return _report(exc, command)


def _report(exc: Exception, command: str) -> int:
    """One line on stderr for ``exc``; the exit status."""
    if is_runtime_failure(exc):
        text = " ".join(str(exc).strip().split("\n", 1)[0].split())[:500]
        _drop_stdout_if_broken()
        print(f"{command}: failed: {text or type(exc).__name__}", file=sys.stderr)
        return 1
    if is_user_error(exc):
        print(f"{command}: error: {cli_words(one_line(exc))}", file=sys.stderr)
        return 2
    print(
        f"{command}: internal error: {type(exc).__name__}: {one_line(exc)} "
        "(run again with --debug for the traceback, and please report it)",
        file=sys.stderr,
    )
    return 1


def _interrupted(command: str) -> int:
    with suppress(OSError, ValueError):
        print(f"{command}: interrupted", file=sys.stderr)
    return 130


def _drop_stdout_if_broken() -> None:
    """When stdout cannot be written (``> /dev/full``), drop what is buffered there, so
    that Python's flush at exit does not fail again with a traceback."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        _quiet_broken_pipe()


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


def is_runtime_failure(exc: BaseException) -> bool:
    """The environment failed (exit 1, one plain line): a full disk, an I/O error, a dead
    worker or peer rank, memory; not the input and not a bug."""
    if isinstance(exc, (RuntimeFailure, MemoryError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
        return True
    if any(c.__name__ in _ENVIRONMENT_CLASSES for c in type(exc).__mro__):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc)
        return any(m in text for m in _ENVIRONMENT_MESSAGES)
    return False


def is_user_error(exc: BaseException) -> bool:
    """Bad input or usage (exit 2) as opposed to a failure (exit 1)."""
    from tabloader.errors import TabloaderError

    # sklearn's InvalidParameterError is a ValueError; KeyError covers missing columns;
    # OSError: a missing, unreadable or wrong kind of file (the machine's failures are
    # caught before, by is_runtime_failure)
    return isinstance(
        exc, (TabloaderError, UsageError, OSError, ValueError, KeyError)
    ) and not isinstance(exc, (AssertionError, MemoryError))
