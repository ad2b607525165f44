"""Full-batch training with SciPy's L-BFGS-B in float64, closed-form gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tabloader.trainers import _losses
from tabloader.trainers._core import LinearCore

__all__ = ["lbfgs_fit"]


class _Objective:
    """The objective and its gradient in the preconditioned coordinates ``u``.

    ``theta = u / precond``; the loss and gradient come from :mod:`._losses` in float64
    on the core's device, only the ``(F + 1) * K`` parameters cross to the host.
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
        # diagonal preconditioner: u_j = W_j * sqrt(1 + alpha * d_j / c), c the loss
        # curvature at zero (2 for squared error, 1/4 for the logistic losses)
        precond = np.ones((f + 1, 1))
        if core.alpha and self.pscale is not None:
            c = 2.0 if core.kind == "regression" else 0.25
            d = self.pscale.cpu().numpy().reshape(f, 1)
            precond[:f] = np.sqrt(1.0 + core.alpha * d / c)
        self.precond = np.broadcast_to(precond, (f + 1, k)).ravel().copy()

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        core = self.core
        f, k = core.n_features, core.n_outputs
        P = torch.from_numpy(u / self.precond).to(core.device).view(f + 1, k)
        W, b = P[:f], P[f]
        Z = self.X @ W
        if core.fit_intercept:
            Z += b
        li = _losses.row_losses(Z, self.y, core.kind)
        if core.kind == "multiclass":
            R = _losses.softmax_residual(Z, self.y)
        else:
            R = _losses.residual_(Z, self.y, core.kind)
            R *= _losses.RESIDUAL_SCALE[core.kind]
        if self.w is None:
            loss = li.sum() / self.n
            R = R / self.n
        else:
            loss = torch.dot(li, self.w)
            R = R * self.w.view(-1, 1)
        G = torch.empty(f + 1, k, dtype=torch.float64, device=core.device)
        G[:f] = self.X.t() @ R
        G[f] = R.sum(0) if core.fit_intercept else 0.0
        if core.alpha:
            loss = loss + _losses.penalty(W, core.alpha, self.pscale)
            G[:f] += core.alpha * (W if self.pscale is None else W * self.pscale.view(f, 1))
        self.loss = float(loss)
        return self.loss, G.cpu().numpy().ravel() / self.precond


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
    autograd); only the ``(F + 1) * K`` parameters cross to the host. With a
    ``core.penalty_scale`` (standardised features) the solver works in the coordinates
    ``u_j = W_j * sqrt(1 + alpha * d_j / c)`` (``c`` the loss curvature at zero: 2 for
    squared error, 1/4 for the logistic losses), which divide out the stiffness of
    the penalty (``d_j`` up to ~1e5 on raw tables). Stops when the projected
    gradient's max-norm in these coordinates is below ``tol`` (``gtol``, as
    scikit-learn's lbfgs solver does), when an iteration lowers the objective by less
    than ``ftol * max(|f|, 1)`` (the stopping rule on the objective), or after
    ``max_iter`` iterations.

    Parameters
    ----------
    core : LinearCore
        The model; the result is copied into ``core.params``.
    X, y, w : torch.Tensor
        Features ``[n, F]``, targets and optional sample weights ``[n]``.
    max_iter : int
    tol : float
    ftol : float
        At least ``64 * eps``.
    callback : callable, optional
        ``callback(loss)`` after each iteration.

    Returns
    -------
    (n_iter, converged, theta)
        ``theta`` is the float64 ``[F + 1, K]`` solution.
    """
    from scipy.optimize import minimize

    fun = _Objective(core, X, y, w)

    def cb(*_: Any) -> None:
        if callback is not None:
            callback(fun.loss)

    theta0 = core.params.double().cpu().numpy().ravel()
    res = minimize(
        fun,
        theta0 * fun.precond,
        jac=True,
        method="L-BFGS-B",
        callback=cb,
        options={
            "maxiter": int(max_iter),
            "gtol": float(tol),
            "ftol": max(float(ftol), 64 * np.finfo(float).eps),
            "maxls": 50,
            "maxcor": 20,
        },
    )
    theta = (res.x / fun.precond).reshape(core.n_features + 1, core.n_outputs)
    core.params.copy_(torch.from_numpy(theta))
    return int(res.nit), bool(res.success), theta
