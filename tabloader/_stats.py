"""The one statistics module: exact per-feature moments in float64, merged by Chan's rule.

Used for standardisation (trainers), ``feature_stats()`` (streams) and the distributed
all-reduce of moments, so every path computes the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["FeatureStats", "CHUNK_ROWS"]

#: rows per chunk: each chunk is summed in float64 and chunks are merged by Chan's rule (a
#: float64 copy of a whole large table would double the memory)
CHUNK_ROWS = 1 << 16


@dataclass
class FeatureStats:
    """Exact per-feature count, mean and variance, merged chunk by chunk in float64.

    Chunks are merged with the parallel algorithm of Chan, Golub and LeVeque (1979):
    for parts ``a`` and ``b`` with ``d = mean_b - mean_a``,
    ``mean = mean_a + d * n_b / n`` and ``M2 = M2_a + M2_b + d**2 * n_a * n_b / n``.
    With sample weights, ``n`` is the weight total.

    Attributes
    ----------
    count : int or float
        Rows seen (the weight total when weights were given).
    mean : torch.Tensor
        float64 ``[F]`` (on the CPU).
    m2 : torch.Tensor
        float64 ``[F]``, the (weighted) sum of squared deviations from the mean.
    cross : torch.Tensor or None
        float64 ``[F, F]``, the (weighted) co-moment ``sum (x - mean)(x - mean)^T``
        (``of(..., cross=True)``): merged by the same rule with ``outer(d, d)``.
    """

    count: float
    mean: torch.Tensor
    m2: torch.Tensor
    cross: torch.Tensor | None = None

    @classmethod
    def empty(cls, n_features: int, cross: bool = False) -> FeatureStats:
        """No rows seen yet."""
        z = torch.zeros(n_features, dtype=torch.float64)
        c = torch.zeros(n_features, n_features, dtype=torch.float64) if cross else None
        return cls(0, z, z.clone(), c)

    @classmethod
    def of(
        cls, X: torch.Tensor, weight: torch.Tensor | None = None, cross: bool = False
    ) -> FeatureStats:
        """Statistics of a table ``[n, F]``, in chunks of :data:`CHUNK_ROWS` rows.

        Parameters
        ----------
        X : torch.Tensor
            ``[n, F]`` of any float dtype, on any device.
        weight : torch.Tensor, optional
            ``[n]`` non-negative sample weights.
        cross : bool
            Also the ``[F, F]`` co-moment matrix (one ``X^T X`` per chunk).
        """
        n, f = int(X.shape[0]), int(X.shape[1])
        out = cls.empty(f, cross)
        # one float64 buffer for every chunk: exact sums, bounded memory, input untouched
        buf = torch.empty(min(n, CHUNK_ROWS), f, dtype=torch.float64, device=X.device)
        for s in range(0, n, CHUNK_ROWS):
            e = min(n, s + CHUNK_ROWS)
            Xd = buf[: e - s]
            Xd.copy_(X[s:e])
            w = None if weight is None else weight[s:e]
            out = out.merge(cls._chunk(Xd, w, cross))
        return out

    @classmethod
    def _chunk(cls, Xd: torch.Tensor, w: torch.Tensor | None, cross: bool = False) -> FeatureStats:
        """Moments of one float64 chunk; ``Xd`` is scratch space and is overwritten."""
        n = int(Xd.shape[0])
        if n == 0:
            return cls.empty(int(Xd.shape[1]), cross)
        wd = None if w is None else w.to(torch.float64)
        tot = float(n) if wd is None else float(wd.sum())
        if tot <= 0:
            return cls.empty(int(Xd.shape[1]), cross)
        mean = Xd.mean(0) if wd is None else (Xd * wd[:, None]).sum(0) / tot
        Xd.sub_(mean)
        c = None
        if cross:
            c = (Xd.t() @ Xd if wd is None else (Xd * wd[:, None]).t() @ Xd).cpu()
        m2 = Xd.square_().sum(0) if wd is None else (Xd.square_() * wd[:, None]).sum(0)
        return cls(n if wd is None else tot, mean.cpu(), m2.cpu(), c)

    def merge(self, other: FeatureStats) -> FeatureStats:
        """The statistics of both parts together (Chan et al.)."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        d = other.mean - self.mean
        mean = self.mean + d * (other.count / n)
        k = self.count * other.count / n
        m2 = self.m2 + other.m2 + d * d * k
        c = None
        if self.cross is not None and other.cross is not None:
            c = self.cross + other.cross + torch.outer(d, d) * k
        return FeatureStats(n, mean, m2, c)

    def all_reduce(self, sum_: Callable[[torch.Tensor], torch.Tensor]) -> FeatureStats:
        """The statistics over every rank, given ``sum_`` (a float64 sum across ranks).

        Two reductions: the global count and mean first, then each rank's deviations
        about the global mean (no ``E[x^2] - E[x]^2`` cancellation).
        """
        f = int(self.mean.shape[0])
        head = torch.cat([torch.tensor([float(self.count)], dtype=torch.float64),
                          self.mean * float(self.count)])  # fmt: skip
        tot = sum_(head)
        n = float(tot[0])
        gmean = tot[1 : 1 + f] / max(n, 1e-300)
        d = self.mean - gmean
        second = self.m2 + float(self.count) * d**2
        if self.cross is not None:  # the co-moments ride along in the same reduction
            cross = self.cross + float(self.count) * torch.outer(d, d)
            second = torch.cat([second, cross.reshape(-1)])
        tot2 = sum_(second)
        m2, c = tot2[:f], None
        if self.cross is not None:
            c = tot2[f:].reshape(f, f)
        count = int(n) if float(n).is_integer() else n
        return FeatureStats(count, gmean, m2, c)

    @property
    def var(self) -> torch.Tensor:
        """Population variance (``ddof=0``, as :class:`sklearn.preprocessing.StandardScaler`)."""
        return self.m2 / max(float(self.count), 1e-300) if self.count else self.m2.clone()

    @property
    def std(self) -> torch.Tensor:
        """Population standard deviation."""
        return self.var.clamp_min(0).sqrt()

    def scale(self, rel_floor: float = 1e-12) -> torch.Tensor:
        """The standard deviation with (near-)constant features set to 1.

        A feature counts as constant when its std is not above
        ``rel_floor * max(1, |mean|)``; dividing by 1 leaves it as it is.
        """
        std = self.std.clone()
        std[~(std > rel_floor * self.mean.abs().clamp_min(1.0))] = 1.0
        return std
