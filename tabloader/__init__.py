"""tabloader: fast PyTorch Datasets, DataLoaders and trainers for tabular data."""

from tabloader._version import __version__

__all__ = ["__version__"]
