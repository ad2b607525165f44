"""The one seed mixer: every seed tabloader derives comes from here.

Seeds are derived with SplitMix64 from ``(seed, *parts)``, so distinct inputs give
unrelated streams (unlike ``seed + epoch`` or ``seed + 1``, where neighbouring seeds
repeat each other). No function here reads or writes global RNG state.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["generator", "mix_seed", "numpy_generator", "splitmix64"]

_MASK64 = (1 << 64) - 1
_MASK63 = (1 << 63) - 1


def splitmix64(z: int) -> int:
    """One step of SplitMix64: a well-mixed 64-bit integer from any 64-bit integer."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def mix_seed(*parts: int) -> int:
    """A 63-bit seed that depends only on ``parts`` (distinct inputs, unrelated seeds).

    Parameters
    ----------
    *parts : int
        The base seed first, then what separates its uses (epoch, rank, a purpose tag).

    Returns
    -------
    int
        A non-negative integer below ``2**63``, valid for ``torch.Generator.manual_seed``
        and ``numpy.random.PCG64``.
    """
    z = 0x5EED
    for p in parts:
        z = splitmix64(z ^ (int(p) & _MASK64))
    return z & _MASK63


def generator(*parts: int, device: torch.device | str | None = None) -> torch.Generator:
    """A ``torch.Generator`` seeded from ``mix_seed(*parts)`` (never the global RNG)."""
    g = torch.Generator() if device is None else torch.Generator(device=device)
    g.manual_seed(mix_seed(*parts))
    return g


def numpy_generator(*parts: int) -> np.random.Generator:
    """A NumPy ``Generator`` (PCG64) seeded from ``mix_seed(*parts)``."""
    return np.random.Generator(np.random.PCG64(mix_seed(*parts)))
