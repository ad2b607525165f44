"""Seed mixing shared by the loaders and the streams (no global RNG state involved)."""

from __future__ import annotations

__all__ = ["splitmix64"]

_MASK64 = (1 << 64) - 1


def splitmix64(z: int) -> int:
    """One step of SplitMix64: a well-mixed 64-bit integer from any 64-bit integer."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)
