"""Every loss, objective and metric formula of the trainers, written once.

The minibatch step, L-BFGS, the per-epoch history, :func:`~tabloader.trainers.compare`,
the estimators' ``loss`` and the distributed reductions all call these functions.

Losses per row, for logits (or predictions) ``z`` and target ``y``:

* regression: ``(z - y)^2``;
* binary: ``log(1 + exp(z)) - y z`` (sigmoid + cross-entropy from logits);
* multiclass: ``logsumexp(z) - z_y`` (softmax + cross-entropy).

The objective is the weighted mean loss plus ``alpha / 2 * sum_j d_j ||W_j||^2``
(:func:`penalty`). Evaluations are reported as **sufficient statistics**: float64
vectors of sums (:func:`eval_sums`) that any number of parts (chunks, ranks) only add,
finished by :func:`mean_loss` and :func:`metric_value`. So one process and ``N`` ranks
compute the same numbers from the same formula:

* loss: ``sum w l / sum w``;
* R^2: ``1 - sum w r^2 / sum w (y - m)^2`` (``r`` the residual) with
  ``m = sum w y / sum w`` from the first sums: two reductions, as
  :meth:`tabloader._stats.FeatureStats.all_reduce` does, and no
  ``sum w y^2 - (sum w y)^2 / sum w`` cancellation (which loses digits as soon as the
  targets sit far from 0);
* accuracy: ``sum w [correct] / sum w``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "KINDS",
    "RESIDUAL_SCALE",
    "empty_sums",
    "eval_sums",
    "loss_sum",
    "mean_loss",
    "metric_value",
    "objective",
    "penalty",
    "predictions",
    "residual_",
    "row_losses",
    "softmax_parts_t_",
    "softmax_residual",
    "softmax_row_losses",
    "spread_sum",
    "target_center",
]

KINDS = ("regression", "binary", "multiclass")

#: d loss / d z = RESIDUAL_SCALE * residual_(z, y): 2 (z - y), sigmoid(z) - y, softmax - onehot
RESIDUAL_SCALE = {"regression": 2.0, "binary": 1.0, "multiclass": 1.0}


def _rows(y: torch.Tensor, n: int) -> torch.Tensor:
    return y.reshape(n, 1)


def row_losses(Z: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """The loss of each row, ``[B]``, in ``Z``'s dtype.

    ``Z`` is ``[B, K]``; ``y`` float ``[B]``/``[B, 1]`` (regression, binary: 0 or 1) or
    integer class indices ``[B]`` (multiclass).
    """
    n = Z.shape[0]
    if kind == "regression":
        r = Z - _rows(y, n).to(Z.dtype)
        return (r * r).view(-1)
    if kind == "binary":
        t = _rows(y, n).to(Z.dtype)
        return F.binary_cross_entropy_with_logits(Z, t, reduction="none").view(-1)
    # logsumexp(z) - z_y written out: F.cross_entropy's log_softmax is slow over ~10
    # classes on the CPU, and this also runs fast on the class-major view of forward()
    m = Z.amax(1, keepdim=True)
    zy = Z.gather(1, y.reshape(-1, 1).long())
    return softmax_row_losses((Z - m).exp_().sum(1, keepdim=True), m, zy).view(-1)


def softmax_row_losses(
    sum_exp: torch.Tensor, zmax: torch.Tensor, z_true: torch.Tensor
) -> torch.Tensor:
    """``logsumexp(z) - z_y`` from ``sum(exp(z - max))``, ``max`` and ``z_y`` (any shape).

    The fused softmax step computes these parts anyway; it calls this to get the loss.
    """
    return sum_exp.log().add_(zmax).sub_(z_true)


def loss_sum(Z: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, kind: str) -> torch.Tensor:
    """``sum_i w_i l_i`` (``w = 1`` when None) as a 0-d tensor on ``Z``'s device (no sync)."""
    li = row_losses(Z, y, kind)
    return li.sum() if w is None else torch.dot(li, w.reshape(-1).to(li.dtype))


def residual_(Z: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """``(d loss / d z) / RESIDUAL_SCALE`` for regression and binary, **in place** in ``Z``.

    ``z - y`` (regression) or ``sigmoid(z) - y`` (binary). The softmax residual
    ``softmax(z) - onehot(y)`` is :func:`softmax_residual`.
    """
    n = Z.shape[0]
    t = _rows(y, n).to(Z.dtype)
    if kind == "regression":
        return Z.sub_(t)
    return Z.sigmoid_().sub_(t)


def softmax_parts_t_(Zt: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row losses ``[B]`` of class-major logits ``Zt`` ``[K, B]``, which become the
    residual ``(softmax(z) - onehot(y))^T`` **in place** (one exp, no ``torch.softmax``:
    over ~10 classes on the CPU it costs more than both products of a step)."""
    yi = y.reshape(1, -1).long()
    m = Zt.amax(0, keepdim=True)
    zy = Zt.gather(0, yi)
    Zt.sub_(m).exp_()
    s = Zt.sum(0, keepdim=True)
    li = softmax_row_losses(s.clone(), m, zy).view(-1)
    Zt.div_(s).scatter_add_(0, yi, torch.full_like(zy, -1.0))
    return li


def softmax_residual(Z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``softmax(z) - onehot(y)``, ``[B, K]`` (a new tensor)."""
    R = torch.softmax(Z, dim=1)
    R.scatter_add_(1, y.reshape(-1, 1).long(), torch.full_like(R[:, :1], -1.0))
    return R


def penalty(W: torch.Tensor, alpha: float, scale: torch.Tensor | None = None) -> torch.Tensor:
    """``alpha / 2 * sum_j d_j ||W_j||^2`` (``d = 1`` when ``scale`` is None), a 0-d tensor."""
    sq = W * W if scale is None else W * W * scale.to(W.dtype).reshape(-1, 1)
    return 0.5 * alpha * sq.sum()


def predictions(Z: torch.Tensor, kind: str) -> torch.Tensor:
    """Predicted class indices ``[B]`` from logits (classification)."""
    return (Z.reshape(-1) > 0).long() if kind == "binary" else Z.argmax(1)


def eval_sums(
    Z: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, kind: str, *, metric: bool = False
) -> torch.Tensor:
    """The sufficient statistics of one part of the data, a float64 vector of sums.

    ``[sum w, sum w l]``, and with ``metric``: ``+ [sum w y]`` (regression, where ``l``
    is the squared residual) or ``+ [sum w correct]`` (classification). Parts combine
    by addition (:func:`mean_loss`, :func:`metric_value` finish them).
    """
    wd = None if w is None else w.reshape(-1).double()

    def wsum(v: torch.Tensor) -> torch.Tensor:  # sum w v in float64
        return v.double().sum() if wd is None else torch.dot(wd, v.double())

    if wd is None:
        sw = torch.tensor(float(Z.shape[0]), dtype=torch.float64, device=Z.device)
    else:
        sw = wd.sum()
    out = [sw, loss_sum(Z, y, w, kind).double()]
    if metric:
        if kind == "regression":
            out.append(wsum(y.reshape(-1)))
        else:
            out.append(wsum(predictions(Z, kind) == y.reshape(-1).long()))
    return torch.stack(out)


def empty_sums(
    kind: str, *, metric: bool = False, device: torch.device | None = None
) -> torch.Tensor:
    """Zero sums of the layout :func:`eval_sums` returns."""
    size = 3 if metric else 2
    return torch.zeros(size, dtype=torch.float64, device=device)


def mean_loss(sums: torch.Tensor) -> float:
    """The weighted mean loss ``sum w l / sum w`` from :func:`eval_sums` sums."""
    return float(sums[1]) / float(sums[0])


def target_center(sums: torch.Tensor) -> float:
    """The weighted target mean ``sum w y / sum w`` from regression :func:`eval_sums` sums."""
    return float(sums[2]) / float(sums[0])


def spread_sum(y: torch.Tensor, w: torch.Tensor | None, center: float) -> torch.Tensor:
    """``sum w (y - center)^2`` in float64, a ``[1]`` tensor (R^2's second sums)."""
    d = y.reshape(-1).double() - center
    sq = d * d
    return (sq.sum() if w is None else torch.dot(sq, w.reshape(-1).double())).reshape(1)


def metric_value(kind: str, sums: torch.Tensor, spread: torch.Tensor | None = None) -> float:
    """R^2 (regression) or accuracy from :func:`eval_sums` sums (``metric=True``).

    R^2 also needs ``spread``, the sum of :func:`spread_sum` about
    :func:`target_center`; it is NaN when the targets are constant.
    """
    s = [float(v) for v in sums.cpu()]
    if kind != "regression":
        return s[2] / s[0]
    tot = float("nan") if spread is None else float(spread.reshape(-1)[0])
    return 1.0 - s[1] / tot if tot > 0 else float("nan")


def objective(
    kind: str,
    Z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None = None,
    coef: np.ndarray | None = None,
    alpha: float = 0.0,
) -> float:
    """The objective in float64 on NumPy arrays: weighted mean loss + the raw penalty.

    Parameters
    ----------
    kind : {"regression", "binary", "multiclass"}
    Z : ndarray of shape (n, K)
        Predictions or logits.
    y : ndarray of shape (n,)
        Targets (regression) or class indices.
    w : ndarray of shape (n,), optional
        Sample weights.
    coef : ndarray, optional
        Coefficients penalised by ``alpha / 2 * ||coef||^2``.
    alpha : float, default=0.0
    """
    Zt = torch.from_numpy(np.asarray(Z, dtype=np.float64))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64 if kind != "regression" else np.float64))
    wt = None if w is None else torch.from_numpy(np.asarray(w, dtype=np.float64))
    mean = mean_loss(eval_sums(Zt, yt, wt, kind))
    if coef is None or not alpha:
        return mean
    return mean + float(penalty(torch.from_numpy(np.asarray(coef, dtype=np.float64)), alpha))
