"""Map-style tensors from whole tables: learn the encoding once, then convert piece by piece.

The tables of a source (one per file, or one for in-memory data) are *pieces*. The
encoding is learned from all of them with the same :class:`EncodingLearner` a stream uses
in its first pass (which also warns about integers the tensors' dtype rounds); then each
piece is converted by the one :class:`~tabloader.datasets._convert.Converter` straight into
its rows of one preallocated float32 (or float64) tensor, and released, so a reader holds at most its tables and the
output (never a second copy of either).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from tabloader.datasets._columns import ColumnSpec
from tabloader.datasets._convert import Converter, MeanAccumulator, drop_warning, raise_missing
from tabloader.datasets._encoding import Encoding, EncodingLearner, given_fill_values
from tabloader.datasets._origin import Origin
from tabloader.errors import EmptyDataError

__all__ = ["Built", "Piece", "build_tensors"]


@dataclass
class Piece:
    """One table of a source and the origin that names its rows."""

    table: pa.Table | None
    origin: Origin


@dataclass
class Built:
    """The tensors and encoding of a whole source (what a ``TabularDataset`` is made of)."""

    X: torch.Tensor
    y: torch.Tensor | None
    encoding: Encoding
    names: list[str]
    n_dropped: int
    source: str

    def dataset_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``TabularDataset.__init__``."""
        enc = self.encoding
        return {
            "features": self.X,
            "targets": self.y,
            "feature_names": self.names,
            "target_name": enc.target,
            "task": enc.task,
            "classes": enc.classes_array(),
            "source": self.source,
            "categories": enc.categories,
            "fill_values": dict(enc.fill_values),
            "n_dropped": self.n_dropped,
        }


def learn_encoding(pieces: list[Piece], spec: ColumnSpec, name: str) -> Encoding:
    """The encoding of ``pieces`` (levels, task, classes; fill values come later)."""
    learner = EncodingLearner(spec)
    cols = learner.columns
    if cols:
        for p in pieces:
            assert p.table is not None
            learner.observe(p.table.select(cols))
    return learner.encoding(name)


def build_tensors(pieces: list[Piece], spec: ColumnSpec, name: str) -> Built:
    """Convert ``pieces`` (released as they are converted) following the resolved ``spec``."""
    n = sum(p.table.num_rows for p in pieces if p.table is not None)
    if n == 0:
        raise EmptyDataError(f"{name} has no data rows; expected at least one row")
    enc = learn_encoding(pieces, spec, name)
    conv = Converter(enc)
    X = np.empty((n, len(conv.names)), dtype=enc.dtype)
    out = torch.from_numpy(X)
    ys: list[np.ndarray] = []
    keeps: list[np.ndarray] = []
    any_bad = False
    off = 0
    for i, p in enumerate(pieces):
        table = p.table
        assert table is not None
        m = table.num_rows
        feats = conv.features(table, p.origin, out=X[off : off + m])
        y_missing = conv.target_missing(table, p.origin)
        keep = None
        if not feats.all_finite or y_missing.any():
            any_bad = True
            bad = ~np.isfinite(feats.X)
            if spec.missing == "error" or (spec.missing == "mean" and y_missing.any()):
                raise_missing(
                    bad,
                    conv.names,
                    y_missing,
                    enc.target,
                    p.origin,
                    feats.cat_missing,
                    spec.missing,
                )
            if spec.missing == "drop":
                keep = np.flatnonzero(~(bad.any(axis=1) | y_missing))
        if spec.missing == "drop":
            keeps.append(np.arange(off, off + m) if keep is None else keep + off)
        if enc.target is not None:
            col = table.column(enc.target)
            ys.append(conv.encode_target(col if keep is None else col.take(keep), p.origin, keep))
        pieces[i] = Piece(None, p.origin)  # release the table: its rows are in X now
        del table, feats
        off += m
    n_dropped = 0
    if any_bad and spec.missing == "drop":
        kept = np.concatenate(keeps)
        n_dropped = n - len(kept)
        drop_warning(n_dropped, n, name)
        out = torch.from_numpy(np.ascontiguousarray(X[kept]))
    elif any_bad and spec.missing == "mean":
        bad = ~np.isfinite(X)
        acc = MeanAccumulator(len(conv.names))
        acc.add(X, bad)
        enc.fill_values = acc.fill_values(conv.names, given_fill_values(spec), name)
        conv.fill(X, bad, name)
    y = None
    if ys:
        y = torch.from_numpy(ys[0] if len(ys) == 1 else np.concatenate(ys))
    return Built(out, y, enc, conv.names, n_dropped, name)
