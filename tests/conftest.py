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


@pytest.fixture
def one_torch_thread():
    """Run on one intra-op thread: the trainer tests use tiny data, where OpenMP's per-op
    barrier costs more than it saves and, on a loaded 2-core CI machine, stalls every
    small kernel for a scheduler time slice (minutes instead of seconds per file)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
