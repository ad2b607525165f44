"""``python -m tabloader.cli``: the command line (as ``python -m tabloader``)."""

from tabloader.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
