"""Rooftop PV output from solar geometry (pvlib) and the synthetic cloudiness of :mod:`weather`.

Clear-sky global irradiance (Haurwitz) is scaled by the clear-sky index, split into beam and
diffuse (Erbs), transposed to the array plane (isotropic sky) and turned into AC power with a
performance ratio and a cell-temperature correction.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pvlib

#: Losses from POA irradiance to AC power (inverter, wiring, soiling, mismatch). [-]
PERFORMANCE_RATIO = 0.82
#: Power temperature coefficient of crystalline silicon. [1/K]
TEMP_COEFF_PER_K = -0.004


@lru_cache(maxsize=64)
def _sun(lat_cell: float, lon_cell: float, t0_ms: int, n: int, step_ms: int) -> tuple[np.ndarray, ...]:
    # Shared by every array of a city in one chunk: solar position dominates PV cost.
    mid = t0_ms + step_ms * np.arange(n, dtype=np.int64) - step_ms // 2
    times = pd.DatetimeIndex(pd.to_datetime(mid, unit="ms", utc=True))
    pos = pvlib.solarposition.get_solarposition(times, lat_cell, lon_cell, method="nrel_numpy")
    ghi_clear = pvlib.clearsky.haurwitz(pos["apparent_zenith"])["ghi"].to_numpy()
    return (pos["apparent_zenith"].to_numpy(), pos["zenith"].to_numpy(), pos["azimuth"].to_numpy(),
            ghi_clear, times.day_of_year.to_numpy())


def ghi_w_per_m2(latitude_deg: float, longitude_deg: float, t0_ms: int, n: int, step_ms: int,
                 kt: np.ndarray) -> np.ndarray:
    """Global horizontal irradiance of each interval, as a weather station would measure it: the
    same irradiance that drives :func:`pv_power_per_kwp`.

    Parameters
    ----------
    latitude_deg, longitude_deg : float
        Site position (rounded to 0.5 degree, as for PV). [deg]
    t0_ms, n, step_ms : int
        End of the first interval [ms since epoch, UTC], number of intervals [-], length [ms].
    kt : array
        Clear-sky index in each interval. [-]

    Returns
    -------
    array
        Global horizontal irradiance at the interval midpoint. [W/m2]
    """
    cell = (round(latitude_deg * 2) / 2, round(longitude_deg * 2) / 2)
    ghi_clear = _sun(*cell, t0_ms, n, step_ms)[3]
    return np.nan_to_num(ghi_clear * kt, nan=0.0).clip(min=0.0)


def pv_power_per_kwp(latitude_deg: float, longitude_deg: float, tilt_deg: float, azimuth_deg: float,
                     t0_ms: int, n: int, step_ms: int, kt: np.ndarray, air_temp_c: np.ndarray) -> np.ndarray:
    """Mean AC power of 1 kWp over each interval of a grid.

    Parameters
    ----------
    latitude_deg, longitude_deg : float
        Site position (rounded to 0.5 degree for the shared solar-position cache). [deg]
    tilt_deg, azimuth_deg : float
        Array tilt from horizontal and azimuth (180 = south). [deg]
    t0_ms : int
        End of the first interval. [ms since epoch, UTC]
    n : int
        Number of intervals. [-]
    step_ms : int
        Interval length. [ms]
    kt : array
        Clear-sky index in each interval. [-]
    air_temp_c : array
        Air temperature in each interval. [C]

    Returns
    -------
    array
        Power per installed kWp, between 0 and about 1. [kW/kWp]
    """
    # One sun per 0.5-degree cell (a city): at most 0.25 deg off, i.e. solar noon within a minute.
    cell = (round(latitude_deg * 2) / 2, round(longitude_deg * 2) / 2)
    app_zen, zen, azi, ghi_clear, doy = _sun(*cell, t0_ms, n, step_ms)
    ghi = ghi_clear * kt
    split = pvlib.irradiance.erbs(ghi, zen, doy)
    poa = pvlib.irradiance.get_total_irradiance(tilt_deg, azimuth_deg, app_zen, azi, split["dni"], ghi,
                                                split["dhi"], model="isotropic")["poa_global"]
    poa = np.nan_to_num(np.asarray(poa, dtype=np.float64), nan=0.0).clip(min=0.0)
    cell_c = air_temp_c + poa / 800.0 * 25.0
    power = poa / 1000.0 * PERFORMANCE_RATIO * (1.0 + TEMP_COEFF_PER_K * (cell_c - 25.0))
    return power.clip(min=0.0)
