"""Data-parallel training on :mod:`torch.distributed`: one all-reduce of the gradient per step.

Every rank holds the same :class:`~tabloader.trainers._core.LinearCore` (same seed, same
start) and reads only its shard of each epoch: map-style data through
:func:`~tabloader.loaders.make_loader`'s rank sharding with ``remainder="uneven"`` (rank
``r`` takes positions ``r, r + w, ...`` of the epoch's permutation), streams through
their own sharding. Each step, every rank computes the closed-form gradient of the mean
loss on its batch of ``B_r`` rows, and one all-reduce of the flat buffer
``[B_r * grad (F + 1) x K, B_r]`` gives every rank the gradient of the global batch::

    grad = sum_r B_r * grad_r / sum_r B_r

(sum-then-divide by the global row count, so batches of unequal size, and ranks with no
batch left at the end of an epoch, are weighted exactly). All ranks then apply the same
optimiser update and stay bit-identical. A step's union over the ranks is one global
batch of ``w * b`` rows of the same permutation, so with the same seed the weights equal
those of one process with batch size ``w * b``, to float32 rounding.

Reported losses and metrics are sufficient statistics (:mod:`._losses`) that the ranks
only sum, in float64: every rank holds the whole table and evaluates its share of the
evaluation chunks (:meth:`LinearCore.eval_sums`), so every rank sees the same values,
takes the same early-stopping decisions, and reports what one process reports.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from tabloader.errors import SchemaError
from tabloader.trainers._core import LinearCore

__all__ = [
    "DEFAULT_TIMEOUT",
    "DistributedContext",
    "data_signature",
    "get_context",
    "init_distributed",
    "is_main_process",
    "launched_distributed",
    "shutdown_distributed",
]

#: seconds a collective waits for a silent peer before every rank fails
#: (``TABLOADER_DIST_TIMEOUT`` overrides it); a peer that dies is noticed at once by gloo
DEFAULT_TIMEOUT = 300.0


def _timeout_seconds(timeout: float | None) -> float:
    if timeout is None:
        env = os.environ.get("TABLOADER_DIST_TIMEOUT")
        if env is None:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(env)
        except ValueError:
            raise ValueError(
                f"TABLOADER_DIST_TIMEOUT should be a number of seconds, but got {env!r}"
            ) from None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout should be a positive number of seconds, but got {timeout!r}")
    return float(timeout)


def launched_distributed() -> bool:
    """Whether this process was started by ``torchrun`` (or alike) with ``WORLD_SIZE > 1``.

    Returns
    -------
    bool
        True when the environment variables ``RANK`` and ``WORLD_SIZE`` are set and
        ``WORLD_SIZE`` is greater than 1.
    """
    try:
        return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def init_distributed(backend: str | None = None, *, timeout: float | None = None) -> bool:
    """Initialise the default process group from the environment when launched by torchrun.

    Does nothing when the group is already initialised (returns True) or when the
    process was not launched for several ranks (returns False).

    Parameters
    ----------
    backend : {"gloo", "nccl"}, optional
        ``None`` picks NCCL when CUDA is available, else gloo. With CUDA, each rank uses
        the device ``LOCAL_RANK``.
    timeout : float, optional
        Seconds a collective waits for a peer before failing (default
        ``TABLOADER_DIST_TIMEOUT`` or :data:`DEFAULT_TIMEOUT`).

    Returns
    -------
    bool
        Whether a process group is initialised now.
    """
    if not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    if not launched_distributed():
        return False
    seconds = _timeout_seconds(timeout)
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend should be one of ['gloo', 'nccl'], but got backend={backend!r}")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        # a peer that stops answering aborts the collective instead of hanging
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    dist.init_process_group(
        backend=backend, init_method="env://", timeout=timedelta(seconds=seconds)
    )
    return True


def shutdown_distributed() -> None:
    """Destroy the default process group if one is initialised."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """True on rank 0 of an initialised process group, and in a single process.

    Use it to write files, print and show progress bars once.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return True


def get_context(device: Any = "cpu", *, timeout: float | None = None) -> DistributedContext | None:
    """The :class:`DistributedContext` of the default process group, or None.

    Initialises the group first when the process was launched by ``torchrun`` (see
    :func:`init_distributed`). None when there is no group or only one rank.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
        Where the model's tensors live (the collectives run there; NCCL needs CUDA).
    timeout : float, optional
        Passed to :func:`init_distributed` when it creates the group.

    Returns
    -------
    DistributedContext or None
    """
    if not init_distributed(timeout=timeout):
        return None
    if dist.get_world_size() == 1:
        return None
    return DistributedContext(device=device, timeout=timeout)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def data_signature(
    X: Any,
    *,
    n_features: int,
    n_rows: int | None = None,
    feature_names: Any = None,
    classes: Any = None,
    task: str | None = None,
    checksum: float | None = None,
) -> dict[str, Any]:
    """What every rank must agree on before training: names, dtypes, classes, sizes.

    Parameters
    ----------
    X : object
        The training input as given to ``fit`` (its dtypes are recorded: a DataFrame's
        column dtypes, an array's or tensor's dtype, a dataset's tensor dtypes).
    n_features : int
        Number of features.
    n_rows : int, optional
        Rows of the training data on this rank, when every rank holds the whole table
        (omit it when each rank holds only its own shard).
    feature_names : sequence of str, optional
    classes : array-like, optional
        The class labels (classification).
    task : str, optional
    checksum : float, optional
        A float64 sum of the data, to catch ranks that read different files.

    Returns
    -------
    dict
        JSON-like values only, comparable with ``==``.
    """
    dtypes: Any
    if hasattr(X, "dtypes") and hasattr(X, "columns"):  # DataFrame
        dtypes = {str(c): str(t) for c, t in zip(X.columns, X.dtypes)}
    elif hasattr(X, "features") and isinstance(getattr(X, "features", None), torch.Tensor):
        tgt = getattr(X, "targets", None)
        dtypes = {"features": str(X.features.dtype), "targets": str(getattr(tgt, "dtype", None))}
    elif hasattr(X, "dtype"):
        dtypes = str(X.dtype)
    else:
        dtypes = type(X).__name__
    sig = {
        "n_features": int(n_features),
        "feature_names": None if feature_names is None else [str(c) for c in feature_names],
        "dtypes": dtypes,
        "task": task,
        "classes": None if classes is None else [_plain(c) for c in np.asarray(classes).tolist()],
    }
    if n_rows is not None:
        sig["n_rows"] = int(n_rows)
    if checksum is not None:
        sig["checksum"] = float(checksum)
    return sig


def _plain(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)


def _differs(key: str, a: Any, b: Any) -> bool:
    if key == "checksum":
        return not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a != b


def _difference(a: Any, b: Any) -> str:
    """A short description of how ``b`` differs from ``a`` (lists and dicts item by item)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k in list(a) + [k for k in b if k not in a]:
            if a.get(k, "<missing>") != b.get(k, "<missing>"):
                return f"[{k!r}] {_describe(b.get(k, '<missing>'))} instead of {_describe(a.get(k, '<missing>'))}"
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            extra = [v for v in b if v not in a]
            missing = [v for v in a if v not in b]
            return (
                f"{len(b)} entries instead of {len(a)} (extra: {_describe(extra)}, "
                f"missing: {_describe(missing)})"
            )
        for i, (u, v) in enumerate(zip(a, b)):
            if u != v:
                return f"[{i}] {_describe(v)} instead of {_describe(u)}"
    return f"{_describe(b)} instead of {_describe(a)}"


class DistributedContext:
    """Collectives of one data-parallel training run over the default process group.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
        The device of the model's tensors.
    timeout : float, optional
        Only used in messages (the group's timeout is set when it is created).
    """

    def __init__(self, device: Any = "cpu", *, timeout: float | None = None) -> None:
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "DistributedContext needs an initialised torch.distributed process group; "
                "call tabloader.trainers.init_distributed() or launch with torchrun"
            )
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.backend = str(dist.get_backend())
        self.device = torch.device(device)
        self.timeout = _timeout_seconds(timeout)
        if self.backend == "nccl" and self.device.type != "cuda":
            raise ValueError(
                "the NCCL backend needs the model on a CUDA device, but got "
                f"device={str(self.device)!r}; use device='cuda' or the gloo backend"
            )

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the rank that writes files and prints)."""
        return self.rank == 0

    def __repr__(self) -> str:
        return (
            f"DistributedContext(rank={self.rank}, world_size={self.world_size}, "
            f"backend={self.backend!r}, device={str(self.device)!r})"
        )

    # ------------------------------------------------------------------ collectives
    def _failed(self, what: str, exc: BaseException) -> RuntimeError:
        return RuntimeError(
            f"rank {self.rank} of {self.world_size}: {what} failed: another rank died or "
            f"did not answer within the timeout ({self.timeout:g} s); stopping "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]})"
        )

    def all_reduce(
        self, t: torch.Tensor, op: Any = None, *, what: str = "all-reduce"
    ) -> torch.Tensor:
        """In-place all-reduce (sum by default) of ``t``; a dead peer raises RuntimeError."""
        try:
            dist.all_reduce(t, op=dist.ReduceOp.SUM if op is None else op)
        except (RuntimeError, ValueError) as exc:
            raise self._failed(what, exc) from exc
        return t

    def all_gather_object(self, obj: Any, *, what: str = "all-gather") -> list[Any]:
        """Every rank's ``obj``, in rank order."""
        out: list[Any] = [None] * self.world_size
        try:
            dist.all_gather_object(out, obj)
        except (RuntimeError, ValueError) as exc:
            raise self._failed(what, exc) from exc
        return out

    def _tensor(self, values: Any, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(values, dtype=dtype).to(self.device)

    def broadcast_seed(self, seed: int) -> int:
        """Rank 0's ``seed`` on every rank (so that ``random_state=None`` agrees)."""
        t = self._tensor([seed & ((1 << 63) - 1)], torch.int64)
        try:
            dist.broadcast(t, src=0)
        except (RuntimeError, ValueError) as exc:
            raise self._failed("broadcast of the seed", exc) from exc
        return int(t.item())

    def sum(self, values: Any) -> np.ndarray:
        """Elementwise float64 sum over the ranks of a 1-D sequence of numbers."""
        t = self._tensor(np.asarray(values, dtype=np.float64).reshape(-1), torch.float64)
        return self.all_reduce(t).cpu().numpy()

    def sum_tensor(self, t: torch.Tensor) -> torch.Tensor:
        """Elementwise float64 sum over the ranks of a CPU tensor (a new CPU tensor)."""
        out = t.detach().to(self.device, torch.float64).clone()
        return self.all_reduce(out).cpu()

    def max(self, values: Any) -> np.ndarray:
        """Elementwise float64 maximum over the ranks of a 1-D sequence of numbers."""
        t = self._tensor(np.asarray(values, dtype=np.float64).reshape(-1), torch.float64)
        return self.all_reduce(t, dist.ReduceOp.MAX).cpu().numpy()

    # ------------------------------------------------------------------ start-up check
    def check_consistent(self, signature: Mapping[str, Any]) -> None:
        """Gather every rank's :func:`data_signature` and compare it with rank 0's.

        Raises the same :class:`~tabloader.errors.SchemaError` on every rank when a rank
        differs, naming the first such rank and the difference; the ranks then stop
        together instead of hanging in the first all-reduce.
        """
        sigs = self.all_gather_object(dict(signature), what="the start-up consistency check")
        ref = sigs[0]
        for r, sig in enumerate(sigs[1:], start=1):
            for key in list(ref) + [k for k in sig if k not in ref]:
                a, b = ref.get(key), sig.get(key)
                if _differs(key, a, b):
                    raise SchemaError(
                        f"every rank should train on the same kind of data, but rank {r} has "
                        f"different {key}: {_difference(a, b)} (rank 0); each rank should "
                        "read the same table (make_loader shards it)"
                    )

    # ------------------------------------------------------------------ training
    def step_count(self, batches: Iterable, *, drop_last: bool = False) -> int | None:
        """Global steps of this epoch: the most batches of any rank (the fewest with
        ``drop_last``), or None when ``batches`` has no length (then the epoch ends when
        no rank has a batch left)."""
        try:
            n = len(batches)  # type: ignore[arg-type]
        except TypeError:
            n = -1
        lo_hi = self.max([-n, n])  # one all-reduce for both the minimum and the maximum
        lo, hi = int(-lo_hi[0]), int(lo_hi[1])
        if lo < 0:
            return None
        return lo if drop_last else hi

    def run_epoch(
        self,
        core: LinearCore,
        batches: Iterable,
        *,
        track_loss: bool = False,
        callback: Callable[[int], None] | None = None,
        drop_last: bool = False,
    ) -> int:
        """One data-parallel epoch: like :meth:`LinearCore.run_epoch`, with one
        all-reduce of the gradient per step.

        Every rank takes the same number of steps: a rank whose batches ran out
        contributes an empty batch (weight 0) to the remaining steps. With ``drop_last``
        the epoch has as many steps as the rank with the fewest batches.

        Parameters
        ----------
        core : LinearCore
            The model, identical on every rank.
        batches : iterable of tuple
            This rank's ``(X, y)`` or ``(X, y, w)`` batches.
        track_loss : bool, default=False
            Sum the (pre-update) batch losses over the ranks; ``core.running_loss()``
            then returns their global mean. It may differ between ranks (a progress bar
            on rank 0 only): the ranks run the same collectives either way.
        callback : callable, optional
            ``callback(i)`` after each step.
        drop_last : bool, default=False
            Stop after the fewest batches of any rank.

        Returns
        -------
        int
            Global steps taken (the same on every rank).
        """
        n_steps = self.step_count(batches, drop_last=drop_last)
        buf = core.flat_grad(extra=1)  # [gradient, row count]: one all-reduce per step
        grad, count = core.grad, buf[-1:]
        core.reset_running_loss()
        dev = core.device
        it = iter(batches)
        done = False
        steps = 0
        while n_steps is None or steps < n_steps:
            batch = None if done else next(it, None)
            if batch is None:
                done = True
                buf.zero_()
            else:
                X, y = batch[0], batch[1]
                w = batch[2] if len(batch) > 2 else None
                if X.device != dev:
                    X, y = X.to(dev), y.to(dev)
                    w = None if w is None else w.to(dev)
                B = X.shape[0]
                # the gradient (and the pre-update loss, from the same logits) of this batch
                core.compute_grad(X, y, w, track_loss=track_loss)
                grad.mul_(B)
                count.fill_(B)
            self.all_reduce(buf, what=f"the gradient all-reduce of step {steps + 1}")
            if n_steps is None and float(count) == 0:
                break
            grad.div_(count.clamp(min=1))
            core.apply_update()
            steps += 1
            if callback is not None:
                callback(steps)
        # always (whether or not this rank tracked): every rank runs the same collectives
        total = self.sum([float(core.loss_sum) if track_loss else 0.0, core.loss_rows])
        if track_loss:
            core.set_running_loss(total[0], int(total[1]))
        return steps

    # ------------------------------------------------------------------ evaluation
    def loss(
        self, core: LinearCore, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None
    ) -> float:
        """:meth:`LinearCore.loss` of the whole ``(X, y)`` held by every rank: each rank
        evaluates its share of the evaluation chunks, the statistics are summed."""
        return core.loss(X, y, w, part=self.rank, parts=self.world_size, reduce=self.sum_tensor)

    def partial_loss(self, loss_sum: float, rows: float, core: LinearCore) -> float:
        """Global mean loss (plus the penalty) from each rank's loss sum over its rows."""
        total = self.sum([loss_sum, rows])
        return float(total[0]) / float(total[1]) + core.penalty()

    def metric(
        self, core: LinearCore, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None
    ) -> float:
        """:meth:`LinearCore.metric` (accuracy or R^2) of the whole ``(X, y)``, over the ranks."""
        return core.metric(X, y, w, part=self.rank, parts=self.world_size, reduce=self.sum_tensor)
