"""A simulated building's alert inputs at a given instant, built in process from the simulator (the
engine's InfluxDB buckets reproduced: hourly by the reading's stamp), with its stored-style baseline."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from analytics.baseline import BaselineFit
from api.alerts.inputs import BuildingInputs, judged_week
from contract.localtime import local_midnight_ms
from registry.fleet import BuildingSpec, Fleet
from registry.repo import building_from_spec
from registry.weather import StationRef
from simulators.fleetsim import FleetSim, Period

TZ = ZoneInfo("Asia/Shanghai")
HOUR_MS = 3_600_000


class SimulatedBuilding:
    """Hourly main-meter use, PV generation and station weather of one building, simulated with
    its own weather station over ``[start, end)``."""

    def __init__(self, spec: BuildingSpec, start: dt.date, end: dt.date, seed: int = 3):
        self.spec = spec
        period = Period(local_midnight_ms(start), local_midnight_ms(end), HOUR_MS)
        [chunk] = list(FleetSim(Fleet(buildings=[spec]), seed, period, 96, weather_stations=True).per_building())
        frames = {(f.kind.value, f.sub_item.value if f.sub_item else None): f for f in chunk.devices}
        main = frames[("meter", "main")]
        idx = pd.to_datetime(main.ts_ms, unit="ms", utc=True)  # bucket = the reading's stamp
        self.hourly_kwh = pd.Series(np.diff(main.values["register"], prepend=np.nan), index=idx).iloc[1:]
        ws = frames[("weather_station", None)]
        self.temp = pd.Series(ws.values["air_temperature"], index=idx)
        self.ghi = pd.Series(ws.values["ghi"], index=idx)
        pv = frames.get(("pv_inverter", None))
        self.pv_kwh = (pd.Series(np.diff(pv.values["generation_register"], prepend=np.nan), index=idx).iloc[1:]
                       if pv is not None else pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC")))

    def daily(self) -> pd.DataFrame:
        """Daily use (the rollup convention: readings in (00:00, 24:00]) and mean temperature."""
        day = pd.Index([(t - pd.Timedelta(milliseconds=1)).tz_convert(TZ).date() for t in self.hourly_kwh.index])
        use = self.hourly_kwh.groupby(day).agg(["sum", "count"])
        tday = pd.Index([(t - pd.Timedelta(milliseconds=1)).tz_convert(TZ).date() for t in self.temp.index])
        temp = self.temp.groupby(tday).mean()
        out = pd.DataFrame({"use": use["sum"].where(use["count"] == 24), "temperature_mean_degc": temp})
        out.index.name = "date"
        return out

    def inputs(self, now: dt.datetime, fit: BaselineFit) -> BuildingInputs:
        """What ``api.alerts.inputs.gather`` would hand the rules at ``now``."""
        now_h = pd.Timestamp(now).floor("h")
        hourly = self.hourly_kwh[(self.hourly_kwh.index >= now_h - pd.Timedelta(days=14))
                                 & (self.hourly_kwh.index < now_h)]
        start, end = judged_week(now, "Asia/Shanghai")
        # The engine's daily temperature: buckets of local days over the readings' stamps.
        t = self.temp[(self.temp.index >= start) & (self.temp.index < end)]
        temps = t.groupby(pd.Index([i.tz_convert(TZ).date() for i in t.index])).mean()
        last7 = lambda s: s[(s.index >= now_h - pd.Timedelta(days=7)) & (s.index < now_h)]  # noqa: E731
        return BuildingInputs(building_from_spec(self.spec), hourly_kwh=hourly, pv_hourly_kwh=last7(self.pv_kwh),
                              station=StationRef(self.spec.building_code, "WS-01"), fit=fit,
                              daily_temperature_degc=temps, ghi_hourly_w_per_m2=last7(self.ghi))
