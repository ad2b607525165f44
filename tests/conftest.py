"""Shared fixtures: where the real data files of the acceptance tests live."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``../shared`` next to the repository root; a clone elsewhere simply has none.
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
LECTURE_DIR = SHARED_DIR / "data" / "lecture"


@pytest.fixture(scope="session")
def sklearn_data_dir() -> Path:
    """The folder of CSV files that scikit-learn ships (iris, wine, breast cancer, ...)."""
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "data"


@pytest.fixture(scope="session")
def lecture_dir() -> Path:
    """``../shared/data/lecture`` (the lecture's CSV files); skips when it is not there."""
    if not LECTURE_DIR.is_dir() or not any(LECTURE_DIR.glob("*.csv")):
        pytest.skip(f"lecture data not found at {LECTURE_DIR}")
    return LECTURE_DIR
