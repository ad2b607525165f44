"""Fail when a library file exceeds 600 lines or a library function exceeds 80 lines.

Tests and benchmarks are exempt. Run from the repository root: ``python .ci/sizes.py``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
LIBRARY = ("tabloader", "datasets", "loaders", "trainers")


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    problems = []
    for top in LIBRARY:
        for path in sorted((root / top).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            rel = path.relative_to(root)
            n = text.count("\n")
            if n > MAX_FILE_LINES:
                problems.append(f"{rel}: {n} lines (at most {MAX_FILE_LINES})")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        problems.append(
                            f"{rel}:{node.lineno}: function {node.name} has {length} lines "
                            f"(at most {MAX_FUNCTION_LINES})"
                        )
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
