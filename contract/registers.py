"""Pure arithmetic of cumulative registers: the energy (or volume, mass) between two readings.

A meter's register only grows, except when

* it **rolls over**: a register with a fixed number of digits passes its capacity (a power of ten,
  e.g. 999 999 kWh -> 000 012 kWh); the interval is ``capacity - previous + new``;
* it is **reset** (meter exchanged, cleared after repair): it starts again from 0, so the new
  value is all that was counted since the previous reading.

A drop is called a rollover when the previous value was within ``near_fraction`` of the
smallest power of ten above it and the new value is below ``(1 - near_fraction)`` of it,
in the unit the meter displays (a Wh register rolls over at a power of ten of Wh).
Anything else that drops is a reset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

#: How close to the capacity the previous reading must be to call a drop a rollover. [1]
ROLLOVER_NEAR_FRACTION = 0.9


class Step(StrEnum):
    normal = "normal"
    rollover = "rollover"
    reset = "reset"


@dataclass(frozen=True, slots=True)
class Interval:
    """The quantity counted between two register readings and how it was found."""

    delta: float
    interval_s: float
    step: Step


def capacity_above(value: float) -> float:
    """The smallest power of ten strictly above ``value`` (``value`` > 0).

    >>> capacity_above(999_950.0)
    1000000.0
    """
    if value <= 0:
        return 1.0
    cap = 10.0 ** math.floor(math.log10(value))
    while cap <= value:  # guards log10 rounding at exact powers of ten
        cap *= 10.0
    return cap


def register_delta(previous: float, new: float, display_factor: float = 1.0,
                   near_fraction: float = ROLLOVER_NEAR_FRACTION) -> tuple[float, Step]:
    """Quantity counted between two readings of one cumulative register.

    Parameters
    ----------
    previous, new : float
        Register readings in the stored base unit (kWh, m3, kg), in time order. [base unit]
    display_factor : float
        Base units per displayed unit (0.001 for a Wh register stored as kWh), so the capacity is a
        power of ten of what the meter shows. [base unit / displayed unit]
    near_fraction : float
        See :data:`ROLLOVER_NEAR_FRACTION`. [1]

    Returns
    -------
    delta : float
        The counted quantity. [base unit]
    step : Step
        ``normal``, ``rollover`` or ``reset``.
    """
    if new >= previous:
        return new - previous, Step.normal
    prev_shown = previous / display_factor
    new_shown = new / display_factor
    cap = capacity_above(prev_shown)
    if prev_shown >= near_fraction * cap and new_shown < (1 - near_fraction) * cap:
        return (cap - prev_shown + new_shown) * display_factor, Step.rollover
    return new, Step.reset


def interval_between(prev_ts_ms: int, prev_value: float, ts_ms: int, value: float,
                     display_factor: float = 1.0) -> Interval:
    """The interval quantity of the reading at ``ts_ms`` given the reading before it.

    Parameters
    ----------
    prev_ts_ms, ts_ms : int
        Times of the previous and this reading, ``prev_ts_ms < ts_ms``. [ms]
    prev_value, value : float
        Register readings. [base unit]
    display_factor : float
        As in :func:`register_delta`. [base unit / displayed unit]
    """
    if prev_ts_ms >= ts_ms:
        raise ValueError(f"previous reading at {prev_ts_ms} ms is not before {ts_ms} ms")
    delta, step = register_delta(prev_value, value, display_factor)
    return Interval(delta, (ts_ms - prev_ts_ms) / 1000.0, step)
