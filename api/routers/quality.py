"""Data-quality findings ingest recorded (contract/quality.py): gaps, stuck registers, backward
steps, resets, rollovers, spikes, unknown devices, clock skew. Newest first; facility managers see
their buildings' findings only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.deps import CurrentUser, ScopeDep, check_code
from api.errors import APIError
from api.influxql import select, time_range
from api.listing import CSV_RESPONSES, Page, PageDep, respond
from contract.quality import MEASUREMENT, FindingCode
from storage.influx import quote_ident, quote_literal

router = APIRouter(prefix="/data-quality", tags=["data quality"])

#: Newest findings read per request; narrow the time range or filter for older ones. [1]
MAX_ROWS = 10_000
DEFAULT_RANGE = dt.timedelta(days=7)
#: InfluxDB stores int64 nanoseconds: 1677-09-21 .. 2262-04-11.
_EARLIEST = dt.datetime(1677, 9, 22, tzinfo=dt.UTC)
_LATEST = dt.datetime(2262, 4, 11, tzinfo=dt.UTC)
_COLUMNS = ("code", "building_code", "device_id", "period_start_ms", "detail", "value")


class FindingOut(BaseModel):
    code: FindingCode
    building_code: str
    device_id: str
    period_start: dt.datetime
    period_end: dt.datetime
    detail: str
    value: float | None


def _utc(t: dt.datetime, name: str) -> dt.datetime:
    if t.tzinfo is None:
        raise APIError(422, "invalid_value", f"{name}: give a time zone, e.g. 2026-01-01T00:00:00Z", name)
    if not _EARLIEST <= t <= _LATEST:
        raise APIError(422, "invalid_value", f"{name}: outside the storable range {_EARLIEST.date()} .. "
                       f"{_LATEST.date()}", name)
    return t.astimezone(dt.UTC)


@router.get("", response_model=Page[FindingOut], responses=CSV_RESPONSES)
@router.get("/export.csv", response_model=Page[FindingOut], responses=CSV_RESPONSES, name="export_data_quality")
def list_findings(request: Request, user: CurrentUser, scope: ScopeDep, page: PageDep,
                  building_code: Annotated[str | None, Query(max_length=10, description="one building")] = None,
                  code: Annotated[FindingCode | None, Query(description="one finding code")] = None,
                  start: Annotated[dt.datetime | None, Query(description="inclusive, ISO 8601 with zone; "
                                                             "default: end - 7 days")] = None,
                  end: Annotated[dt.datetime | None, Query(description="exclusive; default: now")] = None):
    """Findings whose period ends in ``[start, end)``, newest first (at most 10 000 per request)."""
    end = _utc(end, "end") if end is not None else dt.datetime.now(dt.UTC)
    start = _utc(start, "start") if start is not None else max(_EARLIEST, end - DEFAULT_RANGE)
    if end <= start:
        raise APIError(422, "invalid_value", f"end ({end.isoformat()}) must be after start", "end")
    where = time_range(start, end)
    if building_code is not None:
        where.append(f'"building_code" = {quote_literal(check_code(building_code, scope, user))}')
    elif scope is not None:
        if not scope:
            return respond([], FindingOut, page, "data-quality")
        where.append("(" + " OR ".join(f'"building_code" = {quote_literal(c)}' for c in sorted(scope)) + ")")
    if code is not None:
        where.append(f'"code" = {quote_literal(code.value)}')
    q = (select(", ".join(quote_ident(c) for c in _COLUMNS), [MEASUREMENT], where)
         + f" ORDER BY time DESC LIMIT {MAX_ROWS}")
    items = []
    for s in request.app.state.influx.query(q):
        cols = s["columns"]
        for row in s["values"]:
            r = dict(zip(cols, row, strict=True))
            if r.get("code") not in FindingCode.__members__:
                continue  # a code this API version does not know: not guessed at
            items.append(FindingOut(
                code=r["code"], building_code=r["building_code"] or "", device_id=r["device_id"] or "",
                period_start=dt.datetime.fromtimestamp((r["period_start_ms"] or r["time"]) / 1000, dt.UTC),
                period_end=dt.datetime.fromtimestamp(r["time"] / 1000, dt.UTC), detail=r["detail"] or "",
                value=r["value"]))
    return respond(items, FindingOut, page, "data-quality")
