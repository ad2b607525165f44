"""Output of the command line: terminal tables, JSON, atomic file writes."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

__all__ = [
    "atomic_path",
    "fmt",
    "format_table",
    "isatty",
    "kv_table",
    "save_figure",
    "write_json",
]


def fmt(v: Any) -> str:
    """One table cell: ``-`` for None, thousands separators, 4 significant decimals."""
    import numpy as np

    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.4g}"
        return f"{v:.4f}"
    return str(v)


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A Markdown-style table of ``rows`` (dicts) for the terminal; numbers right-aligned."""
    if not rows:
        return ""
    columns = columns or list(rows[0])
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(vals: list[str]) -> str:
        out = []
        for i, v in enumerate(vals):
            num = v[:1].isdigit() or (v[:1] == "-" and v[1:2].isdigit())
            out.append(v.rjust(widths[i]) if num else v.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), sep, *(line(r) for r in cells)])


def kv_table(pairs: list[tuple[str, Any]]) -> str:
    """A two-column table of (name, value) pairs."""
    return format_table([{"": k, "value": v} for k, v in pairs], ["", "value"])


def write_json(obj: Any, stream: Any = None) -> None:
    """Print ``obj`` as one line of JSON (NumPy scalars and arrays converted)."""
    stream = stream or sys.stdout

    def default(o: Any) -> Any:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    json.dump(obj, stream, default=default)
    stream.write("\n")


def atomic_path(path: str) -> str:
    """A temporary name beside ``path`` to write to before ``os.replace``."""
    d = os.path.dirname(os.path.abspath(path))
    return os.path.join(d, f".{os.path.basename(path)}.{os.getpid()}.{time.time_ns()}.tmp")


def isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (False for closed or replaced streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def save_figure(fig: Any, path: str) -> None:
    """Write a matplotlib figure as PNG to ``path`` atomically, and close it."""
    import matplotlib.pyplot as plt

    tmp = atomic_path(path)
    try:
        fig.tight_layout()
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
