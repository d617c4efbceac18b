"""Plausible ranges of stored values and register rates: what no real public building produces.

A value outside its range is refused whole with its reading (``value_out_of_range``): a 1e308 kWh
register is a broken collector, not a building, and stored it would poison every sum after it.
A register step that implies a rate above :func:`max_rate_per_h` is held out of the interval
values (contract/registers.py, ``Step.spike``).

Ranges are keyed by the **stored** field name (after unit conversion, docs/glossary.md), so a
limit means the same whatever unit the device sent. Defaults are deliberately generous: they
catch corrupt numbers, not unusual buildings. The largest public buildings (hospital campuses,
airports) draw a few tens of MW; a 12-digit register in Wh holds 1e9 kWh.

Override per field (``Limits({"power_kw": 50_000})``; ingest: ``--plausible-limits`` /
``EP_PLAUSIBLE_LIMITS`` as JSON, docs/ingest.md). Keys: a stored field name (``power_kw``,
``register_m3``, ...) for the largest absolute value, or ``rate_<suffix>_per_h`` (``rate_kwh_per_h``)
for the largest register rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: Largest absolute value of a stored field, by the suffix of its base unit. [base unit]
#: Registers and interval values: 1e10 covers a 13-digit register in the displayed unit of any
#: accepted unit after conversion (1e13 Wh = 1e10 kWh). Power: 1e5 kW = 100 MW.
DEFAULT_MAX_BY_SUFFIX: dict[str, float] = {"kwh": 1e10, "m3": 1e10, "kg": 1e10, "kw": 1e5}
#: Largest register rate, by base-unit suffix. [base unit / h]
#: 1e5 kWh/h = 100 MW (the power bound); 1e4 m3/h of water or gas; 1e5 kg/h of fuel.
DEFAULT_MAX_RATE_PER_H: dict[str, float] = {"kwh": 1e5, "m3": 1e4, "kg": 1e5}
#: A device's power may exceed its rated power (kWp of a PV array, rated kW of a pile) by this
#: factor before it is implausible: inverters and chargers clip at their rating, meters have
#: class tolerances, cold clear days push PV above STC. [1]
CAPACITY_HEADROOM = 1.5


def suffix_of(stored_field: str) -> str:
    """``register_kwh`` -> ``kwh``; ``status`` -> ``""``."""
    return stored_field.rsplit("_", 1)[-1] if "_" in stored_field else ""


class Limits:
    """Plausible ranges with per-field overrides (see the module docstring for the keys)."""

    def __init__(self, overrides: Mapping[str, float] | None = None):
        self._overrides = dict(overrides or {})
        for k, v in self._overrides.items():
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"plausible limit {k}={v!r} must be a positive finite number")
        self._max_cache: dict[str, float] = {}

    def max_abs(self, stored_field: str) -> float:
        """Largest plausible absolute value of ``stored_field``; infinity when unbounded. [base unit]"""
        found = self._max_cache.get(stored_field)
        if found is None:
            found = self._overrides.get(stored_field,
                                        DEFAULT_MAX_BY_SUFFIX.get(suffix_of(stored_field), math.inf))
            self._max_cache[stored_field] = found
        return found

    def max_rate_per_h(self, stored_register_field: str) -> float:
        """Largest plausible rate of a register, from its stored name. [base unit / h]"""
        suffix = suffix_of(stored_register_field)
        return self._overrides.get(f"rate_{suffix}_per_h", DEFAULT_MAX_RATE_PER_H.get(suffix, math.inf))


def max_power_of_device(rated_kw: float | None, default_kw: float) -> float:
    """Power bound of one device: its rating with headroom when the registry knows it. [kW]"""
    if rated_kw is None or not rated_kw > 0:
        return default_kw
    return min(default_kw, rated_kw * CAPACITY_HEADROOM)
