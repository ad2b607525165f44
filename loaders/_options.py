"""The checked arguments of :func:`make_loader`, through :mod:`tabloader._checks`.

One policy: a value of the wrong type raises ``TypeError``, a value out of range or a
combination that cannot work raises ``ValueError``, every message in the house shape
``"{name} should be {expected}, but got {name}={value!r}"``.
"""

from __future__ import annotations

import math
import multiprocessing
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from tabloader._checks import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    message,
    type_error,
    value_error,
)
from tabloader._plan import REMAINDERS

__all__ = [
    "DEFAULT_START_METHOD",
    "PRELOAD",
    "LoaderOptions",
    "check_options",
    "resolve_distributed",
]

#: How worker processes start when ``multiprocessing_context`` is not given. Never
#: ``"fork"``: forking a process that runs threads (torch's, pyarrow's, the user's) can
#: deadlock inside ``fork()`` (CPython gh-112275, fixed only in later 3.11/3.12 patch
#: releases). The fork server is a fresh single-threaded process that forks the workers.
DEFAULT_START_METHOD = (
    "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
)
#: What the fork server imports once, before it forks any worker (it never runs them:
#: no thread is started, so its forks stay safe).
PRELOAD = ("torch", "tabloader.datasets", "tabloader.loaders")


@dataclass(frozen=True)
class LoaderOptions:
    """Every argument of :func:`make_loader` after checking (``pin`` resolved)."""

    batch_size: int
    shuffle: bool
    drop_last: bool
    pin: bool
    num_workers: int
    seed: int | None
    base_seed: int
    device: torch.device | None
    rank: int | None
    world_size: int | None
    remainder: str
    persistent_workers: bool
    prefetch_factor: int | None
    collate_fn: Callable[[Any], Any] | None
    worker_init_fn: Callable[[int], None] | None
    timeout: float = 0.0
    multiprocessing_context: Any = None

    def dataloader_kwargs(self) -> dict[str, Any]:
        """The keyword arguments handed to :class:`torch.utils.data.DataLoader` as they are."""
        return {
            "num_workers": self.num_workers,
            "pin_memory": self.pin,
            "persistent_workers": self.persistent_workers,
            "prefetch_factor": self.prefetch_factor,
            "worker_init_fn": self.worker_init_fn,
            "timeout": self.timeout,
            "multiprocessing_context": self.multiprocessing_context,
        }


def _check_pin_memory(value: Any) -> bool | str:
    expected = "'auto', True or False"
    if isinstance(value, str):
        if value != "auto":
            raise value_error("pin_memory", expected, value)
        return value
    try:
        return check_bool("pin_memory", value)
    except TypeError:
        raise type_error("pin_memory", expected, value) from None


def _check_device(device: Any, num_workers: int, pin_memory: bool | str) -> torch.device | None:
    if device is None:
        return None
    if not isinstance(device, (str, torch.device)):
        raise type_error("device", "a torch device, a string or None", device)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise value_error("device", "a torch device", device) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(dev)!r} needs CUDA, but CUDA is not available")
    if num_workers != 0:
        raise ValueError(message("num_workers", "0 when device is set", num_workers))
    if pin_memory is True:
        raise ValueError(
            message(
                "pin_memory",
                "False or 'auto' when device is set (batches are gathered on the device)",
                pin_memory,
            )
        )
    return dev


def _resolve_pin(pin_memory: bool | str, device: torch.device | None) -> bool:
    """Whether batches are pinned: ``"auto"`` pins when CUDA is there and no device is set."""
    if device is not None:
        return False
    if pin_memory == "auto":
        return torch.cuda.is_available()
    if pin_memory and not torch.cuda.is_available():
        warnings.warn(
            "pin_memory=True but CUDA is not available; batches will not be pinned",
            UserWarning,
            stacklevel=4,
        )
        return False
    return bool(pin_memory)


def _check_workers(
    num_workers: Any, persistent: Any, prefetch: Any
) -> tuple[int, bool, int | None]:
    num_workers = check_int("num_workers", num_workers, low=0)
    persistent = check_bool("persistent_workers", persistent)
    prefetch = check_int("prefetch_factor", prefetch, low=1, none_ok=True)
    if prefetch is not None and num_workers == 0:
        raise ValueError(message("prefetch_factor", "None when num_workers=0", prefetch))
    if persistent and num_workers == 0:
        raise ValueError(message("persistent_workers", "False when num_workers=0", persistent))
    return num_workers, persistent, prefetch


def _check_timeout(timeout: Any, num_workers: int) -> float:
    expected = "a finite non-negative number of seconds (0: wait forever)"
    try:
        value = check_real("timeout", timeout, low=0)
    except TypeError:
        raise type_error("timeout", expected, timeout) from None
    except ValueError:
        raise value_error("timeout", expected, timeout) from None
    if math.isinf(value):
        raise value_error("timeout", expected, timeout)
    if value > 0 and num_workers == 0:
        raise ValueError(message("timeout", "0 when num_workers=0", timeout))
    return value


def _preload(context: Any) -> Any:
    """``context``; a fork server is told to import :data:`PRELOAD` once when it starts
    (added to the modules it preloads; nothing changes once it runs), so that a worker
    forked from it need not import torch again: without that, every epoch's workers took
    about 2.5 s to start, with it 0.03 s after the first epoch."""
    method = context if isinstance(context, str) else context.get_start_method()
    if method == "forkserver":
        from multiprocessing import forkserver

        preload = getattr(getattr(forkserver, "_forkserver", None), "_preload_modules", None)
        if isinstance(preload, list) and not set(PRELOAD) <= set(preload):
            forkserver.set_forkserver_preload([*preload, *(m for m in PRELOAD if m not in preload)])
    return context


def _check_context(context: Any, num_workers: int) -> Any:
    """The start method of the workers: the user's, else :data:`DEFAULT_START_METHOD`."""
    methods = multiprocessing.get_all_start_methods()
    if context is None:
        return _preload(DEFAULT_START_METHOD) if num_workers > 0 else None
    if isinstance(context, str):
        if context not in methods:
            raise value_error("multiprocessing_context", f"one of {methods} or None", context)
    elif not isinstance(context, multiprocessing.context.BaseContext):
        raise type_error(
            "multiprocessing_context",
            f"one of {methods}, a multiprocessing context or None",
            context,
        )
    if num_workers == 0:
        raise ValueError(message("multiprocessing_context", "None when num_workers=0", context))
    return _preload(context)


def _check_callable(name: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise type_error(name, "callable or None", value)
    return value


def check_options(
    *,
    batch_size: Any,
    shuffle: Any,
    drop_last: Any,
    pin_memory: Any,
    num_workers: Any,
    seed: Any,
    device: Any,
    rank: Any,
    world_size: Any,
    remainder: Any,
    persistent_workers: Any,
    prefetch_factor: Any,
    collate_fn: Any,
    worker_init_fn: Any,
    timeout: Any = 0,
    multiprocessing_context: Any = None,
) -> LoaderOptions:
    """Check every argument of :func:`make_loader`; draw the base seed when ``seed=None``.

    That draw, one from torch's default generator after every check has passed, is the
    loaders' only use of global RNG state.
    """
    num_workers, persistent_workers, prefetch_factor = _check_workers(
        num_workers, persistent_workers, prefetch_factor
    )
    pin_memory = _check_pin_memory(pin_memory)
    dev = _check_device(device, num_workers, pin_memory)
    if rank is not None or world_size is not None:
        rank, world_size = resolve_distributed(rank, world_size)
    checked = {
        "batch_size": check_int("batch_size", batch_size, low=1),
        "shuffle": check_bool("shuffle", shuffle),
        "drop_last": check_bool("drop_last", drop_last),
        "seed": check_int("seed", seed, none_ok=True),
        "remainder": check_choice("remainder", remainder, REMAINDERS),
        "collate_fn": _check_callable("collate_fn", collate_fn),
        "worker_init_fn": _check_callable("worker_init_fn", worker_init_fn),
        "timeout": _check_timeout(timeout, num_workers),
        "multiprocessing_context": _check_context(multiprocessing_context, num_workers),
    }
    pin = _resolve_pin(pin_memory, dev)
    base_seed = checked["seed"]
    if base_seed is None:
        base_seed = int(torch.empty((), dtype=torch.int64).random_().item())
    return LoaderOptions(
        **checked,
        pin=pin,
        num_workers=num_workers,
        base_seed=base_seed,
        device=dev,
        rank=rank,
        world_size=world_size,
        persistent_workers=persistent_workers,
        prefetch_factor=prefetch_factor,
    )


def resolve_distributed(rank: Any, world_size: Any) -> tuple[int, int]:
    """``(rank, world_size)`` as given (checked), else from ``torch.distributed``, else ``(0, 1)``."""
    if rank is None and world_size is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1
    if rank is None or world_size is None:
        raise ValueError(
            f"rank and world_size should be given together, but got rank={rank!r} and "
            f"world_size={world_size!r}"
        )
    world_size = check_int("world_size", world_size, low=1)
    rank = check_int("rank", rank, low=0, high=world_size - 1)
    return rank, world_size
