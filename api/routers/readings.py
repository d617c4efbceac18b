"""Readings of one building over a time range, grouped into a whitelisted interval."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import BuildingCodeDep
from api.errors import APIError
from api.influxql import INTERVALS_S, READING_FIELDS, InfluxQLError, readings_query
from api.listing import CSV_RESPONSES
from api.params import DeviceId, StorageTime
from storage.influx import InfluxHTTP

router = APIRouter(prefix="/buildings/{building_code}/readings", tags=["readings"])

#: At most this many intervals per request, so one request cannot ask InfluxDB for years of 15 min data.
MAX_POINTS = 20_000


class Point(BaseModel):
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


def device_series(influx: InfluxHTTP, *, measurement: str, field: str, building_code: str, start: dt.datetime,
                  end: dt.datetime, interval: str, device_id: str | None = None,
                  device_kind: str | None = None) -> list[DeviceSeries]:
    """One field of one building per device, aggregated per interval (``READING_FIELDS``): what this
    route answers, and what the live building page (api/live) reads. Raises ``InfluxQLError``."""
    q = readings_query(measurement=measurement, field=field, building_code=building_code,
                       start=start, end=end, interval=interval, device_id=device_id, device_kind=device_kind)
    return [DeviceSeries(device_id=s["tags"].get("device_id", ""),
                         points=[Point(time=dt.datetime.fromtimestamp(t / 1000, dt.UTC), value=v)
                                 for t, v in s["values"] if v is not None]) for s in influx.query(q)]


@router.get("", response_model=Readings, responses=CSV_RESPONSES)
def get_readings(
    request: Request,
    building_code: BuildingCodeDep,
    measurement: Annotated[Literal[tuple(READING_FIELDS)], Query(description="meter, pv, ev_pile, ev_session")],
    field: Annotated[str, Query(description="stored field, e.g. consumption_kwh (docs/glossary.md)")],
    start: Annotated[StorageTime, Query(description="inclusive, ISO 8601 with zone")],
    end: Annotated[StorageTime, Query(description="exclusive, ISO 8601 with zone")],
    interval: Annotated[Literal[tuple(INTERVALS_S)], Query()] = "1h",
    device_id: Annotated[DeviceId | None, Query()] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
):
    if end <= start:
        raise APIError(422, "invalid_value", f"end ({end.isoformat()}) must be after start", "end")
    if field not in READING_FIELDS[measurement]:
        raise APIError(422, "invalid_value", f"field: {field!r} is not one of "
                       f"{sorted(READING_FIELDS[measurement])} for measurement {measurement}", "field")
    n = (end - start).total_seconds() / INTERVALS_S[interval]
    if n > MAX_POINTS:
        raise APIError(422, "invalid_value", f"interval: {interval} over this range gives {n:.0f} points "
                       f"per device, more than {MAX_POINTS}; choose a coarser interval", "interval")
    try:
        out = device_series(request.app.state.influx, measurement=measurement, field=field,
                            building_code=building_code, start=start, end=end, interval=interval,
                            device_id=device_id)
    except InfluxQLError as e:
        raise APIError(422, "invalid_value", str(e), "field") from None
    result = Readings(building_code=building_code, measurement=measurement, field=field,
                      aggregate=READING_FIELDS[measurement][field], interval=interval, start=start,
                      end=end, series=out)
    if format == "csv":
        lines = ["time,device_id,value"]
        lines += [f"{p.time.isoformat()},{s.device_id},{p.value!r}" for s in out for p in s.points]
        return Response("\n".join(lines) + "\n", media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="readings-{building_code}.csv"'})
    return result
