"""The preconditioner: the linear change of feature coordinates the optimiser works in.

With ``standardize=True`` the trainers optimise on ``z = (x - mean) @ T`` and map the
result back to raw feature space (``coef = T @ W_z``), so predictions, ``coef_`` and
the objective are those of the raw features. ``T`` is

* **whitening** (up to :data:`WHITEN_MAX_FEATURES` features): ``T = V diag(1 /
  sqrt(lambda_j + floor))`` from the eigendecomposition ``C = V diag(lambda) V^T`` of
  the feature covariance (one float64 pass, Chan-merged, all-reduced across ranks:
  :class:`tabloader._stats.FeatureStats` with ``cross=True``). The floor is
  ``max(alpha, WHITEN_FLOOR * lambda_max)``: it is the penalty's own curvature, so a
  collinear direction (``lambda ~ 0``) is scaled to the penalty instead of blown up.
  Because ``V`` is orthogonal, the raw penalty ``alpha / 2 ||T W_z||^2`` stays
  diagonal in ``z``: ``d_j = 1 / (lambda_j + floor)`` (the core's per-coordinate
  ``penalty_scale``), so the objective is unchanged. The loss Hessian in ``z`` is
  then close to the identity on nearly collinear raw tables, where diagonal scaling
  leaves condition numbers of 1e6 and more;
* **diagonal standardisation** beyond: ``T = diag(1 / std)``, ``d_j = 1 / std_j^2``.

The regression target is centred and scaled too (``y_mean``, ``y_scale``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from tabloader._stats import FeatureStats
from tabloader.trainers._params import FitParams

__all__ = ["WHITEN_FLOOR", "WHITEN_MAX_FEATURES", "Standardization", "empty_table"]

#: whitening up to this many features (an F x F eigendecomposition and an F x F product
#: per batch); diagonal standardisation beyond
WHITEN_MAX_FEATURES = 2048
#: relative floor of the covariance eigenvalues (float32 features carry ~7 digits)
WHITEN_FLOOR = 1e-9
#: rows per chunk of :meth:`Standardization.features`
TRANSFORM_CHUNK = 1 << 16


def empty_table(n: int, f: int, device: torch.device) -> torch.Tensor:
    """An uninitialised float32 table ``[n, f]`` for the training data on ``device``.

    On the CPU it is NumPy's: NumPy asks for transparent huge pages on big arrays
    (``madvise``), torch does not, and the minibatches' random row gathers from a table
    on 4 KiB pages miss the TLB: at 1,000,000 x 32 an epoch took 1.5x the CPU time.
    """
    if device.type == "cpu":
        return torch.from_numpy(np.empty((n, f), dtype=np.float32))
    return torch.empty(n, f, dtype=torch.float32, device=device)


def _whitening(cov: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """``(T, d)`` from a covariance ``[F, F]``: ``T = V / sqrt(lambda + floor)``."""
    if cov.shape[0] == 0 or not np.all(np.isfinite(cov)):
        return None, None
    lam, V = np.linalg.eigh(cov)
    lam = np.maximum(lam, 0.0)
    top = float(lam[-1]) if lam.size else 0.0
    if top <= 0:
        return None, None
    eff = lam + max(alpha, WHITEN_FLOOR * top)
    return V / np.sqrt(eff)[None, :], 1.0 / eff


@dataclass
class Standardization:
    """Feature means, the preconditioner, target offset and scale (identity when off).

    ``scale`` is the per-feature std (reported as ``scale_``); ``transform`` the
    ``[F, F]`` whitening matrix or ``None`` (diagonal: ``1 / scale``); ``pen`` the
    penalty factors ``d`` in the optimiser's coordinates.
    """

    mean: np.ndarray
    scale: np.ndarray
    y_mean: float = 0.0
    y_scale: float = 1.0
    active: bool = False
    transform: np.ndarray | None = None
    pen: np.ndarray | None = None
    _dev: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls, x: FeatureStats, y: FeatureStats | None, n_features: int, params: FitParams
    ) -> Standardization:
        if not params.standardize:
            return cls(np.zeros(n_features), np.ones(n_features))
        mean = x.mean.numpy().copy()
        scale = x.scale().numpy()
        transform, pen = None, 1.0 / scale**2
        if x.cross is not None and 0 < n_features <= WHITEN_MAX_FEATURES:
            cov = x.cross.numpy() / max(float(x.count), 1e-300)
            if not params.fit_intercept:  # the second moment about 0
                cov = cov + np.outer(mean, mean)
            T, d = _whitening(cov, params.alpha)
            if T is not None and d is not None:
                transform, pen = T, d
        if not params.fit_intercept:
            mean = np.zeros_like(mean)
        y_mean, y_scale = 0.0, 1.0
        if y is not None:  # regression: optimise on (y - mean) / std, same minimiser
            mu, var = float(y.mean[0]), float(y.var[0])
            y_mean = mu if params.fit_intercept else 0.0
            # root mean square of y - y_mean: the std, or the RMS without an intercept
            y_scale = math.sqrt(var + (mu - y_mean) ** 2)
            if not y_scale > 1e-12 * max(1.0, abs(y_mean)):
                y_scale = 1.0
        return cls(mean, scale, y_mean, y_scale, True, transform, pen)

    @property
    def factor(self) -> float:
        """Standardised-target losses times this are raw-target losses."""
        return self.y_scale**2

    def penalty_scale(self) -> torch.Tensor | None:
        return torch.from_numpy(self.pen).float() if self.active and self.pen is not None else None

    def _on(self, device: torch.device) -> dict[str, torch.Tensor]:
        if "m" not in self._dev or self._dev["m"].device != device:
            self._dev["m"] = torch.from_numpy(self.mean).to(device, torch.float32)
            if self.transform is not None:
                self._dev["T"] = torch.from_numpy(self.transform).to(device, torch.float32)
            else:
                self._dev["s"] = torch.from_numpy(self.scale).to(device, torch.float32)
        return self._dev

    def features(self, X: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """``(X - mean) @ T`` as float32 (``X`` itself when inactive).

        Written chunk by chunk into one output, ``X`` itself with ``inplace`` (a float32
        table this fit owns): no table-sized temporary (``X - mean`` of a whole table
        costs as much as the product), the same numbers.
        """
        if not self.active:
            return X
        dev = self._on(X.device)
        n, f = int(X.shape[0]), int(X.shape[1])
        inplace = inplace and X.dtype == torch.float32 and X.is_contiguous()
        out = X if inplace else empty_table(n, f, X.device)
        T = dev.get("T")
        buf = None if T is None else torch.empty_like(out[:TRANSFORM_CHUNK])
        for s in range(0, n, TRANSFORM_CHUNK):
            e = min(n, s + TRANSFORM_CHUNK)
            if T is None or buf is None:
                torch.sub(X[s:e], dev["m"], out=out[s:e]).div_(dev["s"])
            else:
                torch.mm(torch.sub(X[s:e], dev["m"], out=buf[: e - s]), T, out=out[s:e])
        return out

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        if (self.y_mean, self.y_scale) == (0.0, 1.0):
            return y
        return (y - self.y_mean) / self.y_scale

    def to_raw(self, P: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
        """Optimiser-space ``[W; b]`` (float64) -> raw ``coef`` ``[F, K]``, ``intercept``."""
        Wz = P[:n_features] * self.y_scale
        W = self.transform @ Wz if self.transform is not None else Wz / self.scale[:, None]
        b = P[n_features] * self.y_scale + self.y_mean - self.mean @ W
        return W, b

    def from_raw(self, coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw ``coef`` ``[F, K]``, ``intercept`` -> optimiser-space ``W``, ``b``."""
        if self.transform is not None:
            Wz = np.linalg.solve(self.transform, coef)
        else:
            Wz = coef * self.scale[:, None]
        b = (intercept + self.mean @ coef - self.y_mean) / self.y_scale
        return Wz / self.y_scale, b
