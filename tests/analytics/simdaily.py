"""Daily use and weather of a simulated fleet (hourly grid), the ground truth of the baseline tests."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from contract.localtime import local_midnight_ms
from registry.fleet import Fleet
from simulators import weather
from simulators.fleetgen import generate_fleet
from simulators.fleetsim import FleetSim, Period

HOUR_MS = 3_600_000


def _local_dates(ts_ms: np.ndarray) -> np.ndarray:
    # A reading closes the hour before it: the interval's midpoint gives its local day.
    return ((ts_ms - HOUR_MS // 2 + 8 * HOUR_MS) // 86_400_000).astype(np.int64)


def _dates(days: np.ndarray) -> list[dt.date]:
    return [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in days]


def simulate_daily(fleet: Fleet, start: dt.date, end: dt.date, seed: int = 3) -> dict[str, pd.DataFrame]:
    """building_code -> DataFrame by local date: ``use`` (main electricity meter, kWh/d),
    ``temperature_mean_degc`` and ``ghi_mean_w_per_m2`` of its cell's station."""
    period = Period(local_midnight_ms(start), local_midnight_ms(end), HOUR_MS)
    hosts = weather.station_hosts(fleet.buildings)
    cell = lambda b: (round(b.latitude_deg * 2) / 2, round(b.longitude_deg * 2) / 2)  # noqa: E731
    host_of_cell = {cell(b): b.building_code for b in fleet.buildings if b.building_code in hosts}
    use, wx = {}, {}
    for ch in FleetSim(fleet, seed, period, 96, weather_stations=True).per_building():
        for f in ch.devices:
            day = _local_dates(f.ts_ms)
            if f.kind.value == "meter" and f.sub_item is not None and f.sub_item.value == "main":
                kwh = np.diff(f.values["register"], prepend=np.nan)
                s = pd.Series(kwh).groupby(day).sum(min_count=1)
                use[ch.building_code] = s
            if f.kind.value == "weather_station":
                g = pd.DataFrame({"t": f.values["air_temperature"], "g": f.values["ghi"]}).groupby(day).mean()
                wx[ch.building_code] = g
    out = {}
    for b in fleet.buildings:
        w = wx[host_of_cell[cell(b)]]
        u = use[b.building_code]
        df = pd.DataFrame({"use": u, "temperature_mean_degc": w["t"], "ghi_mean_w_per_m2": w["g"]})
        df = df.iloc[1:]  # the first day misses the hour before its first reading
        df.index = pd.Index(_dates(df.index.to_numpy()), name="date")
        out[b.building_code] = df
    return out


@lru_cache(maxsize=2)
def year_2025(size: int = 8, fleet_seed: int = 7) -> tuple[Fleet, dict[str, pd.DataFrame]]:
    fleet = generate_fleet(fleet_seed, size)
    return fleet, simulate_daily(fleet, dt.date(2024, 12, 31), dt.date(2026, 1, 1))
