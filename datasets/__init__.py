"""Datasets that read CSV and Parquet files into tensors.

``TabularDataset`` is the in-memory map-style dataset; ``CsvDataset`` and
``ParquetDataset`` build it from files, ``read_dataset`` picks the reader by format,
and ``split`` makes train/validation/test parts. ``CsvStream`` and ``ParquetStream``
stream files larger than memory. Every reader learns one column encoding and converts
through one converter (see ``docs/architecture.md``).
"""

from tabloader._stats import FeatureStats
from tabloader.datasets._columns import MISSING_POLICIES, TASKS
from tabloader.datasets._csv import CsvDataset
from tabloader.datasets._encoding import infer_task
from tabloader.datasets._inspect import inspect_source
from tabloader.datasets._open import read_dataset, source_format
from tabloader.datasets._parquet import ParquetDataset
from tabloader.datasets._split import split
from tabloader.datasets._stream_base import TabularStream
from tabloader.datasets._stream_csv import CsvStream
from tabloader.datasets._stream_parquet import ParquetStream
from tabloader.datasets._tabular import TabularDataset

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
    "read_dataset",
    "source_format",
    "split",
]
