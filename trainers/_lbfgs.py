"""Full-batch training with SciPy's L-BFGS-B in float64, closed-form gradients.

The solver runs in stages, each in its own preconditioned coordinates ``u``:

1. the first :data:`REFRESH_AT` ``[0]`` iterations in the diagonal coordinates
   ``u_j = W_j * sqrt(1 + alpha * d_j / c)`` (``c`` the loss curvature at zero: 2 for
   squared error, 1/4 for the logistic losses), which divide out the stiffness of the
   penalty (``d_j`` up to ~1e5 on raw tables);
2. then, at each refresh, ``u = M^(1/2) theta`` with ``M`` the curvature-weighted
   covariance ``sum_i h_i x_i x_i^T + alpha * diag(d)`` at the current point (``h_i``
   the loss curvature of row ``i``: ``2``, ``p (1 - p)``, or the mean of ``p_k (1 -
   p_k)`` over the classes), shared by the classes. On nearly separable tables the
   curvature of the well-classified rows fades as the coefficients grow, and the
   covariance alone no longer preconditions the problem: raw ``digits`` at
   ``alpha=1e-4`` took ~1,000 iterations without the refreshes, ~150 with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tabloader.trainers import _losses
from tabloader.trainers._core import LinearCore

__all__ = ["REFRESH_AT", "lbfgs_fit"]

#: the iterations after which the preconditioner is rebuilt from the curvature
REFRESH_AT = (10, 40)
#: a refresh costs ``rows * F^2`` (an iteration ``~4 rows * F * K``): only up to this
#: many features per output (at most the cost of ~64 iterations), and 2048 in all
REFRESH_FEATURES_PER_OUTPUT = 256
REFRESH_MAX_FEATURES = 2048
#: eigenvalues of the refreshed curvature are floored at this fraction of the largest
REFRESH_FLOOR = 1e-10


class _Objective:
    """The objective and its gradient in the preconditioned coordinates ``u``.

    ``theta = u / precond`` (diagonal) or ``theta = R @ u`` after :meth:`refresh`; the
    loss and gradient come from :mod:`._losses` in float64 on the core's device, only
    the ``(F + 1) * K`` parameters cross to the host.
    """

    def __init__(
        self, core: LinearCore, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None
    ) -> None:
        self.core = core
        self.X = X.double()
        self.y = y if core.kind == "multiclass" else y.double().view(-1, 1)
        wd = None if w is None else w.double()
        self.w = None if wd is None else wd / wd.sum()
        self.n = X.shape[0]
        self.pscale = None if core.penalty_scale is None else core.penalty_scale.double()
        self.loss = float("nan")
        f, k = core.n_features, core.n_outputs
        precond = np.ones((f + 1, 1))
        if core.alpha and self.pscale is not None:
            c = 2.0 if core.kind == "regression" else 0.25
            d = self.pscale.cpu().numpy().reshape(f, 1)
            precond[:f] = np.sqrt(1.0 + core.alpha * d / c)
        self.precond = np.broadcast_to(precond, (f + 1, k)).ravel().copy()
        self.R: np.ndarray | None = None  # theta = R @ u after a refresh
        self.R_inv: np.ndarray | None = None

    # ------------------------------------------------------------------ coordinates
    def theta(self, u: np.ndarray) -> np.ndarray:
        """The parameters ``[F + 1, K]`` at coordinates ``u``."""
        shape = (self.core.n_features + 1, self.core.n_outputs)
        if self.R is None:
            return (u / self.precond).reshape(shape)
        return self.R @ u.reshape(shape)

    def coords(self, theta: np.ndarray) -> np.ndarray:
        """The coordinates ``u`` of the parameters ``theta``."""
        if self.R_inv is None:
            return theta.ravel() * self.precond
        return (self.R_inv @ theta).ravel()

    def _logits(self, P: torch.Tensor) -> torch.Tensor:
        f = self.core.n_features
        Z = self.X @ P[:f]
        return Z.add_(P[f]) if self.core.fit_intercept else Z

    def refresh(self, theta: np.ndarray) -> None:
        """Precondition with the curvature-weighted covariance at ``theta``."""
        core = self.core
        f = core.n_features
        P = torch.from_numpy(theta).to(core.device)
        if core.kind == "regression":
            h = torch.full((self.n,), 2.0, dtype=torch.float64, device=core.device)
        else:
            Z = self._logits(P)
            p = torch.sigmoid(Z) if core.kind == "binary" else torch.softmax(Z, 1)
            h = (p * (1 - p)).mean(1)
        h = h / self.n if self.w is None else h * self.w
        M = torch.zeros(f + 1, f + 1, dtype=torch.float64, device=core.device)
        M[:f, :f] = self.X.t() @ (self.X * h.view(-1, 1))
        if core.fit_intercept:
            M[:f, f] = M[f, :f] = self.X.t() @ h
            M[f, f] = h.sum()
        else:  # the intercept stays 0: keep its coordinate apart
            M[f, f] = 1.0
        if core.alpha:
            d = torch.ones(f, dtype=torch.float64, device=core.device)
            M.diagonal()[:f] += core.alpha * (d if self.pscale is None else self.pscale.view(f))
        lam, V = np.linalg.eigh(M.cpu().numpy())
        if not np.all(np.isfinite(lam)) or lam[-1] <= 0:
            return
        root = np.sqrt(np.maximum(lam, REFRESH_FLOOR * lam[-1]))
        self.R, self.R_inv = V / root, (V * root).T

    # ------------------------------------------------------------------ objective
    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        core = self.core
        f, k = core.n_features, core.n_outputs
        P = torch.from_numpy(self.theta(u)).to(core.device)
        W, b = P[:f], P[f]
        G = torch.empty(f + 1, k, dtype=torch.float64, device=core.device)
        if core.kind == "multiclass":  # class-major [K, n]: the faster layout for few classes
            Rt = torch.mm(W.t(), self.X.t())
            if core.fit_intercept:
                Rt += b.view(k, 1)
            li = _losses.softmax_parts_t_(Rt, self.y)
            Rt.mul_(1.0 / self.n if self.w is None else self.w.view(1, -1))
            G[:f] = torch.mm(Rt, self.X).t()
            G[f] = Rt.sum(1) if core.fit_intercept else 0.0
        else:
            Z = self._logits(P)
            li = _losses.row_losses(Z, self.y, core.kind)
            R = _losses.residual_(Z, self.y, core.kind)
            R.mul_(_losses.RESIDUAL_SCALE[core.kind])
            R.mul_(1.0 / self.n if self.w is None else self.w.view(-1, 1))
            G[:f] = self.X.t() @ R
            G[f] = R.sum(0) if core.fit_intercept else 0.0
        loss = li.sum() / self.n if self.w is None else torch.dot(li, self.w)
        if core.alpha:
            loss = loss + _losses.penalty(W, core.alpha, self.pscale)
            G[:f] += core.alpha * (W if self.pscale is None else W * self.pscale.view(f, 1))
        self.loss = float(loss)
        Gn = G.cpu().numpy()
        if self.R is None:
            return self.loss, Gn.ravel() / self.precond
        return self.loss, (self.R.T @ Gn).ravel()


def _stages(max_iter: int, n_features: int, n_outputs: int) -> list[int]:
    """The iterations of each stage (a refresh before every stage but the first)."""
    top = min(REFRESH_MAX_FEATURES, REFRESH_FEATURES_PER_OUTPUT * n_outputs)
    if n_features > top:
        return [max_iter]
    out, done = [], 0
    for end in (*REFRESH_AT, max_iter):
        if end > done and done < max_iter:
            out.append(min(end, max_iter) - done)
            done = min(end, max_iter)
    return out


def lbfgs_fit(
    core: LinearCore,
    X: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor | None,
    *,
    max_iter: int,
    tol: float,
    ftol: float = 0.0,
    callback: Callable[[float], Any] | None = None,
) -> tuple[int, bool, np.ndarray]:
    """Minimise the full-batch objective with SciPy's L-BFGS-B in float64.

    Loss and gradient are computed on ``core.device`` in float64 (closed forms, no
    autograd); only the ``(F + 1) * K`` parameters cross to the host. The solver runs
    in stages with preconditioners (see the module docstring): diagonal, then the
    curvature-weighted covariance rebuilt after :data:`REFRESH_AT` iterations (up to
    :data:`REFRESH_FEATURES_PER_OUTPUT` features per output). A stage stops when the projected
    gradient's max-norm in its coordinates is below ``tol`` (``gtol``, as
    scikit-learn's lbfgs solver does), when an iteration lowers the objective by less
    than ``ftol * max(|f|, 1)``, or at its iteration budget; the last stage's
    convergence is the fit's.

    Parameters
    ----------
    core : LinearCore
        The model; the result is copied into ``core.params``.
    X, y, w : torch.Tensor
        Features ``[n, F]``, targets and optional sample weights ``[n]``.
    max_iter : int
        Iterations over all stages.
    tol : float
    ftol : float
        At least ``64 * eps``.
    callback : callable, optional
        ``callback(loss)`` after each iteration, with that iteration's parameters in
        ``core.params``.

    Returns
    -------
    (n_iter, converged, theta)
        ``theta`` is the float64 ``[F + 1, K]`` solution.
    """
    from scipy.optimize import minimize

    fun = _Objective(core, X, y, w)

    def cb(xk: np.ndarray) -> None:
        if callback is not None:  # core.params holds the iterate (e.g. for a validation loss)
            core.params.copy_(torch.from_numpy(fun.theta(xk)))
            callback(fun.loss)

    theta = core.params.double().cpu().numpy()
    n_iter, converged = 0, False
    for i, budget in enumerate(_stages(int(max_iter), core.n_features, core.n_outputs)):
        if i:
            fun.refresh(theta)
        res = minimize(
            fun,
            fun.coords(theta),
            jac=True,
            method="L-BFGS-B",
            callback=cb,
            options={
                "maxiter": budget,
                "gtol": float(tol),
                "ftol": max(float(ftol), 64 * np.finfo(float).eps),
                "maxls": 50,
                "maxcor": 20,
            },
        )
        theta = fun.theta(res.x)
        n_iter += int(res.nit)
        converged = bool(res.success)
    core.params.copy_(torch.from_numpy(theta))
    return n_iter, converged, theta
