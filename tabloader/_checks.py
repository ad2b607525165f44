"""Every argument check, with one policy.

* a value of the wrong **type** raises :class:`TypeError`;
* a value of the right type but outside what is allowed raises :class:`ValueError`;
* every message has the house shape: ``"{name} should be {expected}, but got {name}={value!r}"``.

``bool`` is never accepted where a number is expected (``True`` is an ``int`` to Python,
never a batch size to a user); NumPy scalars are accepted wherever Python ones are.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_real",
    "check_seed",
    "message",
    "type_error",
    "value_error",
]

T = TypeVar("T")


def message(name: str, expected: str, value: Any) -> str:
    """``"{name} should be {expected}, but got {name}={value!r}"``."""
    return f"{name} should be {expected}, but got {name}={value!r}"


def type_error(name: str, expected: str, value: Any) -> TypeError:
    """A :class:`TypeError` with the house message (for a value of the wrong type)."""
    return TypeError(message(name, expected, value))


def value_error(name: str, expected: str, value: Any) -> ValueError:
    """A :class:`ValueError` with the house message (for a value out of range)."""
    return ValueError(message(name, expected, value))


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a ``bool``; ``TypeError`` unless it is ``True``/``False`` (NumPy too)."""
    if not _is_bool(value):
        raise type_error(name, "a bool (True or False)", value)
    return bool(value)


def _int_expected(low: int | None, high: int | None, none_ok: bool) -> str:
    if low == 1 and high is None:
        what = "a positive integer"
    elif low == 0 and high is None:
        what = "a non-negative integer"
    elif low is not None and high is not None:
        what = f"an integer in [{low}, {high}]"
    elif low is not None:
        what = f"an integer >= {low}"
    elif high is not None:
        what = f"an integer <= {high}"
    else:
        what = "an integer"
    return what + (" or None" if none_ok else "")


def check_int(
    name: str,
    value: Any,
    *,
    low: int | None = None,
    high: int | None = None,
    none_ok: bool = False,
    expected: str | None = None,
) -> Any:
    """``value`` as an ``int`` in ``[low, high]`` (``None`` passes when ``none_ok``).

    ``expected`` replaces the generated description (for example when a string such as
    ``'auto'`` is also accepted by the caller).
    """
    if value is None and none_ok:
        return None
    what = expected or _int_expected(low, high, none_ok)
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise type_error(name, what, value)
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise value_error(name, what, value)
    return v


def check_real(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    none_ok: bool = False,
) -> Any:
    """``value`` as a finite-or-bounded ``float`` in the given interval.

    NaN is always refused (``ValueError``); infinities only pass where the interval
    reaches them.
    """
    if value is None and none_ok:
        return None
    lo = "(" if low_open or low == -math.inf else "["
    hi = ")" if high_open or high == math.inf else "]"
    what = f"a real number in {lo}{low}, {high}{hi}"
    if low == -math.inf and high == math.inf:
        what = "a real number"
    if none_ok:
        what += " or None"
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise type_error(name, what, value)
    v = float(value)
    if math.isnan(v) or v < low or v > high or (low_open and v == low) or (high_open and v == high):
        raise value_error(name, what, value)
    return v


def check_choice(name: str, value: Any, choices: Iterable[T]) -> T:
    """``value`` if it is one of ``choices`` (``TypeError`` if not even of their type)."""
    options = list(choices)
    what = f"one of {options}"
    if options and not any(isinstance(value, type(c)) for c in options):
        raise type_error(name, what, value)
    if value not in options:
        raise value_error(name, what, value)
    return value


def check_seed(name: str, value: Any, *, none_ok: bool = True) -> int | None:
    """A seed: a non-negative integer (or ``None`` when ``none_ok``)."""
    return check_int(name, value, low=0, none_ok=none_ok)
