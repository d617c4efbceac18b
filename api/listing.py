"""Pagination, the common building filters, and CSV export for every list endpoint."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.errors import APIError
from api.params import FilterText
from contract.vocabulary import BuildingType
from registry.fleet import Ownership

T = TypeVar("T", bound=BaseModel)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int
    offset: int
    format: Literal["json", "csv"]


async def page_params(request: Request,
                limit: Annotated[int, Query(ge=1, description="page size (at most EP_MAX_PAGE_LIMIT)")] = 100,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
                format: Annotated[Literal["json", "csv"], Query(description="csv: the whole filtered list "
                                                                 "as CSV, ignoring limit/offset")] = "json",
                ) -> PageParams:
    cap = request.app.state.settings.max_page_limit
    if limit > cap:
        raise APIError(422, "invalid_value", f"limit: at most {cap} (got {limit})", "limit")
    fmt = "csv" if request.url.path.endswith("/export.csv") else format
    return PageParams(limit=limit, offset=offset, format=fmt)


PageDep = Annotated[PageParams, Depends(page_params)]


class BuildingFilter(BaseModel):
    district: str | None = None
    building_type: BuildingType | None = None
    ownership: Ownership | None = None

    def matches(self, *, district: str, building_type: str, ownership: str) -> bool:
        return ((self.district is None or district == self.district)
                and (self.building_type is None or building_type == self.building_type.value)
                and (self.ownership is None or ownership == self.ownership.value))


async def building_filter(
    district: Annotated[FilterText | None, Query()] = None,
    building_type: Annotated[BuildingType | None, Query(description="office, mall, hotel, ...")] = None,
    ownership: Annotated[Ownership | None, Query()] = None,
) -> BuildingFilter:
    return BuildingFilter(district=district, building_type=building_type, ownership=ownership)


FilterDep = Annotated[BuildingFilter, Depends(building_filter)]

CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON page, or CSV"},
}


def _cell(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, default=str)
    return "" if v is None else v


def to_csv(rows: Iterable[BaseModel], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        d = row.model_dump()
        w.writerow([_cell(d.get(c)) for c in columns])
    return buf.getvalue()


def respond(items: Sequence[T], model: type[T], params: PageParams, name: str) -> Any:
    """A ``Page`` of ``items[offset:offset+limit]``, or all items as a CSV attachment."""
    if params.format == "csv":
        body = to_csv(items, list(model.model_fields))
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    page = list(items[params.offset: params.offset + params.limit])
    return Page[model](items=page, total=len(items), limit=params.limit, offset=params.offset)


def page_json(items_json: Sequence[str], *, total: int, params: PageParams) -> bytes:
    """``Page[T](...).model_dump_json()`` for items already serialized by ``T.model_dump_json()``:
    the same bytes without parsing and validating every item again (the audit list from the
    indicator snapshot; tests/api/test_snapshot.py compares the two)."""
    return (f'{{"items":[{",".join(items_json)}],"total":{int(total)},"limit":{int(params.limit)},'
            f'"offset":{int(params.offset)}}}').encode()
