"""Datasets that read CSV and Parquet files into tensors.

``TabularDataset`` is the in-memory map-style dataset; ``CsvDataset`` and
``ParquetDataset`` build it from files, ``read_dataset`` picks the reader by format,
and ``split`` makes train/validation/test parts. ``CsvStream`` and ``ParquetStream``
stream files larger than memory. Every reader learns one column encoding and converts
through one converter (see ``docs/architecture.md``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for mypy and editors; at run time they load on first use
    from tabloader._stats import FeatureStats
    from tabloader.datasets._columns import MISSING_POLICIES, TASKS
    from tabloader.datasets._csv import CsvDataset
    from tabloader.datasets._encoding import infer_task
    from tabloader.datasets._inspect import inspect_source
    from tabloader.datasets._open import read_dataset, source_format
    from tabloader.datasets._parquet import ParquetDataset
    from tabloader.datasets._remote import open_file
    from tabloader.datasets._split import split
    from tabloader.datasets._stream_base import TabularStream
    from tabloader.datasets._stream_csv import CsvStream
    from tabloader.datasets._stream_parquet import ParquetStream
    from tabloader.datasets._tabular import TabularDataset

#: public name -> the module that defines it. Loaded on first use (PEP 562), so that
#: ``inspect_source`` (pyarrow only) does not import torch: ``tabloader inspect`` and
#: ``tabloader --help`` stay fast. To export a name, add it here, to the TYPE_CHECKING
#: imports above and to ``__all__``.
_LAZY = {
    "CsvDataset": "tabloader.datasets._csv",
    "CsvStream": "tabloader.datasets._stream_csv",
    "FeatureStats": "tabloader._stats",
    "MISSING_POLICIES": "tabloader.datasets._columns",
    "ParquetDataset": "tabloader.datasets._parquet",
    "ParquetStream": "tabloader.datasets._stream_parquet",
    "TASKS": "tabloader.datasets._columns",
    "TabularDataset": "tabloader.datasets._tabular",
    "TabularStream": "tabloader.datasets._stream_base",
    "infer_task": "tabloader.datasets._encoding",
    "inspect_source": "tabloader.datasets._inspect",
    "open_file": "tabloader.datasets._remote",
    "read_dataset": "tabloader.datasets._open",
    "source_format": "tabloader.datasets._open",
    "split": "tabloader.datasets._split",
}
#: modules that need neither torch nor the file readers
_LIGHT = (
    "tabloader.datasets._columns",
    "tabloader.datasets._encoding",
    "tabloader.datasets._inspect",
    "tabloader.datasets._remote",
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if module in _LIGHT:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    # anything else loads torch and every reader at once, as an eager import did (_open
    # registers TabularDataset.from_path; the loaders' fork server preloads them all)
    for other, where in _LAZY.items():
        globals()[other] = getattr(importlib.import_module(where), other)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "CsvDataset",
    "CsvStream",
    "FeatureStats",
    "MISSING_POLICIES",
    "ParquetDataset",
    "ParquetStream",
    "TASKS",
    "TabularDataset",
    "TabularStream",
    "infer_task",
    "inspect_source",
    "open_file",
    "read_dataset",
    "source_format",
    "split",
]
