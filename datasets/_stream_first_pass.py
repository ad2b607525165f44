"""A stream's first pass: the encoding (levels, task, classes, fill values) and row counts.

It learns with the same :class:`~tabloader.datasets._encoding.EncodingLearner` the
map-style readers use on their whole tables, and counts missing values with the same
converter, so a stream and a dataset of the same files have the same encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tabloader.datasets._columns import ColumnSpec
from tabloader.datasets._convert import Converter, MeanAccumulator, drop_warning, raise_missing
from tabloader.datasets._encoding import Encoding, EncodingLearner
from tabloader.datasets._fingerprint import fingerprint
from tabloader.datasets._stream_base import TabularStream
from tabloader.errors import EmptyDataError

__all__ = ["first_pass"]


def _read_levels(stream: TabularStream, learner: EncodingLearner, counted: bool) -> None:
    """Show every chunk of the columns still to learn to ``learner``; count rows if needed."""
    cols = learner.columns
    if not cols and counted:
        stream._check_files_nonempty(None)
        return
    read = cols or [stream._columns_needed[0]]
    per_file: dict[int, int] = {}
    for unit in stream._units:
        n = 0
        unit.first_row = per_file.get(unit.file, 0)
        for table, _ in stream._read_unit(unit, read):
            n += table.num_rows
            if cols:
                learner.observe(table.select(cols))
        if not counted:
            unit.raw_rows = unit.rows = n
        per_file[unit.file] = unit.first_row + (unit.raw_rows if counted else n)
    stream._check_files_nonempty(per_file)


def _missing_pass(stream: TabularStream, conv: Converter, n_total: int) -> int:
    """Rows kept per unit (``missing="drop"``) or fill values (``"mean"``); rows dropped."""
    missing = conv.missing
    acc = MeanAccumulator(len(conv.names))
    dropped = 0
    for unit in stream._units:
        kept = 0
        for table, off in stream._read_unit(unit, stream._columns):
            origin = stream._origin(unit, off)
            feats = conv.features(table, origin)
            y_missing = conv.target_missing(table, origin)
            bad = np.zeros(feats.X.shape, dtype=bool) if feats.all_finite else ~np.isfinite(feats.X)
            if missing == "mean":
                if y_missing.any():
                    raise_missing(
                        bad, conv.names, y_missing, conv.target, origin, feats.cat_missing, "mean"
                    )
                acc.add(feats.X, bad)
                kept += table.num_rows
            else:
                kept += table.num_rows - int((bad.any(axis=1) | y_missing).sum())
        dropped += unit.raw_rows - kept
        unit.rows = kept
    if missing == "mean":
        conv.encoding.fill_values = acc.fill_values(conv.names, {}, stream.source)
    else:
        drop_warning(dropped, n_total, stream.source)
    return dropped


def first_pass(
    stream: TabularStream, spec: ColumnSpec, classes: Sequence[Any] | None, counted: bool
) -> None:
    """Learn ``stream``'s encoding (``spec`` resolved) and set it, with the row counts.

    The files are fingerprinted first: a file that changes from now on (during this
    pass too) is refused when an epoch's read starts or a unit is opened.
    """
    footer = stream._parquet_footer
    stream._fingerprints = [fingerprint(p, parquet=footer) for p in stream._files]
    learner = EncodingLearner(spec, classes)
    learner.precision.columns = stream._precision_columns(learner.precision.columns, spec.np_dtype)
    _read_levels(stream, learner, counted)
    enc: Encoding = learner.encoding(stream.source)
    stream._fix_types(enc)
    n_total = sum(u.raw_rows for u in stream._units)
    if n_total == 0:
        raise EmptyDataError(f"{stream.source} has no data rows; expected at least one row")
    wanted = set(enc.features) | ({enc.target} if enc.target is not None else set())
    stream._columns = [c for c in stream._all_columns if c in wanted]
    dropped = 0
    if spec.missing in ("drop", "mean"):
        dropped = _missing_pass(stream, Converter(enc), n_total)
    stream._set_encoding(enc, dropped)
