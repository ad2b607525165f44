"""Random (optionally stratified) train/validation/test splits of a TabularDataset."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from tabloader._checks import check_bool, check_seed, type_error
from tabloader.datasets._tabular import TabularDataset

__all__ = ["split"]


def _counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Split ``n`` into parts proportional to ``fractions`` (largest remainder, sums to n)."""
    raw = [f * n for f in fractions]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def split(
    dataset: TabularDataset,
    fractions: Sequence[float],
    *,
    seed: int | None = None,
    stratify: bool = False,
    shuffle: bool = True,
) -> list[TabularDataset]:
    """Split a dataset into parts (train/validation/test) of the given fractions.

    Parameters
    ----------
    dataset : TabularDataset
    fractions : sequence of float
        Positive fractions that sum to 1, e.g. ``(0.8, 0.2)`` or ``(0.7, 0.15, 0.15)``.
    seed : int, optional
        Seed of the permutation (a private ``torch.Generator``; global RNG state is
        untouched). ``None`` draws from torch's default generator.
    stratify : bool, default False
        Keep each class's share in every part (classification datasets only).
    shuffle : bool, default True
        ``False`` takes the parts in row order (no randomness).

    Returns
    -------
    list of TabularDataset
        Datasets with contiguous tensors (fast whole-batch indexing) and the same
        metadata (feature names, classes, task) as ``dataset``.
    """
    if not isinstance(dataset, TabularDataset):
        raise type_error("dataset", "a TabularDataset", type(dataset).__name__)
    seed = check_seed("seed", seed)
    check_bool("stratify", stratify)
    check_bool("shuffle", shuffle)
    fractions = [float(f) for f in fractions]
    if len(fractions) < 2 or any(not (0.0 < f < 1.0) for f in fractions):
        raise ValueError(
            "fractions should be two or more numbers between 0 and 1, "
            f"but got fractions={fractions}"
        )
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions should sum to 1, but got sum(fractions)={sum(fractions):g}")
    n = len(dataset)
    # TODO(issue 10): tabloader._random.generator(seed) once the demo's 5% gate holds on it
    g = None if seed is None else torch.Generator().manual_seed(seed)

    def perm(m: int) -> torch.Tensor:
        return torch.randperm(m, generator=g) if shuffle else torch.arange(m)

    if stratify:
        if dataset.task not in ("binary", "multiclass") or dataset.targets is None:
            raise ValueError(
                f"stratify=True needs a classification dataset, but task={dataset.task!r}"
            )
        labels = dataset.targets.reshape(-1).to(torch.int64)
        parts: list[list[torch.Tensor]] = [[] for _ in fractions]
        for k in torch.unique(labels).tolist():
            rows = torch.nonzero(labels == k).flatten()
            rows = rows[perm(len(rows))]
            start = 0
            for i, c in enumerate(_counts(len(rows), fractions)):
                parts[i].append(rows[start : start + c])
                start += c
        index_sets = []
        for p in parts:
            idx = torch.cat(p) if p else torch.empty(0, dtype=torch.int64)
            index_sets.append(idx[perm(len(idx))] if shuffle else torch.sort(idx).values)
    else:
        order = perm(n)
        index_sets, start = [], 0
        for c in _counts(n, fractions):
            index_sets.append(order[start : start + c])
            start += c
    empty = [i for i, idx in enumerate(index_sets) if len(idx) == 0]
    if empty:
        raise ValueError(
            f"split of {n} rows with fractions={fractions} leaves part(s) {empty} empty; "
            "use larger fractions or more data"
        )
    return [dataset.subset(idx) for idx in index_sets]
