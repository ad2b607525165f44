"""Integers that the tensors' float dtype cannot hold exactly: counted once, warned about once.

float32 holds every integer up to 2**24 = 16,777,216 exactly, float64 every integer up to
2**53; beyond that an id such as 9007199254740993 is rounded to a neighbour. Every reader
counts those values per column while it learns the encoding (a map-style reader over its
tables, a stream in its first pass) and warns once per column, with the same message.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "EXACT_LIMIT",
    "PrecisionCheck",
    "caller_stacklevel",
    "inexact_integers",
    "precision_warning",
]

#: the largest magnitude up to which every integer is exact in each float dtype
EXACT_LIMIT = {np.dtype(np.float32): 2**24, np.dtype(np.float64): 2**53}
_LIMIT_TEXT = {np.dtype(np.float32): "2**24 = 16777216", np.dtype(np.float64): "2**53"}


def caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside tabloader."""
    frame: Any = sys._getframe(1)  # the function that calls warnings.warn
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("tabloader."):
        frame = frame.f_back
        level += 1
    return level


def _beyond(values: np.ndarray, limit: int) -> np.ndarray:
    if values.dtype.kind == "u":
        return values > limit
    return (values > limit) | (values < -limit)


def inexact_integers(values: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """Positions of the integers of ``values`` that ``dtype`` cannot hold exactly (None: none).

    Integer arrays are checked value by value. In a float array only integral values up
    to 2**53 count: a float64 beyond that cannot tell an integer from its neighbours (and a
    float array holds no integer that float64 cannot).
    """
    kind = values.dtype.kind
    dtype = np.dtype(dtype)
    limit = EXACT_LIMIT[dtype]
    if not len(values) or kind not in "iuf":
        return None
    if kind == "f" and (values.dtype.itemsize <= dtype.itemsize or dtype.itemsize >= 8):
        return None  # float32 into float32/float64, float64 into float64: nothing is lost
    if kind in "iu" and values.dtype.itemsize * 8 - (kind == "i") <= np.log2(limit):
        return None  # int8/16 (and uint16) always fit
    with np.errstate(invalid="ignore"):
        hi, lo = values.max(), values.min()
        if hi <= limit and lo >= -limit:  # NaN fails both tests: checked below
            return None
        cand = np.flatnonzero(_beyond(values, limit))
        v = values[cand]
        if kind == "f":
            keep = (np.abs(v) <= 2**53) & (np.floor(v) == v)
            cand, v = cand[keep], v[keep]
            lost = v.astype(dtype) != v
        else:
            top = 2.0**64 if kind == "u" else 2.0**63
            f = v.astype(dtype)
            over = f >= top  # rounded up past the integer type's range: not the value
            back = np.where(over, 0, f).astype(values.dtype)
            lost = over | (back != v)
    found = cand[lost]
    return found if len(found) else None


def _numbers(chunk: pa.Array) -> np.ndarray | None:
    """A chunk's non-null values as NumPy (integers stay integers), or None (not numbers)."""
    t = chunk.type
    if pa.types.is_dictionary(t):
        chunk = chunk.cast(t.value_type)
        t = chunk.type
    if pa.types.is_decimal(t):
        chunk = chunk.cast(pa.float64())
    elif not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        return None
    if chunk.null_count:
        chunk = pc.drop_null(chunk)
    return np.asarray(chunk.to_numpy(zero_copy_only=False))


@dataclass
class _Found:
    count: int = 0
    count64: int = 0
    example: Any = None


class PrecisionCheck:
    """Counts, per column, the integers the tensors' ``dtype`` cannot hold exactly.

    Parameters
    ----------
    columns : iterable of str
        The numeric feature columns to check.
    dtype : numpy.dtype
        The tensors' float dtype.
    """

    def __init__(self, columns: Iterable[str], dtype: np.dtype) -> None:
        self.columns = list(columns)
        self.dtype = np.dtype(dtype)
        self.found: dict[str, _Found] = {}

    def observe(self, table: pa.Table) -> None:
        """Count the inexact integers of the checked columns of ``table``."""
        for c in self.columns:
            if c not in table.column_names:
                continue
            for chunk in table.column(c).chunks:
                self.observe_values(c, _numbers(chunk))

    def observe_values(self, name: str, values: np.ndarray | None) -> None:
        """Count the inexact integers of ``values`` (NumPy numbers) of column ``name``."""
        if values is None:
            return
        lost = inexact_integers(values, self.dtype)
        if lost is None:
            return
        f = self.found.setdefault(name, _Found())
        if f.example is None:
            f.example = int(values[lost[0]].item())  # an integer (also when read as a float)
        f.count += len(lost)
        if self.dtype.itemsize < 8:
            lost64 = inexact_integers(values[lost], np.dtype(np.float64))
            f.count64 += 0 if lost64 is None else len(lost64)

    def warn(self, where: str) -> None:
        """One warning per column with inexact integers (in the order of ``columns``)."""
        for c in self.columns:
            f = self.found.get(c)
            if f is not None:
                warnings.warn(
                    precision_warning(c, where, f.count, f.example, self.dtype, f.count64),
                    UserWarning,
                    stacklevel=caller_stacklevel(),
                )


def precision_warning(
    name: str, where: str, count: int, example: Any, dtype: np.dtype, count64: int = 0
) -> str:
    """The one message for integers of column ``name`` that ``dtype`` rounds."""
    dtype = np.dtype(dtype)
    rounded = np.array([example]).astype(dtype)[0]
    shown = f"{int(rounded)}" if np.isfinite(rounded) else f"{rounded}"
    them = "it" if count == 1 else "them"
    text = (
        f"column {name!r} in {where} has {count} integer value{'s' if count != 1 else ''} "
        f"that {dtype.name} cannot hold exactly (beyond {_LIMIT_TEXT[dtype]}), so the tensors "
        f"round {them} (e.g. {example!r} becomes {shown}); "
    )
    if dtype.itemsize < 8 and count64 < count:
        text += "pass dtype=torch.float64 to keep integers up to 2**53 exact"
        if count64:
            text += f" (even float64 cannot hold {count64} of {them})"
        return text + ", or leave the column out of features= (an id is not a feature)"
    return text + "leave the column out of features= (an id is not a feature), or rescale it"
