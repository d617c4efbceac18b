"""Load shapes of a building by type: relative power of each electricity sub-item, gas, water, heat.

Shapes are dimensionless; :mod:`simulators.engine` scales each one so that its expected annual
total equals the building's target (floor area x intensity x sub-item share).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.calendar import Calendar


@dataclass(frozen=True)
class Schedule:
    """When a building type is in use (local hours) and how busy it is outside those hours."""

    open_h: float
    close_h: float
    night: float  # occupancy outside opening hours [-]
    weekend: float  # occupancy on non-working days during opening hours [-]
    vacation: float = 1.0  # multiplier in school vacations [-]


SCHEDULES: dict[str, Schedule] = {
    "A": Schedule(8.5, 18.0, 0.05, 0.12),
    "B": Schedule(10.0, 22.0, 0.08, 1.2),
    "C": Schedule(6.5, 23.0, 0.45, 1.05),
    "D": Schedule(7.5, 21.5, 0.05, 0.2, vacation=0.15),
    "E": Schedule(8.0, 18.0, 0.55, 0.7),
    "F": Schedule(9.0, 21.5, 0.05, 1.3),
    "G": Schedule(8.5, 21.0, 0.10, 0.8),
    "H": Schedule(8.5, 17.5, 0.08, 0.2),
}

#: Comfort band: no HVAC between these outdoor temperatures. [C]
HEATING_BELOW_C = 14.0
COOLING_ABOVE_C = 24.0


def _ramp(x: np.ndarray, edge: float, width_h: float = 0.75) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x - edge) / (width_h / 4.0)))


def occupancy(type_letter: str, cal: Calendar) -> np.ndarray:
    """Relative occupancy in [0, 1.3] of a building type at each instant. [-]"""
    s = SCHEDULES[type_letter]
    open_ = _ramp(cal.hour, s.open_h) * (1.0 - _ramp(cal.hour, s.close_h))
    # Types open every day carry a weekend level >= 1 (malls and gyms are busier on weekends).
    day_level = np.where(cal.workday, 1.0, s.weekend)
    occ = s.night + (day_level - s.night).clip(min=0.0) * open_
    if s.vacation != 1.0:
        occ = np.where(cal.vacation, s.night + (occ - s.night) * s.vacation, occ)
    # A midday dip in offices and schools (lunch break, lights off).
    if type_letter in "ADH":
        occ = occ * (1.0 - 0.15 * np.exp(-((cal.hour - 12.5) ** 2) / 0.5))
    return occ


def electricity_shapes(type_letter: str, cal: Calendar, occ: np.ndarray, temp_c: np.ndarray,
                       daylight: np.ndarray) -> dict[str, np.ndarray]:
    """Relative power of the four MOHURD sub-items.

    Parameters
    ----------
    type_letter : str
        MOHURD building type letter A-H.
    cal : Calendar
        Local calendar features.
    occ : array
        Occupancy from :func:`occupancy`. [-]
    temp_c : array
        Outdoor air temperature. [C]
    daylight : array
        Clear-sky-index-weighted daylight in [0, 1] (lights are used more on dark days). [-]

    Returns
    -------
    dict of str to array
        ``lighting_sockets``, ``hvac``, ``power``, ``special``: positive relative power. [-]
    """
    lighting = 0.12 + occ * (1.0 - 0.35 * daylight)
    # Cooling costs more per degree than heating with heat pumps in this climate.
    degree = (temp_c - COOLING_ABOVE_C).clip(min=0.0) * 1.0 + (HEATING_BELOW_C - temp_c).clip(min=0.0) * 0.7
    hvac_on = occ if type_letter not in "CE" else np.maximum(occ, 0.5)
    hvac = 0.04 + hvac_on * degree + 0.1 * hvac_on
    power = 0.25 + 0.75 * occ
    special_base = 0.7 if type_letter in "CEG" else 0.45
    meals = np.exp(-((cal.hour - 11.75) ** 2) / 0.8) + np.exp(-((cal.hour - 17.75) ** 2) / 0.8)
    special = special_base + 0.3 * occ + 0.25 * meals * (occ > 0.2)
    return {"lighting_sockets": lighting, "hvac": hvac, "power": power, "special": special}


def gas_shape(cal: Calendar, occ: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
    """Relative gas use: kitchens at meal times, hot water, boilers on cold days. [-]"""
    meals = (np.exp(-((cal.hour - 7.0) ** 2) / 0.6) + 1.5 * np.exp(-((cal.hour - 11.5) ** 2) / 0.8)
             + 1.3 * np.exp(-((cal.hour - 17.5) ** 2) / 0.8))
    heating = (HEATING_BELOW_C + 2.0 - temp_c).clip(min=0.0) / 10.0
    return 0.05 + meals * (occ > 0.15) * 0.8 + 0.3 * occ + heating * occ


def water_shape(cal: Calendar, occ: np.ndarray) -> np.ndarray:
    """Relative water use: follows people, with a small leak-like base. [-]"""
    return 0.04 + occ * (1.0 + 0.3 * np.exp(-((cal.hour - 12.0) ** 2) / 2.0))


def heat_shape(cal: Calendar, occ: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
    """Relative district-heat use: space heating below 16 C, domestic hot water all year. [-]"""
    return 0.03 + (16.0 - temp_c).clip(min=0.0) * (0.3 + occ) + 0.05 * occ
