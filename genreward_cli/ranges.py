"""Range checks of numeric options, shared by the click types (``options.FiniteFloat``) and
the config machinery (``config.build``), without click."""

from __future__ import annotations

import math


def range_problem(value: float, min=None, max=None, min_open: bool = False,
                  max_open: bool = False) -> str | None:
    """What is wrong with ``value`` for a float option (``"must be a finite number"``, ``"must be
    greater than 0"``...), or None when it is a finite number in range. ``min``/``max`` are
    inclusive bounds unless ``min_open``/``max_open``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if min is not None and (value <= min if min_open else value < min):
        return f"must be {'greater than' if min_open else 'at least'} {min}"
    if max is not None and (value >= max if max_open else value > max):
        return f"must be {'less than' if max_open else 'at most'} {max}"
    return None
