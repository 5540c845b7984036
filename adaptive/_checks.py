"""Argument checks of the ``adaptive`` package: one function per kind, one signature.

Every check is ``check_<kind>(name, value, ...)`` and raises ``ValueError("<name>=<value!r>
must be ...")``, naming the parameter, the value and what is allowed. Numbers are real numbers
(``int``, ``float`` or a NumPy number); bools and strings are refused as numbers, so that
``threshold="5"`` or ``threshold=True`` fail with a message instead of a ``TypeError`` from a
comparison deep inside (or, worse, being accepted).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

INT32_MAX = 2**31 - 1
_NUMBER = (int, float, np.integer, np.floating)
_INTEGER = (int, np.integer)


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    if low is None:
        return f" {'<' if high_open else '<='} {high}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def _within(value: Any, low: float | None, high: float | None, low_open: bool,
            high_open: bool) -> bool:
    if low is not None and not (value > low if low_open else value >= low):
        return False
    return high is None or bool(value < high if high_open else value <= high)


def is_number(value: Any) -> bool:
    """A real number: int, float or NumPy number, not a bool."""
    return isinstance(value, _NUMBER) and not isinstance(value, (bool, np.bool_))


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None,
                 *, low_open: bool = True, high_open: bool = False, finite: bool = True,
                 optional: bool = False) -> None:
    """A real number within the bounds (finite unless ``finite=False``; None if optional).

    Examples
    --------
    >>> check_number("delta", 0.5, 0, 1)
    >>> check_number("delta", "0.5", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: delta='0.5' must be a finite number in (0, 1]
    """
    if optional and value is None:
        return
    ok = is_number(value) and not (value != value) and (not finite or math.isfinite(value))
    if not (ok and _within(value, low, high, low_open, high_open)):
        what = "a finite number" if finite else "a number"
        opt = "None or " if optional else ""
        raise ValueError(
            f"{name}={value!r} must be {opt}{what}{_interval(low, high, low_open, high_open)}"
        )


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, *,
              optional: bool = False) -> None:
    """An integer (Python or NumPy, not a bool) in ``[low, high]`` (None if optional).

    Examples
    --------
    >>> check_int("window_size", "5", 2)
    Traceback (most recent call last):
    ...
    ValueError: window_size='5' must be an integer >= 2
    """
    if optional and value is None:
        return
    if not (isinstance(value, _INTEGER) and not isinstance(value, (bool, np.bool_))
            and _within(value, low, high, False, False)):
        opt = "None or " if optional else ""
        raise ValueError(f"{name}={value!r} must be {opt}an integer"
                         f"{_interval(low, high, False, False)}")


def check_bool(name: str, value: Any) -> None:
    """A Python or NumPy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} must be a bool")


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """One of the given options."""
    if not isinstance(value, (str, int, float, type(None))) or value not in choices:
        raise ValueError(f"{name}={value!r} must be one of {choices}")
