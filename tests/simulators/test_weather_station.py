"""The simulated weather stations publish the weather that drives the loads and PV of their cell."""

from __future__ import annotations

import datetime as dt

import numpy as np

from contract.localtime import local_midnight_ms
from simulators import weather
from simulators.fleetsim import FleetSim, Period
from simulators.messages import time_ordered
from tests.simulators.helpers import decoded, readings_by_device, small_fleet


def test_one_station_per_cell_publishes_decodable_weather():
    fleet = small_fleet()
    start = dt.date(2025, 7, 14)
    period = Period(local_midnight_ms(start), local_midnight_ms(start + dt.timedelta(days=2)), 15 * 60_000)
    sim = FleetSim(fleet, 3, period, 96, weather_stations=True)
    hosts = weather.station_hosts(fleet.buildings)
    cells = {(round(b.latitude_deg * 2) / 2, round(b.longitude_deg * 2) / 2) for b in fleet.buildings}
    assert len(hosts) == len(cells)
    msgs = decoded(list(time_ordered(fleet.buildings, sim.chunks(), 1)))  # raises on any rejection
    by_dev = readings_by_device(msgs)
    stations = {k: v for k, v in by_dev.items() if k[1] == "weather_station"}
    assert {k[0] for k in stations} == set(hosts)
    for rows in stations.values():
        assert len(rows) == period.n  # 2 days x 96 readings
        temp = np.array([v["air_temperature"] for _, v in rows])
        ghi = np.array([v["ghi"] for _, v in rows])
        # Leshan in July: about 26.9 C mean, a swing of a few degrees (docs/simulators.md).
        assert 18.0 < temp.mean() < 34.0
        assert ghi.min() == 0.0  # nights
        assert 150.0 < ghi.max() < 1100.0  # below the ~1000-1100 W/m2 of a clear noon at 29.5 N


def test_station_ghi_is_what_drives_pv():
    """PV generation is zero exactly when the station's GHI is (same sun, same clouds)."""
    fleet = small_fleet()
    start = dt.date(2025, 12, 15)
    period = Period(local_midnight_ms(start), local_midnight_ms(start + dt.timedelta(days=2)), 15 * 60_000)
    chunks = [ch for fc in FleetSim(fleet, 3, period, 192, weather_stations=True).chunks() for ch in fc]
    host = next(ch for ch in chunks if any(f.kind.value == "weather_station" for f in ch.devices))
    ws = next(f for f in host.devices if f.kind.value == "weather_station")
    pv = [f for ch in chunks for f in ch.devices if f.kind.value == "pv_inverter"]
    assert pv
    for f in pv:
        assert ((f.values["power"] > 0) <= (ws.values["ghi"] > 0)).all()
