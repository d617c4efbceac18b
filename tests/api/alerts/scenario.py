"""A small city with injected conditions, written as line protocol straight into InfluxDB.

The simulator's fault manifest had not landed when these tests were written, so the data is
constructed here: each building is normal except for the one condition named in
``INJECTED``. Readings carry the time at the END of their interval, as meters report.

Normal electricity profile by local hour: 25 kW at night (0-5 h), 100 kW by day (9-17 h),
50 kW otherwise: 5 x 25 + 8 x 100 + 11 x 50 = 1475 kWh a day.

Weather: one station on NORMAL's roof stands for both districts: 25 degC all along, GHI = 60 % of
the Haurwitz clear sky. Every building has a stored electricity baseline (``fit_lines``) that
expects its normal day with a 2 % daily standard deviation; PV yields 95 % of what the measured
irradiance gives (``api.alerts.solar.expected_energy_kwh``), the PV building 30 %.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pvlib

from analytics.baseline import BaselineFit
from analytics.baseline_job import write_fits
from api.alerts.solar import expected_energy_kwh
from registry.fleet import BuildingSpec, MeterSpec, PileSpec, PvSpec
from registry.weather import add_station, assign

TZ = ZoneInfo("Asia/Shanghai")
#: Evaluation time: 15 June 2026, 12:00 local.
NOW = dt.datetime(2026, 6, 15, 4, 0, tzinfo=dt.UTC)
#: Hourly readings from local midnight 31 May to NOW; daily totals from 1 January before that.
HOURLY_FROM = dt.datetime(2026, 5, 31, tzinfo=ZoneInfo("Asia/Shanghai"))

NORMAL, AUDIT, EUI, NIGHT, WOW, OFFLINE, GAP, PV = (
    "510402A001", "510402B002", "510402C003", "510411A004", "510411D005", "510411E006", "510411F007",
    "510411G008")

#: The only alerts the scenario may raise: (rule, building).
INJECTED = {
    ("audit_threshold", AUDIT),  # 10x profile: 14,750 kWh/d; x 165.5 d = 2.44 GWh; / 0.4534 = 5.38 GWh >= 5 GWh
    ("eui_over_quota", EUI),  # 1475 kWh/d x 365 / 3000 m2 = 179 kWh/(m2.a) > hotel 160
    ("night_base_load", NIGHT),  # 80 kW at night against 100 kW by day
    ("use_above_expected", WOW),  # last 7 days x 1.3 against a baseline that explains x 1.0
    ("meter_offline", OFFLINE),  # its HVAC sub-meter silent for the last 7 h
    ("data_gap", GAP),  # main meter silent 4 h, then one reading covering 5 h
    ("pv_underperformance", PV),  # 30 % of the yield of the measured irradiance
}


def _spec(code: str, district: str, area_m2: float, *, pv_kwp: float | None = None, pile: bool = False):
    return BuildingSpec(
        building_code=code, name=f"Scenario {code}", floor_area_m2=area_m2, district=district,
        ownership="large_public", latitude_deg=29.55, longitude_deg=103.77,
        meters=[MeterSpec(device_id="E-MAIN", carrier="electricity", sub_item="main"),
                MeterSpec(device_id="E-HVAC", carrier="electricity", sub_item="hvac", parent_device_id="E-MAIN")],
        pv=[PvSpec(device_id="PV1", capacity_kwp=pv_kwp)] if pv_kwp else [],
        ev_piles=[PileSpec(device_id="EV1", pile_kind="ac_7kw", rated_power_kw=7)] if pile else [])


BUILDINGS = [
    _spec(NORMAL, "Shizhong", 10_000, pv_kwp=50, pile=True),
    _spec(AUDIT, "Shizhong", 50_000),  # 5.38 GWh / 50,000 m2 = 108 kWh/(m2.a), under the mall quota 240
    _spec(EUI, "Shizhong", 3_000),
    _spec(NIGHT, "Wutongqiao", 10_000),
    _spec(WOW, "Wutongqiao", 20_000),
    _spec(OFFLINE, "Wutongqiao", 10_000),
    _spec(GAP, "Wutongqiao", 10_000),
    _spec(PV, "Wutongqiao", 10_000, pv_kwp=100),
]


STATION = "WS-01"
AIR_TEMPERATURE_DEGC = 25.0
PV_SHARE = {PV: 0.30}  # of the expected yield; every other array 0.95


def add_weather_station(session) -> None:
    """The station on NORMAL's roof, assigned to both districts."""
    add_station(session=session, host_building_code=NORMAL, device_id=STATION, latitude_deg=29.55,
                longitude_deg=103.77, installed_on=dt.date(2025, 1, 1))
    for district in ("Shizhong", "Wutongqiao"):
        assign(session=session, host_building_code=NORMAL, device_id=STATION, district=district)


def fit_of(code: str) -> BaselineFit:
    """The building's baseline, ended 1 June 2026: its normal day, sigma 2 % of it."""
    kwh = sum(power_kw(code, h) for h in range(24))
    return BaselineFit(
        status="ok", period_start=dt.date(2025, 6, 1), period_end=dt.date(2026, 6, 1), days=365,
        form="intercept", terms=["intercept_workday", "intercept_restday"],
        coefficients={"intercept_workday": kwh, "intercept_restday": kwh},
        cov_unscaled=[[1 / 250, 0.0], [0.0, 1 / 115]], sigma=0.02 * kwh, rho=0.0, mean_daily_use=kwh,
        cv_rmse_daily=0.02, nmbe_daily=0.0, months=12, cv_rmse_monthly=0.01, nmbe_monthly=0.0,
        guideline14="meets")


def fit_lines(rollups) -> None:
    """A stored baseline per building (:func:`fit_of`)."""
    write_fits(rollups, [(b.building_code, "electricity", fit_of(b.building_code)) for b in BUILDINGS],
               end=dt.date(2026, 6, 1))


def _ghi(hours: pd.DatetimeIndex) -> pd.Series:
    """60 % of the Haurwitz clear sky at the middle of each hour bucket (the bucket's start indexes it)."""
    pos = pvlib.solarposition.get_solarposition(hours + pd.Timedelta(minutes=30), 29.55, 103.77)
    return pd.Series(0.6 * pvlib.clearsky.haurwitz(pos["apparent_zenith"])["ghi"].to_numpy(), index=hours)


def power_kw(code: str, local_hour: int) -> float:
    night, day, other = (80.0, 100.0, 50.0) if code == NIGHT else (25.0, 100.0, 50.0)
    kw = night if local_hour < 5 else day if 9 <= local_hour < 17 else other
    return kw * (10 if code == AUDIT else 1)


def _line(measurement: str, tags: dict, fields: dict, t: dt.datetime) -> str:
    tag = ",".join(f"{k}={v}" for k, v in sorted(tags.items()))
    fld = ",".join(f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}i" for k, v in fields.items())
    return f"{measurement},{tag} {fld} {int(t.timestamp() * 1000)}"


def _meter_tags(code: str, dev: str) -> dict:
    return {"building_code": code, "device_id": dev, "device_kind": "meter", "carrier": "electricity",
            "sub_item": "main" if dev == "E-MAIN" else "hvac"}


def lines(start: dt.datetime, end: dt.datetime, *, daily_before: dt.datetime | None = None,
          hvac_resumes: bool = False) -> list[str]:
    """Readings in (start, end]: hourly; plus daily totals from 1 January up to ``daily_before``."""
    out: list[str] = []
    if daily_before is not None:
        day = dt.datetime(2026, 1, 2, tzinfo=TZ)
        while day <= daily_before:
            for b in BUILDINGS:
                kwh = sum(power_kw(b.building_code, h) for h in range(24))
                for dev, share in (("E-MAIN", 1.0), ("E-HVAC", 0.4)):
                    out.append(_line("meter", _meter_tags(b.building_code, dev),
                                     {"consumption_kwh": kwh * share, "interval_s": 86400.0}, day))
            day += dt.timedelta(days=1)
    hours = pd.date_range((start + dt.timedelta(hours=1)).astimezone(dt.UTC), end.astimezone(dt.UTC), freq="h")
    ghi = _ghi(hours)
    # The engine buckets by the reading's stamp (GROUP BY time(1h)), so the expectation of the reading
    # stamped t is the one of bucket [t, t + 1 h): index the expectation the same way.
    pv_1kwp = expected_energy_kwh(latitude_deg=29.55, longitude_deg=103.77, capacity_kwp=1.0, tilt_deg=25,
                                  azimuth_deg=180, ghi_w_per_m2=ghi, performance_ratio=0.8)
    for t, yield_1kwp, ghi_t in zip(hours, pv_1kwp.to_numpy(), ghi.to_numpy(), strict=True):
        t = t.to_pydatetime()
        out.append(_line("weather", {"building_code": NORMAL, "device_id": STATION, "device_kind": "weather_station"},
                         {"air_temperature_degc": AIR_TEMPERATURE_DEGC, "ghi_w_per_m2": float(ghi_t)}, t))
        local_hour = (t - dt.timedelta(hours=1)).astimezone(TZ).hour  # the hour the reading covers
        for b in BUILDINGS:
            code = b.building_code
            kwh = power_kw(code, local_hour)
            if code == WOW and t > NOW - dt.timedelta(days=7):
                kwh *= 1.3
            interval = 3600.0
            if code == GAP:
                if NOW - dt.timedelta(hours=10) < t < NOW - dt.timedelta(hours=5):
                    continue  # collector outage: nothing arrives
                if t == NOW - dt.timedelta(hours=5):
                    kwh, interval = kwh * 5, 5 * 3600.0  # the first reading after it covers 5 h
            out.append(_line("meter", _meter_tags(code, "E-MAIN"), {"consumption_kwh": kwh, "interval_s": interval},
                             t))
            hvac_silent = code == OFFLINE and t > NOW - dt.timedelta(hours=7) and not (hvac_resumes and t > NOW)
            if not hvac_silent:
                gap = interval
                if code == OFFLINE and hvac_resumes and t == NOW + dt.timedelta(hours=1):
                    gap = 8 * 3600.0  # the reading after the silence covers 8 h
                out.append(_line("meter", _meter_tags(code, "E-HVAC"),
                                 {"consumption_kwh": kwh * 0.4, "interval_s": gap}, t))
            for p in b.pv:
                share = PV_SHARE.get(code, 0.95)
                out.append(_line("pv", {"building_code": code, "device_id": p.device_id, "device_kind": "pv_inverter"},
                                 {"generation_kwh": float(yield_1kwp * p.capacity_kwp * share), "interval_s": 3600.0},
                                 t))
            for c in b.ev_piles:
                out.append(_line("ev_pile", {"building_code": code, "device_id": c.device_id, "device_kind": "ev_pile"},
                                 {"consumption_kwh": 3.5, "interval_s": 3600.0}, t))
    return out
