"""A synthetic but plausible outdoor climate for a site: air temperature and cloudiness.

Defaults are Leshan, Sichuan (hot-summer/cold-winter zone, among the least sunny cities in China):
annual mean about 17.3 C, January about 7.5 C, July about 26.5 C. Other latitudes get a simple
adjustment; the values are example climatology, not station data.
"""

from __future__ import annotations

import numpy as np

from simulators import noise
from simulators.calendar import Calendar

#: Reference site (Leshan) climate: annual mean [C], half the July-January swing [C],
#: day of year of the coldest day [d], diurnal half-swing on a clear day [C].
REF_LAT_DEG = 29.55
MEAN_TEMP_C = 17.3
SEASON_AMPLITUDE_C = 9.6
COLDEST_DOY = 15
DIURNAL_AMPLITUDE_C = 4.0


def weather_key(seed: int, latitude_deg: float, longitude_deg: float) -> int:
    """Weather is shared by buildings in the same 0.5-degree cell (a city), as real weather is."""
    return noise.stable_key("weather", seed, round(latitude_deg * 2) / 2, round(longitude_deg * 2) / 2)


#: Device id of the simulated weather station of a cell.
STATION_DEVICE_ID = "WS-01"


def station_hosts(buildings) -> dict[str, str]:
    """Where the simulated fleet's weather stations stand: the first building (by code) of each
    0.5-degree weather cell hosts one, which publishes the weather every building of the cell is
    driven by. Returns ``building_code -> station device_id``."""
    hosts: dict[tuple[float, float], str] = {}
    for b in sorted(buildings, key=lambda b: b.building_code):
        hosts.setdefault((round(b.latitude_deg * 2) / 2, round(b.longitude_deg * 2) / 2), b.building_code)
    return {code: STATION_DEVICE_ID for code in hosts.values()}


def clear_sky_index_daily(key: int, day: np.ndarray) -> np.ndarray:
    """Daily clear-sky index: clear, broken-cloud and overcast days, sunnier in summer.

    Parameters
    ----------
    key : int
        Weather stream key. [-]
    day : array of int
        Sorted local day numbers since 1970-01-01. [d]

    Returns
    -------
    array
        Ratio of actual to clear-sky global irradiance for the day. [-]
    """
    return noise.per_day(day, lambda d: _kt_of_days(key, d))


def _kt_of_days(key: int, day: np.ndarray) -> np.ndarray:
    doy = (day - 10957) % 365.25  # 10957 = 2000-01-01; close enough for a seasonal probability
    u = noise.uniform(key ^ 0xC10D, day)
    u2 = noise.uniform(key ^ 0xC10E, day)
    # Probability of a clear day: about 0.12 in January, 0.40 in late July.
    p_clear = 0.26 - 0.14 * np.cos(2 * np.pi * (doy - COLDEST_DOY) / 365.0)
    p_broken = 0.40
    return np.where(u < p_clear, 0.88 + 0.12 * u2,
                    np.where(u < p_clear + p_broken, 0.45 + 0.35 * u2, 0.12 + 0.25 * u2))


def air_temperature(key: int, cal: Calendar, latitude_deg: float, kt_day: np.ndarray) -> np.ndarray:
    """Outdoor air temperature at each instant of the calendar grid.

    Parameters
    ----------
    key : int
        Weather stream key. [-]
    cal : Calendar
        Local calendar features of the instants.
    latitude_deg : float
        Site latitude. [deg]
    kt_day : array
        Daily clear-sky index at each instant (clouds damp the daily swing). [-]

    Returns
    -------
    array
        Air temperature. [C]
    """
    dlat = latitude_deg - REF_LAT_DEG
    mean_c = MEAN_TEMP_C - 0.7 * dlat
    season_c = SEASON_AMPLITUDE_C + 0.3 * dlat
    seasonal = mean_c - season_c * np.cos(2 * np.pi * (cal.doy - COLDEST_DOY) / 365.0)
    # Day-to-day anomaly: neighbouring days are correlated, as weather spells are.
    def spell(d: np.ndarray) -> np.ndarray:
        n = noise.normal(key ^ 0x7E, np.arange(d[0] - 1, d[-1] + 2))
        return 2.2 * (n[:-2] + 2 * n[1:-1] + n[2:]) / np.sqrt(6.0)

    anomaly = noise.per_day(cal.day, spell)
    diurnal = DIURNAL_AMPLITUDE_C * (0.4 + 0.6 * kt_day) * np.cos(2 * np.pi * (cal.hour - 15.0) / 24.0)
    return seasonal + anomaly + diurnal
