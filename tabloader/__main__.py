"""``python -m tabloader``: the command line."""

from tabloader.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
