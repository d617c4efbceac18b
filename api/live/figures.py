"""What the live building page shows, read through the functions the API's routes use:
``api.routers.readings.device_series`` (today and the last 7 days, from the raw measurements) and
``analytics.service.window_frame`` (month to date and the same days last year, from the daily
rollups, as the indicator routes do). Nothing here computes an indicator of its own: it only adds
interval values up by local day and by the registry's sub-item of each meter.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.reader import registry_frame
from analytics.service import window_frame
from analytics.tables import DEFAULT_BASIS
from api.db import Alert
from api.routers.readings import device_series
from contract.localtime import TZ_NAME, local_midnight, same_day_last_year
from registry.models import Meter
from storage.influx import InfluxHTTP, quote_literal

#: Sub-items in page order; ``main`` is the meter of the building's whole load.
SUB_ITEMS = ("main", "lighting_sockets", "hvac", "power", "special")
#: The measurement of data-quality findings, when the platform writes one.
QUALITY_MEASUREMENT = "data_quality"
DAYS = 7


@dataclass
class Period:
    """Month-to-date figures of one window, from ``window_frame`` (daily rollups)."""

    start: dt.date
    end: dt.date  # exclusive
    electricity_kwh: float | None
    energy_tce: float | None
    coverage: float | None


@dataclass
class LiveFigures:
    building_code: str
    name: str
    district: str
    now: dt.datetime  # local time of the reading
    today_kwh: dict[str, float]  # sub-item -> kWh since local midnight
    days: list[tuple[dt.date, dict[str, float]]]  # the 7 complete local days before today
    pv_today_kwh: float
    pv_days_kwh: float
    ev_today_kwh: float
    ev_days_kwh: float
    has_pv: bool
    ev_piles: int
    mtd: Period | None  # None on the first day of a month (no complete day yet)
    mtd_last_year: Period | None
    alerts: list[Alert] = field(default_factory=list)
    quality: list[dict] | None = None  # None: there is no findings store


def _by_day(influx: InfluxHTTP, z: ZoneInfo, *, measurement: str, field_: str, code: str, start: dt.datetime,
            end: dt.datetime, key_of: dict[str, str] | None = None,
            device_kind: str | None = None) -> dict[tuple[dt.date, str], float]:
    # Hourly intervals start on whole UTC hours, and China Standard Time is UTC+8 all year (no DST),
    # so every hour falls into exactly one local day.
    out: dict[tuple[dt.date, str], float] = defaultdict(float)
    for s in device_series(influx, measurement=measurement, field=field_, building_code=code, start=start, end=end,
                           interval="1h", device_kind=device_kind):
        key = key_of.get(s.device_id) if key_of is not None else ""
        if key is None:
            continue  # not an electricity meter
        for p in s.points:
            out[(p.time.astimezone(z).date(), key)] += p.value
    return out


def _period(rollups: InfluxHTTP, attrs, devices, start: dt.date, end: dt.date, now: dt.datetime,
            tz: str) -> Period:
    row = window_frame(influx=rollups, attrs=attrs, devices=devices, start=local_midnight(start, tz),
                       end=local_midnight(end, tz), basis=DEFAULT_BASIS, region=None, now=now, tz=tz).iloc[0]

    def val(c: str) -> float | None:
        v = row.get(c)
        return None if v is None or v != v else float(v)  # NaN (no data) -> None

    return Period(start, end, val("electricity_kwh"), val("energy_tce"), val("coverage"))


def quality_findings(influx: InfluxHTTP, code: str, limit: int = 20) -> list[dict] | None:
    """The newest data-quality findings of the building, or None when no ``data_quality`` store exists."""
    names = {v[0] for s in influx.query("SHOW MEASUREMENTS") for v in s["values"]}
    if QUALITY_MEASUREMENT not in names:
        return None
    q = (f'SELECT * FROM "{QUALITY_MEASUREMENT}" WHERE "building_code" = {quote_literal(code)} '  # noqa: S608
         f"ORDER BY time DESC LIMIT {int(limit)}")
    rows = []
    for s in influx.query(q):
        for v in s["values"]:
            rows.append(dict(zip(s["columns"], v, strict=False)))
    return rows


def live_figures(*, session: Session, influx: InfluxHTTP, rollups: InfluxHTTP, building_code: str,
                 now: dt.datetime | None = None, tz: str = TZ_NAME) -> LiveFigures | None:
    """The page's figures, or None when the building is not in the registry."""
    attrs, devices = registry_frame(session=session, codes=[building_code])
    if attrs.empty:
        return None
    z = ZoneInfo(tz)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(z)
    today = now.date()
    start = local_midnight(today - dt.timedelta(days=DAYS), tz)
    sub_of = {d: (s or "main") for d, s in session.execute(
        select(Meter.device_id, Meter.sub_item).where(Meter.building_code == building_code,
                                                      Meter.carrier == "electricity"))}
    load = _by_day(influx, z, measurement="meter", field_="consumption_kwh", code=building_code, start=start,
                   end=now, key_of=sub_of)
    # A PV system's grid-point meter reports generation too, under the same device id: the
    # inverters' generation is the building's (as analytics counts it).
    pv = _by_day(influx, z, measurement="pv", field_="generation_kwh", code=building_code, start=start, end=now,
                 device_kind="pv_inverter")
    ev = _by_day(influx, z, measurement="ev_pile", field_="consumption_kwh", code=building_code, start=start, end=now)
    day_list = [today - dt.timedelta(days=k) for k in range(DAYS, 0, -1)]
    mtd = last = None
    if today.day > 1:
        mtd = _period(rollups, attrs, devices, today.replace(day=1), today, now, tz)
        ly_end = same_day_last_year(today)
        last = _period(rollups, attrs, devices, ly_end.replace(day=1), ly_end, now, tz)
    a = attrs.iloc[0]
    return LiveFigures(
        building_code=building_code, name=str(a["name"]), district=str(a["district"]), now=now,
        today_kwh={s: load.get((today, s), 0.0) for s in SUB_ITEMS},
        days=[(d, {s: load.get((d, s), 0.0) for s in SUB_ITEMS}) for d in day_list],
        pv_today_kwh=pv.get((today, ""), 0.0), pv_days_kwh=sum(pv.get((d, ""), 0.0) for d in day_list),
        ev_today_kwh=ev.get((today, ""), 0.0), ev_days_kwh=sum(ev.get((d, ""), 0.0) for d in day_list),
        has_pv=bool(a["has_pv"]), ev_piles=int(a["ev_piles"]), mtd=mtd, mtd_last_year=last,
        alerts=list(session.scalars(select(Alert).where(Alert.building_code == building_code,
                                                        Alert.state != "resolved")
                                    .order_by(Alert.opened_at.desc()))),
        quality=quality_findings(influx, building_code))
