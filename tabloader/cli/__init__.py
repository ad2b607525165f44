"""The ``tabloader`` command line: train, predict, inspect, demo.

Exit status: 0 on success, 2 on bad usage or bad input (one line on stderr, no traceback
unless ``--debug``), 1 on an internal failure.

Layout (each module imports only those above it; torch and the trainers load lazily,
inside the commands, so ``--help`` stays fast):

- ``_args``: argument converters, shared option groups, flag checks, ``UsageError``;
- ``_output``: terminal tables, JSON, atomic file names;
- ``parser``: :func:`build_parser`, one small function per subcommand;
- ``_evaluate``: metrics of fitted estimators, the side-by-side scikit-learn fit;
- ``train``, ``demo``: the ``train`` and ``demo`` machinery;
- ``commands``: one handler per subcommand (``COMMANDS``);
- ``_main``: :func:`main`, the dispatch and the exit statuses.
"""

from tabloader.cli._main import main
from tabloader.cli.parser import build_parser

__all__ = ["build_parser", "main"]
