"""EV charging sessions of one pile: arrivals by hour of day, energy per session, charging power.

Sessions are drawn per local day from counter-based noise (so any chunking gives the same
sessions) and end before local midnight, which keeps days independent: a pile's day is settled
without looking at its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contract.localtime import DAY_MS, LOCAL_OFFSET_MS
from contract.vocabulary import PileKind
from simulators import noise

#: Relative arrival rate by local hour (0..23) per building type letter.
_OFFICE = [0, 0, 0, 0, 0, 0, 1, 3, 8, 7, 3, 2, 2, 4, 3, 2, 2, 2, 1, 1, 0, 0, 0, 0]
_RETAIL = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 5, 5, 5, 5, 5, 5, 6, 6, 5, 4, 2, 0, 0]
_EVENING = [0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 3, 3, 4, 5, 6, 6, 5, 4, 2, 0, 0]
ARRIVALS_BY_HOUR: dict[str, list[int]] = {
    "A": _OFFICE, "B": _RETAIL, "C": _EVENING, "D": _OFFICE, "E": _RETAIL, "F": _EVENING,
    "G": _RETAIL, "H": _OFFICE,
}
#: (candidate sessions per day, probability each happens, min and max energy [kWh],
#: mean charging power as a fraction of rated power [-])
PILE_BEHAVIOUR: dict[PileKind, tuple[int, float, float, float, float]] = {
    PileKind.ac_7kw: (3, 0.45, 6.0, 35.0, 1.0),
    PileKind.dc_60kw: (6, 0.55, 12.0, 55.0, 0.8),
    PileKind.dc_120kw: (8, 0.55, 15.0, 65.0, 0.75),
}


@dataclass(frozen=True)
class Sessions:
    """Non-overlapping sessions of one pile, sorted by start."""

    start_ms: np.ndarray  # [ms since epoch, UTC]
    stop_ms: np.ndarray  # [ms since epoch, UTC]
    power_kw: np.ndarray  # constant charging power [kW]
    day: np.ndarray  # local day number of the session [d]
    slot: np.ndarray  # candidate number within the day [-]

    @property
    def energy_kwh(self) -> np.ndarray:
        return self.power_kw * (self.stop_ms - self.start_ms) / 3_600_000.0


def sessions_for_days(key: int, type_letter: str, pile_kind: PileKind, rated_power_kw: float,
                      first_day: int, last_day: int) -> Sessions:
    """All sessions of a pile on local days ``first_day..last_day`` (inclusive).

    Parameters
    ----------
    key : int
        The pile's noise key. [-]
    type_letter : str
        Building type letter (arrival pattern).
    pile_kind : PileKind
        AC 7 kW or DC 60/120 kW.
    rated_power_kw : float
        Rated power of the pile. [kW]
    first_day, last_day : int
        Local day numbers since 1970-01-01. [d]
    """
    slots, p_happen, e_min, e_max, power_frac = PILE_BEHAVIOUR[pile_kind]
    days = np.arange(first_day, last_day + 1, dtype=np.int64)
    idx = (days[:, None] * 16 + np.arange(slots)[None, :]).ravel()
    happens = noise.uniform(key ^ 1, idx) < p_happen
    weights = np.asarray(ARRIVALS_BY_HOUR[type_letter], dtype=np.float64)
    cdf = np.cumsum(weights) / weights.sum()
    hour = np.searchsorted(cdf, noise.uniform(key ^ 2, idx), side="right").clip(max=23)
    minute = np.floor(noise.uniform(key ^ 3, idx) * 60.0).astype(np.int64)
    start_min = hour * 60 + minute
    power_kw = rated_power_kw * power_frac
    energy = e_min + (e_max - e_min) * noise.uniform(key ^ 4, idx)
    # Whole minutes of charging, ending before local midnight.
    dur_min = np.ceil(energy / power_kw * 60.0).astype(np.int64).clip(1, None)
    dur_min = np.minimum(dur_min, 24 * 60 - 1 - start_min).clip(min=0)
    day_rep = np.repeat(days, slots)
    start_ms = day_rep * DAY_MS - LOCAL_OFFSET_MS + start_min * 60_000
    stop_ms = start_ms + dur_min * 60_000
    slot = np.tile(np.arange(slots), len(days))
    valid = happens & (dur_min > 0)
    # Within a day, later arrivals that find the pile busy go elsewhere.
    order = np.lexsort((start_ms, day_rep))
    start_ms, stop_ms, day_rep, slot, valid = (a[order] for a in (start_ms, stop_ms, day_rep, slot, valid))
    ends = np.where(valid, stop_ms, np.iinfo(np.int64).min)
    shaped = ends.reshape(len(days), slots)
    prev_end = np.maximum.accumulate(shaped, axis=1)
    prev_end = np.concatenate([np.full((len(days), 1), np.iinfo(np.int64).min), prev_end[:, :-1]], axis=1)
    keep = valid & (start_ms >= prev_end.ravel())
    return Sessions(start_ms=start_ms[keep], stop_ms=stop_ms[keep],
                    power_kw=np.full(int(keep.sum()), power_kw), day=day_rep[keep], slot=slot[keep])


def cumulative_energy_kwh(s: Sessions, t_ms: np.ndarray) -> np.ndarray:
    """Energy delivered by sessions ``s`` from their first start until each instant. [kWh]"""
    if len(s.start_ms) == 0:
        return np.zeros(len(t_ms))
    done = np.concatenate([[0.0], np.cumsum(s.energy_kwh)])
    j = np.searchsorted(s.start_ms, t_ms, side="right") - 1
    jc = j.clip(min=0)
    part = s.power_kw[jc] * (np.minimum(t_ms, s.stop_ms[jc]) - s.start_ms[jc]).clip(min=0) / 3_600_000.0
    return np.where(j >= 0, done[jc] + part, 0.0)


def charging_at(s: Sessions, t_ms: np.ndarray) -> np.ndarray:
    """Charging power at each instant (0 between sessions). [kW]"""
    if len(s.start_ms) == 0:
        return np.zeros(len(t_ms))
    j = (np.searchsorted(s.start_ms, t_ms, side="right") - 1).clip(min=0)
    on = (s.start_ms[j] <= t_ms) & (t_ms < s.stop_ms[j])
    return np.where(on, s.power_kw[j], 0.0)
