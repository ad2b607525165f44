"""The ``tabloader`` command line: train, predict, evaluate, inspect, demo.

Exit status: 0 on success (also when the reader of stdout goes away), 2 on bad usage or
bad input (one line on stderr in the command line's words, no traceback unless
``--debug``), 1 on an internal failure. The manual is ``docs/cli.md``.

Layout (each module imports only those above it; torch and the trainers load lazily,
inside the commands, so ``--help`` stays fast):

- ``_args``: argument converters, shared option groups, the help formatter, flag checks,
  ``UsageError``;
- ``_messages``: library messages in the command line's words (flags, not keywords),
  warnings as one line each on rank 0;
- ``_output``: terminal tables, JSON, atomic file names and figures;
- ``parser``: :func:`build_parser`, one small function per subcommand;
- ``_evaluate``: metrics of fitted estimators, the side-by-side scikit-learn fit;
- ``_input``: reading a file the way a saved model needs it (``predict``, ``evaluate``);
- ``train``, ``demo``, ``scores``: the ``train``, ``demo`` and ``evaluate`` machinery;
- ``commands``: one handler per subcommand (``COMMANDS``);
- ``_main``: :func:`main`, the dispatch, broken pipes and the exit statuses.
"""

from tabloader.cli._main import main
from tabloader.cli.parser import build_parser

__all__ = ["build_parser", "main"]
