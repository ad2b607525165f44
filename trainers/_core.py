"""Functional core shared by the estimators, the CLI and distributed training.

:class:`LinearCore` holds the parameters of one linear model (regression, binary
logistic or softmax) as a single ``[F + 1, K]`` tensor (rows ``0..F-1`` are ``W``,
row ``F`` is the intercept ``b``), the optimiser state, and preallocated buffers.
One step computes the closed-form gradient of the mean loss on a batch (no
autograd) and applies an in-place update with :class:`torch.optim.SGD` or
:class:`torch.optim.Adam` semantics.

The objective is, with sample weights ``s_i`` normalised to mean 1 over the data::

    (1 / B) * sum_i s_i * loss_i  +  alpha / 2 * sum_j d_j * ||W_j||^2

where ``d_j`` is 1, or ``1 / sigma_j^2`` when the features were standardised (so that
the penalty is the one on the raw-space coefficients). On raw tables ``d_j`` spans many
orders of magnitude (a feature with ``sigma_j = 0.003`` has ``d_j ~ 1e5``), a stiff
separable quadratic that explicit steps cannot follow; with ``implicit_penalty`` the
update treats it exactly (a proximal step, see :meth:`LinearCore.apply_update`).

Loss values, residuals and metrics come from :mod:`._losses`. What data-parallel
training needs is public: the running-loss accumulator (:attr:`LinearCore.loss_sum`,
:attr:`LinearCore.loss_rows`, :meth:`~LinearCore.set_running_loss`), the flat gradient
buffer (:meth:`~LinearCore.flat_grad`) and per-rank evaluation
(:meth:`~LinearCore.eval_sums` with ``part``/``parts``, ``reduce``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from tabloader.trainers import _losses
from tabloader.trainers._losses import KINDS

__all__ = ["EVAL_CHUNK", "KINDS", "LinearCore", "iter_batches"]

#: rows per evaluation chunk; chunk ``c`` of a table is evaluated by rank ``c % world``,
#: so one process and several ranks sum the very same per-chunk values
EVAL_CHUNK = 1 << 16


class LinearCore:
    """Parameters, optimiser state and the closed-form minibatch step of a linear model.

    Parameters
    ----------
    kind : {"regression", "binary", "multiclass"}
        Loss: mean squared error, sigmoid + binary cross-entropy (from logits), or
        softmax + cross-entropy.
    n_features : int
        Number of input features ``F``.
    n_outputs : int
        ``K``: 1 for regression and binary, the number of classes for multiclass.
    optimizer : {"sgd", "adam"}
        Update rule, with the semantics of ``torch.optim.SGD`` (``dampening=0``,
        ``nesterov=False``) or ``torch.optim.Adam`` (``amsgrad=False``).
    lr : float
        Learning rate.
    momentum : float
        SGD momentum (ignored by Adam).
    alpha : float
        L2 strength on ``W`` (the intercept is not penalised).
    fit_intercept : bool
        Whether ``b`` is trained (it stays 0 otherwise).
    penalty_scale : torch.Tensor, optional
        ``[F]`` per-feature factors ``d_j`` of the penalty; ``None`` means all ones.
    implicit_penalty : bool
        ``False``: the penalty's gradient ``alpha * d_j * W_j`` joins the loss gradient
        (``torch.optim`` with the L2 term in the loss). ``True``: :attr:`grad` holds the
        loss gradient only and :meth:`apply_update` takes the penalty implicitly
        (proximal step), stable for any ``alpha * d_j`` and with the same fixed point.
    device : torch.device or str
        Where the parameters live; batches must be on the same device.
    betas, eps : float
        Adam's coefficients.
    """

    def __init__(
        self,
        kind: str,
        n_features: int,
        n_outputs: int,
        *,
        optimizer: str = "adam",
        lr: float = 1e-3,
        momentum: float = 0.0,
        alpha: float = 0.0,
        fit_intercept: bool = True,
        penalty_scale: torch.Tensor | None = None,
        implicit_penalty: bool = False,
        device: Any = "cpu",
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind should be one of {list(KINDS)}, but got kind={kind!r}")
        if optimizer not in ("sgd", "adam"):
            raise ValueError(
                f"optimizer should be one of ['sgd', 'adam'], but got optimizer={optimizer!r}"
            )
        self.kind = kind
        self.n_features = int(n_features)
        self.n_outputs = int(n_outputs)
        self.optimizer = optimizer
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.betas = betas
        self.eps = float(eps)
        self.device = torch.device(device)
        f, k = self.n_features, self.n_outputs
        self.params = torch.zeros(f + 1, k, dtype=torch.float32, device=self.device)
        self.grad = torch.zeros_like(self.params)
        self.penalty_scale = (
            None
            if penalty_scale is None
            else penalty_scale.to(self.device, torch.float32).reshape(f, 1).contiguous()
        )
        self.implicit_penalty = bool(implicit_penalty)
        self._pbuf: torch.Tensor | None = None  # implicit penalty's divisor, [F, K]
        self.steps = 0
        self._buf: torch.Tensor | None = None  # SGD momentum buffer
        self._m: torch.Tensor | None = None  # Adam first moment
        self._v: torch.Tensor | None = None  # Adam second moment
        self._denom: torch.Tensor | None = None
        self._zbuf: torch.Tensor | None = None  # softmax logits/residuals, [K * B]
        self._wt: torch.Tensor | None = None  # W^T, [K, F]
        self._gt: torch.Tensor | None = None  # gradient of W^T, [K, F]
        #: running (pre-update) loss of the tracked batches: float64 sum and rows
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.loss_rows = 0
        self._flat: torch.Tensor | None = None  # see flat_grad
        self.avg: torch.Tensor | None = None  # Polyak-Ruppert average (start_average)
        self.avg_count = 0
        self._avg_skip = 0

    # ------------------------------------------------------------------ views
    @property
    def W(self) -> torch.Tensor:
        """``[F, K]`` weight view into :attr:`params`."""
        return self.params[: self.n_features]

    @property
    def b(self) -> torch.Tensor:
        """``[K]`` intercept view into :attr:`params`."""
        return self.params[self.n_features]

    def set_params(self, W: Any, b: Any) -> None:
        """Overwrite the parameters (``W`` ``[F, K]``, ``b`` ``[K]``) in place."""
        self.params[: self.n_features].copy_(torch.as_tensor(W).reshape(self.n_features, -1))
        self.params[self.n_features].copy_(torch.as_tensor(b).reshape(-1))

    def reset_optimizer(self) -> None:
        """Forget the momentum / Adam moments (the parameters are kept)."""
        self._buf = self._m = self._v = None
        self.steps = 0

    def start_average(self, skip: int = 0) -> None:
        """Start a Polyak-Ruppert average of the iterates (:attr:`avg`).

        The parameters after each of the following updates, except the first ``skip``
        ones, enter the running mean :attr:`avg` (:attr:`avg_count` of them). For
        these convex losses the average of SGD/Adam iterates at a constant ``lr`` lies
        much closer to the optimum than the iterates, which jitter at a noise floor
        that scales with ``lr``. :meth:`stop_average` ends it.
        """
        if self.avg is None:
            self.avg = torch.empty_like(self.params)
        self.avg.copy_(self.params)
        self.avg_count = 0
        self._avg_skip = int(skip)

    def stop_average(self) -> None:
        """Stop averaging (:attr:`avg` becomes ``None``)."""
        self.avg = None
        self.avg_count = 0

    # ------------------------------------------------------------------ maths
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Logits (or predictions) ``X @ W + b`` of shape ``[B, K]``.

        With several outputs this is a transposed view of ``W^T X^T`` (the faster
        product when ``K`` is small).
        """
        if self.n_outputs > 1:
            Z = torch.mm(self.W.t().contiguous(), X.t()).t()
            return Z.add_(self.b) if self.fit_intercept else Z
        if self.fit_intercept:
            return torch.addmm(self.b, X, self.W)
        return X @ self.W

    def _implicit(self) -> bool:
        """Whether :meth:`apply_update` takes the penalty (``implicit_penalty``).

        SGD with ``momentum=1`` has no fixed point to preserve: explicit there.
        """
        return (
            self.implicit_penalty
            and self.alpha > 0
            and not (self.optimizer == "sgd" and self.momentum >= 1.0)
        )

    def compute_grad(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        w: torch.Tensor | None = None,
        *,
        track_loss: bool = False,
    ) -> torch.Tensor:
        """Write the gradient of the batch objective into :attr:`grad` and return it.

        With ``implicit_penalty`` (and ``alpha > 0``) it is the gradient of the mean
        loss only; :meth:`apply_update` adds the penalty.

        ``y`` is float ``[B, 1]`` (regression, binary) or int64 ``[B]`` (multiclass);
        ``w`` optional ``[B]`` sample weights (normalised to mean 1 over the data).
        With ``track_loss`` the batch's (weighted) loss sum, at the parameters before
        the update, is added to the running loss (see :meth:`running_loss`) from the
        same logits.
        """
        B = X.shape[0]
        f = self.n_features
        if self.kind == "multiclass":
            self._softmax_grad(X, y, w, track_loss)
        else:
            Z = self.forward(X)
            if track_loss:
                self.add_running_loss(_losses.loss_sum(Z, y, w, self.kind), B)
            R = _losses.residual_(Z, y, self.kind)
            scale = _losses.RESIDUAL_SCALE[self.kind] / B
            if w is not None:
                R.mul_(w.view(B, 1) * scale)
            else:
                R.mul_(scale)
            torch.mm(X.t(), R, out=self.grad[:f])
            if self.fit_intercept:
                torch.sum(R, dim=0, out=self.grad[f])
        if self.alpha and not self._implicit():
            if self.penalty_scale is None:
                self.grad[:f].add_(self.W, alpha=self.alpha)
            else:
                self.grad[:f].addcmul_(self.W, self.penalty_scale, value=self.alpha)
        return self.grad

    def _softmax_grad(
        self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, track_loss: bool
    ) -> None:
        """Softmax gradient in the class-major layout ``[K, B]``.

        ``W^T X^T`` and ``R^T X`` run several times faster than ``X W`` and ``X^T R``
        for few classes (the long dimension is the inner one), and the softmax is
        written out (max, subtract, exp, sum, scale) because ``torch.softmax`` over a
        dimension of ~10 is slow on the CPU. Buffers are reused between steps.
        """
        B, f, k = X.shape[0], self.n_features, self.n_outputs
        if self._zbuf is None or self._zbuf.numel() < k * B:
            self._zbuf = torch.empty(k * B, dtype=torch.float32, device=self.device)
        wt, gt = self._wt, self._gt
        if wt is None or gt is None:
            wt = self._wt = torch.empty(k, f, dtype=torch.float32, device=self.device)
            gt = self._gt = torch.empty(k, f, dtype=torch.float32, device=self.device)
        Zt = self._zbuf[: k * B].view(k, B)
        wt.copy_(self.W.t())
        torch.mm(wt, X.t(), out=Zt)
        if self.fit_intercept:
            Zt.add_(self.b.view(k, 1))
        yi = y.view(1, B)
        m = Zt.amax(0, keepdim=True)
        if track_loss:
            # loss_i = logsumexp(z_i) - z_{i, y_i}, from the same logits
            zy = Zt.gather(0, yi)
        Zt.sub_(m).exp_()
        s = Zt.sum(0, keepdim=True)
        if track_loss:
            li = _losses.softmax_row_losses(s, m, zy).view(B)
            self.add_running_loss(
                li.sum() if w is None else torch.dot(li, w.view(B).to(li.dtype)), B
            )
        # R = (softmax - onehot) * c with c = w / B: scale the row by c / s, subtract c at y
        c = torch.full((1, B), 1.0 / B, device=self.device) if w is None else w.view(1, B) / B
        Zt.mul_(s.reciprocal_().mul_(c))
        Zt.scatter_add_(0, yi, c.neg_())
        torch.mm(Zt, X, out=gt)
        self.grad[:f].copy_(gt.t())
        if self.fit_intercept:
            torch.sum(Zt, dim=1, out=self.grad[f])

    def apply_update(self) -> None:
        """Apply one optimiser update from :attr:`grad` to :attr:`params`, in place.

        With ``implicit_penalty`` the step on the loss gradient is followed by the
        proximal (implicit) step of the penalty, ``W_j <- W_j / (1 + eta_j * alpha * d_j)``,
        with ``eta_j`` the step size the optimiser gave coordinate ``j``: ``lr / (1 -
        momentum)`` for SGD (the step of a constant gradient), ``lr / (sqrt(v_hat) +
        eps)`` for Adam (its preconditioned step on the bias-corrected moment). It is
        stable for any ``alpha * d_j`` and its fixed point is still the exact minimiser
        (``grad loss + alpha * d * W = 0``).
        """
        self.steps += 1
        g, p = self.grad, self.params
        f = self.n_features
        implicit = self._implicit()
        if self.optimizer == "sgd":
            if self.momentum:
                if self._buf is None:
                    self._buf = g.clone()
                else:
                    self._buf.mul_(self.momentum).add_(g)
                g = self._buf
            p.add_(g, alpha=-self.lr)
            if implicit:
                c = self.lr * self.alpha / (1.0 - self.momentum)
                if self.penalty_scale is None:
                    self.W.div_(1.0 + c)
                else:
                    self.W.div_(torch.add(1.0, self.penalty_scale, alpha=c))
            self._update_average()
            return
        b1, b2 = self.betas
        m, v, denom = self._m, self._v, self._denom
        if m is None or v is None or denom is None:
            m = self._m = torch.zeros_like(p)
            v = self._v = torch.zeros_like(p)
            denom = self._denom = torch.empty_like(p)
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        bc1 = 1 - b1**self.steps
        bc2_sqrt = math.sqrt(1 - b2**self.steps)
        # sqrt(v)/c + eps == (sqrt(v) + eps*c) / c: one operation fewer than torch's form
        torch.sqrt(v, out=denom)
        denom.add_(self.eps * bc2_sqrt)
        step = self.lr * bc2_sqrt / bc1
        p.addcdiv_(m, denom, value=-step)
        if implicit:
            # eta_j * alpha * d_j with eta_j = lr / (sqrt(v_hat) + eps) = lr * bc2_sqrt / denom_j
            if self._pbuf is None:
                self._pbuf = torch.empty_like(self.W)
            q = self._pbuf
            if self.penalty_scale is None:
                torch.reciprocal(denom[:f], out=q)
            else:
                torch.div(self.penalty_scale, denom[:f], out=q)
            q.mul_(self.lr * bc2_sqrt * self.alpha)
            self.W.div_(q.add_(1.0))
        self._update_average()

    def _update_average(self) -> None:
        if self.avg is None:
            return
        if self._avg_skip > 0:
            self._avg_skip -= 1
            return
        self.avg_count += 1
        self.avg.lerp_(self.params, 1.0 / self.avg_count)

    def step(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        w: torch.Tensor | None = None,
        *,
        track_loss: bool = False,
    ) -> None:
        """One minibatch step: closed-form gradient, then the optimiser update."""
        self.compute_grad(X, y, w, track_loss=track_loss)
        self.apply_update()

    def run_epoch(self, batches: Iterable, *, track_loss: bool = False, callback=None) -> int:
        """Run one step per batch of ``batches`` (``(X, y)`` or ``(X, y, w)`` tuples).

        With ``track_loss`` the (pre-update) batch losses are summed on the device;
        :meth:`running_loss` returns their mean. ``callback(i)`` is called after each
        step (used by progress bars). Returns the number of steps taken.
        """
        if track_loss:
            self.reset_running_loss()
        n = 0
        for batch in batches:
            X, y = batch[0], batch[1]
            w = batch[2] if len(batch) > 2 else None
            if X.device != self.device:
                X, y = X.to(self.device), y.to(self.device)
                w = None if w is None else w.to(self.device)
            self.step(X, y, w, track_loss=track_loss)
            n += 1
            if callback is not None:
                callback(n)
        return n

    # ------------------------------------------------------------------ running loss
    def reset_running_loss(self) -> None:
        """Zero the running loss (:attr:`loss_sum`, :attr:`loss_rows`)."""
        self.loss_sum.zero_()
        self.loss_rows = 0

    def add_running_loss(self, total: torch.Tensor, rows: int) -> None:
        """Add a batch's loss sum (a 0-d tensor, no host sync) over ``rows`` rows."""
        self.loss_sum += total
        self.loss_rows += int(rows)

    def set_running_loss(self, total: float, rows: int) -> None:
        """Overwrite the running loss (for example with its sum over the ranks)."""
        self.loss_sum.fill_(float(total))
        self.loss_rows = int(rows)

    def running_loss(self) -> float:
        """Mean (pre-update) batch loss of the last tracked epoch, plus the penalty."""
        if not self.loss_rows:
            return float("nan")
        return float(self.loss_sum) / self.loss_rows + self.penalty()

    def flat_grad(self, extra: int = 0) -> torch.Tensor:
        """A flat buffer ``[(F + 1) * K + extra]`` whose head is :attr:`grad` from now on.

        Collectives reduce the gradient and ``extra`` trailing values (a row count) in
        one call. The same buffer is returned while its size fits.
        """
        numel = self.params.numel()
        buf = self._flat
        if buf is None or buf.numel() != numel + extra:
            buf = torch.zeros(numel + extra, dtype=self.params.dtype, device=self.device)
            self._flat = buf
            self.grad = buf[:numel].view_as(self.params)
        return buf

    # ------------------------------------------------------------------ evaluation
    def penalty(self) -> float:
        """``alpha / 2 * sum_j d_j ||W_j||^2``."""
        if not self.alpha:
            return 0.0
        scale = None if self.penalty_scale is None else self.penalty_scale.double()
        return float(_losses.penalty(self.W.double(), self.alpha, scale))

    def _chunks(self, n: int, part: int, parts: int) -> Iterator[tuple[int, int]]:
        for c, s in enumerate(range(0, n, EVAL_CHUNK)):
            if c % parts == part:
                yield s, min(n, s + EVAL_CHUNK)

    @torch.no_grad()
    def eval_sums(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        w: torch.Tensor | None = None,
        *,
        metric: bool = False,
        part: int = 0,
        parts: int = 1,
    ) -> torch.Tensor:
        """The float64 sufficient statistics (:func:`~tabloader.trainers._losses.eval_sums`)
        of the chunks ``c`` of ``(X, y)`` with ``c % parts == part``.

        Chunks are :data:`EVAL_CHUNK` rows from the first row on, so the parts of
        ``parts`` ranks add up to exactly the single-process value (each chunk is
        evaluated by the same operations, whichever rank holds it).
        """
        total = _losses.empty_sums(self.kind, metric=metric, device=self.device)
        for s, e in self._chunks(X.shape[0], part, parts):
            wb = None if w is None else w[s:e]
            total += _losses.eval_sums(self.forward(X[s:e]), y[s:e], wb, self.kind, metric=metric)
        return total

    def loss(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        w: torch.Tensor | None = None,
        *,
        part: int = 0,
        parts: int = 1,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> float:
        """The full objective on ``(X, y)``: mean (weighted) loss plus the penalty.

        Evaluated in chunks; ``w`` is divided by its sum, so any scale works. Over a
        process group, each rank evaluates ``part`` of ``parts`` and ``reduce`` sums the
        statistics over the ranks (see :meth:`DistributedContext.loss`).
        """
        sums = self.eval_sums(X, y, w, part=part, parts=parts)
        if reduce is not None:
            sums = reduce(sums)
        return _losses.mean_loss(sums) + self.penalty()

    @torch.no_grad()
    def metric(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        w: torch.Tensor | None = None,
        *,
        part: int = 0,
        parts: int = 1,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> float:
        """Accuracy (classification) or R^2 (regression) on ``(X, y)``; ``part``,
        ``parts`` and ``reduce`` as for :meth:`loss`."""
        sums = self.eval_sums(X, y, w, metric=True, part=part, parts=parts)
        if reduce is not None:
            sums = reduce(sums)
        if self.kind != "regression":
            return _losses.metric_value(self.kind, sums)
        center = _losses.target_center(sums)
        spread = torch.zeros(1, dtype=torch.float64, device=self.device)
        for s, e in self._chunks(X.shape[0], part, parts):
            spread += _losses.spread_sum(y[s:e], None if w is None else w[s:e], center)
        if reduce is not None:
            spread = reduce(spread)
        return _losses.metric_value(self.kind, sums, spread)


def iter_batches(
    tensors: tuple[torch.Tensor | None, ...],
    batch_size: int,
    *,
    shuffle: bool = False,
    drop_last: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield batches of rows of ``tensors`` (all on one device, same length).

    Without shuffling the batches are views (slices, no copy); with shuffling a
    permutation drawn from ``generator`` (on the CPU) is moved once to the device
    and each batch is gathered with ``index_select``. ``None`` entries are dropped.
    """
    ts = tuple(t for t in tensors if t is not None)
    n = ts[0].shape[0]
    stop = n - n % batch_size if drop_last else n
    if not shuffle:
        for s in range(0, stop, batch_size):
            yield tuple(t[s : s + batch_size] for t in ts)
        return
    perm = torch.randperm(n, generator=generator).to(ts[0].device, non_blocking=True)
    for s in range(0, stop, batch_size):
        idx = perm[s : s + batch_size]
        yield tuple(t.index_select(0, idx) for t in ts)
