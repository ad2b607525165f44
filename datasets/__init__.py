"""Datasets that read CSV and Parquet files into tensors.

``TabularDataset`` is the in-memory map-style dataset; ``CsvDataset`` and
``ParquetDataset`` build it from files.
"""

from tabloader.datasets._tabular import TASKS, TabularDataset

__all__ = ["TASKS", "TabularDataset"]
