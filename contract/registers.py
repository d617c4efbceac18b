"""Pure arithmetic of cumulative registers: the energy (or volume, mass) between two readings.

One function decides for ingest (ingest/intervals.py) and for the rollup's re-derivation
(analytics/rederive.py), so both always agree. A register only grows, except:

* **jitter**: a step back by at most ``jitter_shown`` displayed units (default one, the least
  significant digit: 1 Wh on a Wh register, 0.001 kWh moves are far inside it). Meters and
  collectors do this when a reading is rounded or re-read. Counted as **zero** and reported
  (``Step.jitter``), never as a reset: counting the whole register as one interval's consumption
  would put a small office over the audit threshold;
* **rollover**: a register with a fixed number of digits passes its capacity (a power of ten of
  the displayed unit, 999 999 kWh -> 000 012 kWh): ``capacity - previous + new``. Recognized when
  the previous value was within ``near_fraction`` of the smallest power of ten above it and the new
  value is below ``(1 - near_fraction)`` of it;
* **reset**: a new or cleared meter counts from 0, so the new value is what it counted. Only with
  evidence: the new value is close to zero (below ``reset_fraction`` of the previous one);
* **replacement** (``replaced=True``: the registry records a meter replacement, ``replaced_on``,
  between the two readings): the step crosses two devices, so it counts **zero** (``Step.reset``),
  whichever way the register moved. The new register starts at its factory or previous-site
  reading (37 kWh, say), not at 0: counting its first value would book energy this building never
  used, while counting nothing loses only what flowed between the old meter's last reading and the
  new one's first (one reporting interval at most). The new register's next step counts as usual;
* **backward**: any other drop. Without evidence it is neither consumption nor a reset: the
  interval value is **held out** (None) and reported.

A step that implies a rate above ``max_rate_per_h`` (contract/plausibility.py) is a **spike**:
held out too (a corrupt reading, or a register set by hand), and reported.

Before any step is judged, each reading is judged against **both** its neighbours
(:func:`clean_value`): a single **misread** value (a collector read the wrong value once: 100 000,
*101 010*, 100 020 kWh; or 100 000, *95 000*, 100 010) lies outside ``[previous, next]`` while
``previous <= next``. Its value is taken as the nearer bound of that range, and the steps are
derived from these values, so the two intervals around it count ``next - previous`` between them
(20 and 10 kWh above), not the misread's excursion (1 010 and 5 010 kWh with steps judged in pairs).
A register that only grows is never touched; a reset, rollover or unrecorded swap has
``previous > next`` and is left to the rules above; an excursion within ``jitter_shown`` is jitter.
The ends of what is known are not judged (no neighbour on one side), so the newest reading's value
is provisional until the next one arrives.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import NamedTuple

#: How close to the capacity the previous reading must be to call a drop a rollover. [1]
ROLLOVER_NEAR_FRACTION = 0.9
#: A drop of at most this many displayed units is jitter (one least-significant digit). [displayed unit]
JITTER_SHOWN = 1.0
#: A drop to below this fraction of the previous value is a reset (a new meter counting from 0). [1]
RESET_FRACTION = 0.1


class Step(StrEnum):
    normal = "normal"
    rollover = "rollover"
    reset = "reset"
    jitter = "jitter"
    backward = "backward"
    spike = "spike"


#: Steps whose interval value is held out (None): not consumption, not summed.
HELD_OUT = frozenset({Step.backward, Step.spike})

#: The sign of a device's own power reading that says energy flows through one of its registers,
#: by (device kind, register quantity). A register that stays still is a fault only while its
#: device says energy flows through it: PV at night, an idle charging pile or a circuit switched
#: off leave a register still for hours, and are not stuck. A pv_meter's power is the grid exchange
#: (positive = import), so it speaks for its grid registers, not its generation register; registers
#: not listed here, and devices that send no power, are not judged.
FLOW_SIGN: dict[tuple[str, str], int] = {
    ("meter", "register"): 1,
    ("ev_pile", "register"): 1,
    ("pv_inverter", "generation_register"): 1,  # an inverter's power is what it generates
    ("pv_meter", "from_grid_register"): 1,
    ("pv_meter", "to_grid_register"): -1,
}


class Interval(NamedTuple):
    """The quantity counted between two register readings and how it was found.

    ``delta`` is None when the step is held out (:data:`HELD_OUT`); ``apparent`` is what the
    register arithmetic gave before that decision (for the data-quality finding). A NamedTuple:
    one is built per register reading on ingest's hot path, a frozen dataclass costs 3x more."""

    delta: float | None
    interval_s: float
    step: Step
    apparent: float


def capacity_above(value: float) -> float:
    """The smallest power of ten strictly above ``value`` (``value`` > 0, finite).

    >>> capacity_above(999_950.0)
    1000000.0
    """
    if not math.isfinite(value):
        raise ValueError(f"register value {value} is not finite")
    if value <= 0:
        return 1.0
    cap = 10.0 ** math.floor(math.log10(value))
    while cap <= value:  # guards log10 rounding at exact powers of ten
        cap *= 10.0
    return cap


def register_delta(previous: float, new: float, display_factor: float = 1.0,
                   near_fraction: float = ROLLOVER_NEAR_FRACTION, *, jitter_shown: float = JITTER_SHOWN,
                   reset_fraction: float = RESET_FRACTION, replaced: bool = False) -> tuple[float, Step]:
    """Quantity counted between two readings of one cumulative register (no rate check).

    Parameters
    ----------
    previous, new : float
        Register readings in the stored base unit (kWh, m3, kg), in time order. [base unit]
    display_factor : float
        Base units per displayed unit (0.001 for a Wh register stored as kWh), so the capacity and
        the jitter tolerance are in what the meter shows. [base unit / displayed unit]
    near_fraction, jitter_shown, reset_fraction : float
        See the module docstring. [1], [displayed unit], [1]
    replaced : bool
        A meter replacement between the two readings is recorded: the step counts zero (a reset),
        see the module docstring.

    Returns
    -------
    delta : float
        The counted quantity; for ``backward`` the (negative) difference, to report. [base unit]
    step : Step
        ``normal``, ``jitter``, ``rollover``, ``reset`` or ``backward``.
    """
    if replaced:
        return 0.0, Step.reset
    if new >= previous:
        return new - previous, Step.normal
    prev_shown = previous / display_factor
    new_shown = new / display_factor
    if prev_shown - new_shown <= jitter_shown:
        return 0.0, Step.jitter
    cap = capacity_above(prev_shown)
    if prev_shown >= near_fraction * cap and new_shown < (1 - near_fraction) * cap:
        return (cap - prev_shown + new_shown) * display_factor, Step.rollover
    if new < reset_fraction * previous:
        return new, Step.reset
    return new - previous, Step.backward


def clean_value(previous: float | None, value: float, following: float | None, display_factor: float = 1.0,
                jitter_shown: float = JITTER_SHOWN) -> float:
    """The value a register reading stands for, judged with its neighbours (see the module docstring).

    Parameters
    ----------
    previous, following : float or None
        The readings before and after it, in time order; None where there is none, or where a
        recorded replacement lies between (the other register's values say nothing). [base unit]
    value : float
        The reading. [base unit]
    display_factor, jitter_shown : float
        As in :func:`register_delta`: an excursion of at most ``jitter_shown`` displayed units is
        left to the jitter rule. [base unit / displayed unit], [displayed unit]

    Returns
    -------
    float
        ``value`` clipped into ``[previous, following]`` when ``previous <= following`` and it lies
        outside by more than the jitter; else ``value``. [base unit]

    >>> clean_value(100_000.0, 101_010.0, 100_020.0)
    100020.0
    """
    if previous is None or following is None or previous > following:
        return value
    if value < previous:
        return previous if (previous - value) / display_factor > jitter_shown else value
    if value > following:
        return following if (value - following) / display_factor > jitter_shown else value
    return value


def clean_values(ts_ms: list[int], values: list[float], display_factor: float = 1.0,
                 replaced_ms: int | None = None) -> list[float]:
    """:func:`clean_value` of every reading of one register in time order; the first and last are
    not judged (their other neighbour is not in the list: pass readings around what is wanted).

    Parameters
    ----------
    ts_ms : list of int
        Times, strictly increasing. [ms]
    values : list of float
        Register readings. [base unit]
    display_factor : float
        As in :func:`register_delta`. [base unit / displayed unit]
    replaced_ms : int, optional
        A recorded replacement: neighbours across it are not used. [ms]
    """
    out = list(values)
    for k in range(1, len(values) - 1):
        prev, nxt = values[k - 1], values[k + 1]
        if replaced_ms is not None and ts_ms[k - 1] < replaced_ms <= ts_ms[k + 1]:
            continue
        if prev <= nxt and not prev <= values[k] <= nxt:
            out[k] = clean_value(prev, values[k], nxt, display_factor)
    return out


def interval_between(prev_ts_ms: int, prev_value: float, ts_ms: int, value: float,
                     display_factor: float = 1.0, max_rate_per_h: float = math.inf, *,
                     replaced: bool = False) -> Interval:
    """The interval quantity of the reading at ``ts_ms`` given the reading before it.

    Parameters
    ----------
    prev_ts_ms, ts_ms : int
        Times of the previous and this reading, ``prev_ts_ms < ts_ms``. [ms]
    prev_value, value : float
        Register readings. [base unit]
    display_factor : float
        As in :func:`register_delta`. [base unit / displayed unit]
    max_rate_per_h : float
        A counted quantity above ``max_rate_per_h * interval`` is a spike. [base unit / h]
    replaced : bool
        As in :func:`register_delta`.
    """
    if prev_ts_ms >= ts_ms:
        raise ValueError(f"previous reading at {prev_ts_ms} ms is not before {ts_ms} ms")
    interval_s = (ts_ms - prev_ts_ms) / 1000.0
    if value >= prev_value and not replaced:  # the common case, inline (hot path): register_delta's rule
        delta = value - prev_value
        if delta > max_rate_per_h * interval_s / 3600.0:
            return Interval(None, interval_s, Step.spike, delta)
        return Interval(delta, interval_s, Step.normal, delta)
    delta, step = register_delta(prev_value, value, display_factor, replaced=replaced)
    if step is Step.backward:
        return Interval(None, interval_s, step, delta)
    if delta > max_rate_per_h * interval_s / 3600.0:
        return Interval(None, interval_s, Step.spike, delta)
    return Interval(delta, interval_s, step, delta)
