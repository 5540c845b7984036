"""Constructor argument checks shared by the detectors.

Each check raises ``ValueError("<name>=<value!r> must be ...")``, naming the parameter, the
value and what is allowed. The type tests differ on purpose and are kept as the detectors had
them: ``check_range`` only compares (as River's detectors do, so anything ordered passes),
``check_number`` first requires a real number, ``check_int`` an integer (bools included unless
``allow_bool=False``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_NUMBER = (int, float, np.number)
_INTEGER = (int, np.integer)
INT32_MAX = 2**31 - 1


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def _within(value: Any, low: float | None, high: float | None, low_open: bool,
            high_open: bool) -> bool:
    # the operands in the order the detectors always wrote them: ``x > 0``, ``0 < x <= 1``
    if high is None:
        return bool(value > low if low_open else value >= low)
    above = low < value if low_open else low <= value
    return bool(above and (value < high if high_open else value <= high))


def check_range(name: str, value: Any, low: float, high: float | None = None, *,
                low_open: bool = True, high_open: bool = False) -> None:
    """``low < value <= high`` (bounds as given by the flags; ``high=None``: no upper bound)."""
    if not _within(value, low, high, low_open, high_open):
        raise ValueError(f"{name}={value!r} must be {_interval(low, high, low_open, high_open)}")


def _is_number(value: Any, allow_bool: bool) -> bool:
    return isinstance(value, _NUMBER) and (allow_bool or not isinstance(value, bool))


def check_number(name: str, value: Any, low: float, high: float | None = None, *,
                 low_open: bool = True, high_open: bool = False, finite: bool = False,
                 allow_bool: bool = True) -> None:
    """A real number (``np.number`` included) within the bounds, and finite if asked."""
    if not (_is_number(value, allow_bool) and _within(value, low, high, low_open, high_open)
            and (not finite or math.isfinite(value))):
        what = "a finite number" if finite else "a number"
        raise ValueError(
            f"{name}={value!r} must be {what} {_interval(low, high, low_open, high_open)}"
        )


def check_optional_number(name: str, value: Any, low: float | None = None) -> None:
    """None, or a finite real number (``> low`` when low is given)."""
    if value is None:
        return
    if not (isinstance(value, _NUMBER) and math.isfinite(value)
            and (low is None or value > low)):
        bound = "" if low is None else f" > {low}"
        raise ValueError(f"{name}={value!r} must be None or a finite number{bound}")


def check_int(name: str, value: Any, low: int, high: int | None = None, *,
              allow_bool: bool = True) -> None:
    """An integer (``np.integer`` included) ``>= low``, and ``<= high`` when given."""
    if not (isinstance(value, _INTEGER) and (allow_bool or not isinstance(value, bool))
            and value >= low and (high is None or value <= high)):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}={value!r} must be an integer {bound}")


def check_bool(name: str, value: Any) -> None:
    """A Python or NumPy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} must be a bool")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """One of the given options."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} must be one of {choices}")
