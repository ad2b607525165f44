"""The trainers' validated parameters: one frozen dataclass built by one function.

Checks follow :mod:`tabloader._checks` (``TypeError`` for a wrong type, ``ValueError``
for a bad value, the house message shape); seeds derive from :mod:`tabloader._random`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tabloader._checks import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    type_error,
    value_error,
)
from tabloader._random import generator, numpy_generator

__all__ = [
    "AUTO_BATCH_LARGE_FROM",
    "AUTO_LBFGS_ROWS",
    "FitParams",
    "THREAD_GRAIN",
    "limit_threads",
    "resolve_batch_size",
    "resolve_threads",
    "resolve_device",
    "seed_from",
    "validate_params",
]

OPTIMIZERS = ("auto", "sgd", "adam", "lbfgs")
#: optimizer="auto": full-batch L-BFGS (whitened, float64) below this many training rows
#: of in-memory data, where a fit is milliseconds of solver and epochs are a step or
#: two; minibatch Adam from here on (one epoch already gets within ~0.1%)
AUTO_LBFGS_ROWS = 100_000
SCHEDULES = ("plateau", "constant")
INITS = ("zeros", "torch")
AUTO_BATCH_LARGE_FROM = 1 << 18
AUTO_BATCH_MIN_STEPS = 200
AUTO_BATCH_MAX = 4096
# purpose tags of the seeds derived from random_state: generator(seed, tag) seeds from
# mix_seed(seed, tag) (make_loader derives the epochs' orders from the seed itself)
#: the thread rule: one intra-op thread per this many elements of the largest product
#: a step computes (rows x features x outputs), never more than torch's own setting.
#: 2**22 (~1 ms of work a kernel): at 2**19 a 10-class softmax step on 4096 rows x 32
#: features ran on 2 threads and its fit at 1,000,000 rows took 14-21 s instead of
#: 2.1-2.5 s on 2 cores shared with other processes
THREAD_GRAIN = 1 << 22
_VALIDATION_TAG = 0x56414C  # "VAL"
_INIT_TAG = 0x494E4954  # "INIT"
_MONITOR_TAG = 0x4D4F4E  # "MON"


@dataclass(frozen=True)
class FitParams:
    """The estimator's parameters after validation (see the estimators' docstrings).

    ``device`` is resolved (``"auto"`` -> CUDA or CPU) and ``seed`` is a 63-bit integer
    drawn from ``random_state`` (rank 0's on every rank when training distributed).
    """

    lr: float
    max_epochs: int
    batch_size: int | str | None
    optimizer: str
    momentum: float
    alpha: float
    fit_intercept: bool
    init: str
    lr_schedule: str
    standardize: bool
    shuffle: bool
    drop_last: bool
    tol: float | None
    n_iter_no_change: int
    validation_fraction: float | None
    verbose: bool
    warm_start: bool
    distributed: bool | str
    average: bool
    device: torch.device
    seed: int

    @property
    def step_optimizer(self) -> str:
        """The minibatch update rule (L-BFGS starts from an Adam-configured core)."""
        return "adam" if self.optimizer in ("lbfgs", "auto") else self.optimizer

    def resolve_optimizer(self, n_rows: int | None, distributed: bool) -> FitParams:
        """``optimizer="auto"`` made concrete for ``n_rows`` in-memory rows (None: a
        loader or stream) -- ``"lbfgs"`` below :data:`AUTO_LBFGS_ROWS`, else ``"adam"``."""
        if self.optimizer != "auto":
            return self
        small = n_rows is not None and n_rows < AUTO_LBFGS_ROWS and not distributed
        return dataclasses.replace(self, optimizer="lbfgs" if small else "adam")

    def with_seed(self, seed: int) -> FitParams:
        """A copy with another ``seed``."""
        return dataclasses.replace(self, seed=int(seed))

    def validation_generator(self) -> torch.Generator:
        """The generator of the validation split (its own stream, not ``seed + 1``)."""
        return generator(self.seed, _VALIDATION_TAG)

    def sample_rng(self) -> np.random.Generator:
        """The generator of the seeded row sample of bigger tables (the preconditioner's
        statistics and the estimate of the training objective)."""
        return numpy_generator(self.seed, _MONITOR_TAG)

    def init_generator(self) -> torch.Generator:
        """The generator of ``init="torch"``."""
        return generator(self.seed, _INIT_TAG)


def resolve_batch_size(batch_size: int | str | None, n_rows: int) -> int:
    """The rows per step that ``batch_size`` means for ``n_rows`` training rows.

    ``None`` is the full batch; ``"auto"`` is 256, or from :data:`AUTO_BATCH_LARGE_FROM`
    (262,144) rows on the largest power of two that still gives an epoch
    :data:`AUTO_BATCH_MIN_STEPS` steps, between 1024 and :data:`AUTO_BATCH_MAX` (1024
    at 262,144 rows, 2048 from 409,600, 4096 from 819,200): on big tables a step's fixed
    cost dominates smaller batches, and the averaged iterates of one epoch of such
    steps are as close to the optimum.
    """
    if batch_size is None:
        return max(n_rows, 1)
    if batch_size == "auto":
        batch_size = 256
        if n_rows >= AUTO_BATCH_LARGE_FROM:
            fits = 1 << max(0, (n_rows // AUTO_BATCH_MIN_STEPS).bit_length() - 1)
            batch_size = min(AUTO_BATCH_MAX, max(1024, fits))
    return max(1, min(int(batch_size), n_rows))


def resolve_threads(rows: int, n_features: int, available: int | None = None) -> int:
    """The intra-op threads a step over ``rows x n_features`` can use (the thread rule).

    ``rows * n_features // THREAD_GRAIN``, at least 1 and at most ``available``
    (``torch.get_num_threads()``). Small kernels on several threads pay an OpenMP
    barrier each; with other processes on the cores every barrier waits for a time
    slice, and a fit of a 500-row table becomes 30-100x slower. The grain keeps every
    kernel of a multi-threaded step at about a millisecond or more.
    """
    top = torch.get_num_threads() if available is None else available
    return max(1, min(top, (max(rows, 1) * max(n_features, 1)) // THREAD_GRAIN))


_BLAS: list[Any] = []  # the threadpoolctl controller of the BLAS libraries, made once


def _blas_limit(n: int) -> Any:
    """threadpoolctl's limit of the BLAS libraries (NumPy's, SciPy's) to ``n`` threads.

    SciPy's L-BFGS-B and NumPy's products call OpenBLAS, whose threads stall on
    barriers the same way when other processes hold the cores.
    """
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append(ThreadpoolController().select(user_api="blas"))
    return _BLAS[0].limit(limits=n)


@contextlib.contextmanager
def limit_threads(rows: int, n_features: int, device: torch.device) -> Iterator[int]:
    """Run the block on :func:`resolve_threads` intra-op threads (CPU): torch's and the
    BLAS libraries' (threadpoolctl); both restored on exit."""
    before = torch.get_num_threads()
    n = resolve_threads(rows, n_features, before) if device.type == "cpu" else before
    if n != before:
        torch.set_num_threads(n)
    try:
        with _blas_limit(n):
            yield n
    finally:
        if n != before:
            torch.set_num_threads(before)


def resolve_device(device: Any) -> torch.device:
    """``"auto"`` (CUDA when available, else the CPU) or a torch device."""
    expected = "'auto' or a torch device such as 'cpu' or 'cuda'"
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise type_error("device", expected, device)
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise value_error("device", expected, device) from exc


def seed_from(random_state: Any) -> int:
    """A 63-bit seed from ``random_state`` without touching any global RNG."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(2, np.uint32).view(np.uint64)[0] >> 1)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    raise type_error("random_state", "None, an int, or a numpy RandomState/Generator", random_state)


def _batch_size(value: Any) -> int | str | None:
    expected = "a positive integer, 'auto' or None"
    if isinstance(value, str):
        if value != "auto":
            raise value_error("batch_size", expected, value)
        return value
    return check_int("batch_size", value, low=1, none_ok=True, expected=expected)


def _verbose(value: Any) -> bool:
    expected = "a bool or a non-negative integer"
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return bool(check_int("verbose", value, low=0, expected=expected))


def _distributed(value: Any) -> bool | str:
    expected = "'auto', True or False"
    if isinstance(value, str):
        if value != "auto":
            raise value_error("distributed", expected, value)
        return value
    if not isinstance(value, (bool, np.bool_)):
        raise type_error("distributed", expected, value)
    return bool(value)


def validate_params(est: Any) -> FitParams:
    """Check an estimator's constructor arguments; the validated :class:`FitParams`."""
    return FitParams(
        lr=check_real("lr", est.lr, low=0.0, low_open=True),
        max_epochs=check_int("max_epochs", est.max_epochs, low=1),
        batch_size=_batch_size(est.batch_size),
        optimizer=check_choice("optimizer", est.optimizer, OPTIMIZERS),
        momentum=check_real("momentum", est.momentum, low=0.0, high=1.0),
        alpha=check_real("alpha", est.alpha, low=0.0),
        fit_intercept=check_bool("fit_intercept", est.fit_intercept),
        init=check_choice("init", est.init, INITS),
        lr_schedule=check_choice("lr_schedule", est.lr_schedule, SCHEDULES),
        standardize=check_bool("standardize", est.standardize),
        shuffle=check_bool("shuffle", est.shuffle),
        drop_last=check_bool("drop_last", est.drop_last),
        tol=check_real("tol", est.tol, low=0.0, none_ok=True),
        n_iter_no_change=check_int("n_iter_no_change", est.n_iter_no_change, low=1),
        validation_fraction=check_real(
            "validation_fraction",
            est.validation_fraction,
            low=0.0,
            high=1.0,
            low_open=True,
            high_open=True,
            none_ok=True,
        ),
        verbose=_verbose(est.verbose),
        warm_start=check_bool("warm_start", est.warm_start),
        distributed=_distributed(est.distributed),
        average=check_bool("average", est.average),
        device=resolve_device(est.device),
        seed=seed_from(est.random_state),
    )
