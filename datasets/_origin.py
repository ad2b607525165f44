"""Where rows came from: file names and line numbers for error messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ChunkOrigin", "Origin"]


@dataclass
class Origin:
    """Describes the source of a table so that messages can name the file, row and line.

    Parameters
    ----------
    name : str
        Short description used in messages ("train.csv", "3 files in data/", "<DataFrame>").
    files : list of (str, int)
        The files in row order with their number of data rows (empty for in-memory data).
    line_of : callable, optional
        ``line_of(path, local_row)`` returns the 1-based line number of a data row in a text file.
    """

    name: str
    files: list[tuple[str, int]] = field(default_factory=list)
    line_of: Callable[[str, int], int | None] | None = None

    def locate(self, row: int) -> tuple[str | None, int]:
        """Map a global row index to ``(file, row within that file)``."""
        start = 0
        for path, n in self.files:
            if row < start + n:
                return path, row - start
            start += n
        return None, row

    def describe_row(self, row: int) -> str:
        """``"row 17 of train.csv (line 19)"`` (rows count data rows from 0)."""
        path, local = self.locate(row)
        if path is None:
            return f"row {row}"
        text = f"row {local} of {path}"
        if self.line_of is not None:
            try:
                line = self.line_of(path, local)
            except OSError:
                line = None
            if line is not None:
                text += f" (line {line})"
        return text


@dataclass
class ChunkOrigin(Origin):
    """An origin whose row 0 is data row ``offset`` of ``path`` (a file or part of one)."""

    path: str = ""
    offset: int = 0

    def locate(self, row: int) -> tuple[str | None, int]:
        return self.path, self.offset + row
