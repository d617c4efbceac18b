"""Readings of one building over a time range, grouped into a whitelisted interval; days, weeks
(from Monday) and months are China Standard Time calendar buckets, so their sums equal the daily
rollups the indicators read (docs/api.md, Readings)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import BuildingCodeDep
from api.errors import APIError
from api.influxql import (
    CALENDAR_INTERVALS,
    INTERVALS_S,
    READING_FIELDS,
    InfluxQLError,
    bucket_start,
    months_from_days,
    readings_query,
)
from api.listing import CSV_RESPONSES
from api.params import DeviceId, StorageTime
from contract.localtime import TZ_NAME
from storage.influx import InfluxHTTP

router = APIRouter(prefix="/buildings/{building_code}/readings", tags=["readings"])

#: At most this many intervals per request, so one request cannot ask InfluxDB for years of 15 min data.
MAX_POINTS = 20_000


class Point(BaseModel):
    #: Start of the bucket, in local time (+08:00).
    time: dt.datetime
    value: float


class DeviceSeries(BaseModel):
    device_id: str
    points: list[Point]


class Readings(BaseModel):
    building_code: str
    measurement: str
    field: str
    aggregate: str
    interval: str
    start: dt.datetime
    end: dt.datetime
    series: list[DeviceSeries]


def _on_boundary(t: dt.datetime, interval: str, name: str) -> None:
    """A calendar bucket cut by the range would be a part-day (week, month) that no daily figure
    matches: refuse it rather than answer with it."""
    local = t.astimezone(ZoneInfo(TZ_NAME))
    ok = local.time() == dt.time() and (interval == "1d" or (interval == "1w" and local.weekday() == 0)
                                        or (interval == "1mo" and local.day == 1))
    if not ok:
        what = {"1d": "a local midnight", "1w": "a Monday local midnight",
                "1mo": "the 1st of a month at local midnight"}[interval]
        raise APIError(422, "invalid_value", f"{name}: interval {interval} needs {what} (China Standard "
                       f"Time, e.g. 2026-06-01T00:00:00+08:00); got {local.isoformat()}", name)


def device_series(influx: InfluxHTTP, *, measurement: str, field: str, building_code: str, start: dt.datetime,
                  end: dt.datetime, interval: str, device_id: str | None = None,
                  device_kind: str | None = None) -> list[DeviceSeries]:
    """One field of one building per device, aggregated per interval (``READING_FIELDS``), each point
    stamped with the local start of its bucket: what this route answers, and what the live building
    page (api/live) reads. Raises ``InfluxQLError``."""
    q = readings_query(measurement=measurement, field=field, building_code=building_code,
                       start=start, end=end, interval=interval, device_id=device_id, device_kind=device_kind)
    agg = READING_FIELDS[measurement][field]
    return [DeviceSeries(device_id=s["tags"].get("device_id", ""), points=[
        Point(time=t, value=v) for t, v in (
            months_from_days(s["values"], agg) if interval == "1mo"
            else ((bucket_start(row[0]), row[1]) for row in s["values"] if row[1] is not None))])
        for s in influx.query(q)]


@router.get("", response_model=Readings, responses=CSV_RESPONSES)
def get_readings(
    request: Request,
    building_code: BuildingCodeDep,
    measurement: Annotated[Literal[tuple(READING_FIELDS)], Query(description="meter, pv, ev_pile, ev_session")],
    field: Annotated[str, Query(description="stored field, e.g. consumption_kwh (docs/glossary.md)")],
    start: Annotated[StorageTime, Query(description="start of the first interval, ISO 8601 with zone")],
    end: Annotated[StorageTime, Query(description="end of the last interval, ISO 8601 with zone")],
    interval: Annotated[Literal[tuple(INTERVALS_S)], Query()] = "1h",
    device_id: Annotated[DeviceId | None, Query()] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
):
    if end <= start:
        raise APIError(422, "invalid_value", f"end ({end.isoformat()}) must be after start", "end")
    if field not in READING_FIELDS[measurement]:
        raise APIError(422, "invalid_value", f"field: {field!r} is not one of "
                       f"{sorted(READING_FIELDS[measurement])} for measurement {measurement}", "field")
    if interval in CALENDAR_INTERVALS:
        _on_boundary(start, interval, "start")
        _on_boundary(end, interval, "end")
    # Months are summed from local days in Python, so the days are what InfluxDB returns.
    n = (end - start).total_seconds() / INTERVALS_S["1d" if interval == "1mo" else interval]
    if n > MAX_POINTS:
        raise APIError(422, "invalid_value", f"interval: {interval} over this range gives {n:.0f} points "
                       f"per device, more than {MAX_POINTS}; choose a coarser interval", "interval")
    try:
        out = device_series(request.app.state.influx, measurement=measurement, field=field,
                            building_code=building_code, start=start, end=end, interval=interval,
                            device_id=device_id)
    except InfluxQLError as e:
        raise APIError(422, "invalid_value", str(e), "field") from None
    agg = READING_FIELDS[measurement][field]
    result = Readings(building_code=building_code, measurement=measurement, field=field,
                      aggregate=agg, interval=interval, start=start.astimezone(ZoneInfo(TZ_NAME)),
                      end=end.astimezone(ZoneInfo(TZ_NAME)), series=out)
    if format == "csv":
        lines = ["time,device_id,value"]
        lines += [f"{p.time.isoformat()},{s.device_id},{p.value!r}" for s in out for p in s.points]
        return Response("\n".join(lines) + "\n", media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="readings-{building_code}.csv"'})
    return result
