"""The one epoch loop, and the small objects it calls at each epoch.

:func:`run_loop` trains a :class:`~tabloader.trainers._core.LinearCore` on any
re-iterable of batches (a loader over in-memory tensors, a user's DataLoader, a
stream) and records the history. What varies between fits is delegated:

* :class:`Engine`: one epoch and the evaluations, alone or over a process group;
* :class:`Averaging`: Polyak-Ruppert averaging of the iterates (in-memory data);
* :class:`ProgressBar`: a tqdm bar per epoch (``verbose``, rank 0 only);
* :class:`EarlyStopping`: the stopping rule on the objective (its relative decrease
  below ``tol``), the plateau test, the best parameters;
* :class:`PlateauSchedule`: what a plateau does (divide ``lr``, or stop).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from sklearn.exceptions import ConvergenceWarning

from tabloader.trainers._core import LinearCore
from tabloader.trainers._distributed import DistributedContext
from tabloader.trainers._params import FitParams

__all__ = [
    "Averaging",
    "EarlyStopping",
    "Engine",
    "PlateauSchedule",
    "ProgressBar",
    "SAMPLE_ROWS",
    "TrainData",
    "run_loop",
]

PLATEAU_FACTOR = 5.0  # lr is divided by this on each plateau ...
PLATEAU_REDUCTIONS = 3  # ... this many times before training stops
MIN_PATIENCE_STEPS = 100
MAX_PATIENCE_ROWS = 1_000_000
AVERAGE_SKIP = 0.5  # a restarted average leaves out this fraction of an epoch
#: bigger in-memory tables take their preconditioner statistics and the estimate of the
#: training objective from one seeded sample of this many rows: the same rows every
#: epoch, so epoch-to-epoch differences carry little sampling noise
SAMPLE_ROWS = 1 << 16

Tensors = tuple[torch.Tensor, torch.Tensor, "torch.Tensor | None"]


@dataclass(frozen=True)
class TrainData:
    """What the loop trains on.

    Attributes
    ----------
    batches : iterable
        Re-iterable of ``(X, y)`` or ``(X, y, w)`` batches on the device (this rank's).
    train : tuple or None
        The whole training data ``(X, y, w)`` in memory: exact epoch losses and
        averaging. ``None`` (loaders, streams): the running loss of the epoch.
    val : tuple or None
        Held-out ``(X, y, w)``: watched instead of the training loss.
    drop_last : bool
        Map-style ``drop_last`` (ranks then stop at the fewest batches).
    factor : float
        Losses are reported times this (``y_scale**2`` of standardised targets).
    monitor : tuple or None
        The rows whose objective is the epoch's ``train_loss`` (a fixed seeded subset
        of :data:`SAMPLE_ROWS` rows of a bigger ``train``; ``None``: all of
        ``train``): one short evaluation per epoch, not an extra pass over the table.
    """

    batches: Iterable[Any]
    train: Tensors | None = None
    val: Tensors | None = None
    drop_last: bool = False
    factor: float = 1.0
    monitor: Tensors | None = None

    @property
    def watched(self) -> Tensors | None:
        """The rows of the training objective's estimate (``monitor`` or ``train``)."""
        return self.monitor if self.monitor is not None else self.train


class Engine:
    """One epoch and the evaluations of a core, alone or data-parallel (``ctx``)."""

    def __init__(self, core: LinearCore, ctx: DistributedContext | None) -> None:
        self.core = core
        self.ctx = ctx

    @property
    def is_main(self) -> bool:
        return self.ctx is None or self.ctx.is_main

    def run_epoch(
        self, batches: Iterable[Any], *, track: bool, callback: Any, drop_last: bool
    ) -> int:
        if self.ctx is None:
            return self.core.run_epoch(batches, track_loss=track, callback=callback)
        # one all-reduce of the gradient per step
        return self.ctx.run_epoch(
            self.core, batches, track_loss=track, callback=callback, drop_last=drop_last
        )

    def loss(self, data: Tensors) -> float:
        if self.ctx is None:
            return self.core.loss(*data)
        return self.ctx.loss(self.core, *data)

    def metric(self, data: Tensors) -> float:
        if self.ctx is None:
            return self.core.metric(*data)
        return self.ctx.metric(self.core, *data)


class Averaging:
    """Polyak-Ruppert averaging over epochs (in-memory data).

    The average runs over epochs for as long as it beats the last iterate; it
    restarts, leaving out the first half of the epoch, when the iterate wins (the
    descent, not noise, dominates).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.restart = True

    def begin_epoch(self, core: LinearCore, steps: int) -> None:
        if self.enabled and self.restart:
            core.start_average(skip=int(steps * AVERAGE_SKIP))
            self.restart = False

    def end_epoch(self, core: LinearCore, train_loss: float, loss: Callable[[], float]) -> float:
        """Continue from the average when it is the better point; the training loss."""
        if not (self.enabled and core.avg is not None and core.avg_count > 1):
            return train_loss
        last = core.params.clone()
        core.params.copy_(core.avg)
        avg_loss = loss()
        if avg_loss <= train_loss:
            return avg_loss
        core.params.copy_(last)
        self.restart = True
        return train_loss


class ProgressBar:
    """A tqdm bar per epoch with the running loss (when enabled)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def start(
        self, epoch: int, batches: Iterable[Any], core: LinearCore
    ) -> Callable[[int], None] | None:
        """Open the epoch's bar; the per-step callback (None when disabled)."""
        if not self.enabled:
            return None
        from tqdm.auto import tqdm

        total = _length(batches)
        bar = self.bar = tqdm(total=total, desc=f"epoch {epoch}", leave=False)

        def step(i: int) -> None:
            bar.update(1)
            if i % 50 == 0:
                bar.set_postfix(loss=f"{core.running_loss():.5g}")

        return step

    def close(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.5g}")
            self.bar.close()
            self.bar = None


class EarlyStopping:
    """The stopping rule on the objective, and the plateau test that lowers ``lr``.

    After each epoch the watched objective ``f`` (the training objective from the
    epoch's sums, or the held-out loss) is compared with its value a window ago (one
    epoch, or the epochs of :data:`MIN_PATIENCE_STEPS` steps on tiny data):

    * ``"converged"``: it changed by less than ``tol * |f|``, down or up -- the
      objective has converged to ``tol`` (``gap`` holds that relative decrease; a
      rise that small is the noise of the last iterates, a larger one a plateau);
    * ``"plateau"``: no new best for ``patience`` epochs (``n_iter_no_change``, at
      most the epochs of :data:`MAX_PATIENCE_ROWS` rows, at least a window): the
      iterates oscillate, and the schedule divides ``lr`` (or stops);
    * ``"go"`` otherwise.

    With ``keep_best`` the parameters of the best epoch are kept (validation).
    """

    def __init__(self, tol: float | None, n_iter_no_change: int, *, keep_best: bool) -> None:
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.keep_best = keep_best
        self.best = math.inf
        self.no_improve = 0
        self.seen: list[float] = []
        self.gap = math.inf
        self.best_params: torch.Tensor | None = None

    def update(self, watch: float, core: LinearCore, rows: int, steps: int) -> str:
        """Record an epoch's watched objective (>= 0): ``"go"``, ``"plateau"`` or
        ``"converged"``."""
        if self.tol is None:
            return "go"
        window = max(1, math.ceil(MIN_PATIENCE_STEPS / max(steps, 1)))
        self.seen.append(watch)
        self.no_improve = self.no_improve + 1 if watch >= self.best else 0
        if watch < self.best:
            self.best = watch
            if self.keep_best:
                self.best_params = core.params.clone()
        if len(self.seen) <= window:
            return "go"
        before = self.seen[-1 - window]
        self.gap = (before - watch) / max(abs(watch), 1e-300)
        if abs(self.gap) < self.tol:  # up or down: at tol's precision it has settled
            return "converged"
        patience = min(self.n_iter_no_change, math.ceil(MAX_PATIENCE_ROWS / max(rows, 1)))
        if self.no_improve >= max(patience, window):
            self.no_improve = 0
            return "plateau"
        return "go"

    def plateau(self, watch: float, core: LinearCore, rows: int, steps: int) -> bool:
        """Whether this epoch ends training or lowers ``lr`` (:meth:`update` not "go")."""
        return self.update(watch, core, rows, steps) != "go"

    def restore_best(self, core: LinearCore) -> None:
        if self.best_params is not None:
            core.params.copy_(self.best_params)


class PlateauSchedule:
    """``"plateau"``: divide ``lr`` by 5 on a plateau, at most 3 times; ``"constant"``: stop."""

    def __init__(self, schedule: str) -> None:
        self.reductions = PLATEAU_REDUCTIONS if schedule == "plateau" else 0

    def on_plateau(self, core: LinearCore) -> bool:
        """Whether training goes on (with a lower ``lr``)."""
        if self.reductions <= 0:
            return False
        self.reductions -= 1
        core.lr /= PLATEAU_FACTOR
        return True


def _length(batches: Iterable[Any]) -> int | None:
    """``len(batches)``, or None when it has no length."""
    return len(batches) if isinstance(batches, Sized) else None


def _check_finite(loss: float, epoch: int, params: FitParams) -> None:
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"the training loss diverged to {loss} at epoch {epoch}; "
            f"lower lr (got lr={params.lr}) or use standardize=True"
        )


def _epoch(engine: Engine, data: TrainData, bar: ProgressBar, epoch: int) -> tuple[int, float]:
    """Run one epoch; its steps and (unaveraged) training loss."""
    core = engine.core
    callback = bar.start(epoch, data.batches, core)
    track = data.train is None or callback is not None
    steps = engine.run_epoch(data.batches, track=track, callback=callback, drop_last=data.drop_last)
    if steps == 0:
        raise ValueError("the data yielded no batch (drop_last=True with too few rows?)")
    watched = data.watched
    if watched is None:
        return steps, core.running_loss() * data.factor
    return steps, engine.loss(watched) * data.factor


def _train_loss(engine: Engine, data: TrainData) -> float:
    watched = data.watched
    assert watched is not None
    return engine.loss(watched) * data.factor


def run_loop(
    core: LinearCore, data: TrainData, params: FitParams, ctx: DistributedContext | None
) -> tuple[list[dict[str, float]], int, bool]:
    """Train for up to ``params.max_epochs`` epochs; ``(history, n_iter, converged)``."""
    engine = Engine(core, ctx)
    averaging = Averaging(params.average and data.train is not None)
    bar = ProgressBar(params.verbose and engine.is_main)
    stopping = EarlyStopping(params.tol, params.n_iter_no_change, keep_best=data.val is not None)
    schedule = PlateauSchedule(params.lr_schedule)
    history: list[dict[str, float]] = []
    steps = _length(data.batches) or 0
    converged = False
    epoch = 0
    for epoch in range(1, params.max_epochs + 1):
        t0 = time.perf_counter()
        averaging.begin_epoch(core, steps)
        steps, train_loss = _epoch(engine, data, bar, epoch)
        if data.train is not None:
            train_loss = averaging.end_epoch(core, train_loss, partial(_train_loss, engine, data))
        bar.close(train_loss)
        _check_finite(train_loss, epoch, params)
        rec = {"epoch": epoch, "train_loss": train_loss}
        if data.val is not None:
            rec["val_loss"] = engine.loss(data.val) * data.factor
            rec["val_metric"] = engine.metric(data.val)
        if params.device.type == "cuda":
            torch.cuda.synchronize(params.device)
        rec["seconds"] = time.perf_counter() - t0
        history.append(rec)
        rows = core.loss_rows if data.train is None else data.train[0].shape[0]
        state = stopping.update(rec.get("val_loss", train_loss), core, rows, steps)
        if state == "converged" or (state == "plateau" and not schedule.on_plateau(core)):
            converged = True
            break
    stopping.restore_best(core)
    if params.tol is not None and not converged:
        warnings.warn(
            f"max_epochs={params.max_epochs} reached before the objective converged: it "
            f"still fell by {stopping.gap:.2g} (relative) in the last epochs, above "
            f"tol={params.tol:g}; increase max_epochs",
            ConvergenceWarning,
            stacklevel=4,
        )
    return history, epoch, converged
