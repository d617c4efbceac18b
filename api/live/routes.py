"""Live building pages: ``/live`` (the viewer's buildings) and ``/live/{building_code}``.

Log-in as on the review pages: the API key from a form goes into the ``ep_key`` cookie (HttpOnly,
SameSite=Strict, here with path ``/live``) and is checked by the API's own ``authenticate`` on every
request. Roles are the API's: a facility manager sees their assigned buildings only (another
building is a 404, as if it did not exist); bureau staff, auditors and administrators see every one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path as FsPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from api.disclosure import web
from api.disclosure.web import DSession, PageActor
from api.live.figures import SUB_ITEMS, live_figures
from api.web_login import PageLogin
from contract.vocabulary import BUILDING_CODE_RE
from registry.models import Building
from storage.influx import InfluxError

router = APIRouter(prefix="/live", tags=["live building page"], include_in_schema=False)

templates = Jinja2Templates(directory=str(FsPath(__file__).resolve().parents[1] / "templates" / "live"))
templates.env.globals.update(web.templates.env.globals)  # the disclosure pages' labels, charts, numbers
templates.env.filters["cst"] = web.cst
templates.env.globals["SUB_ITEMS"] = SUB_ITEMS
SUB_ITEM_LABEL = {"main": ("总负荷（总表）", "Total load (main meter)"),
                  "lighting_sockets": ("照明插座", "Lighting & sockets"), "hvac": ("空调", "HVAC"),
                  "power": ("动力", "Power"), "special": ("特殊用电", "Special")}
WEEKDAY = ("周一 Mon", "周二 Tue", "周三 Wed", "周四 Thu", "周五 Fri", "周六 Sat", "周日 Sun")
ALERT_STATE = {"open": "未处理 Open", "acknowledged": "已确认 Acknowledged"}
templates.env.globals.update(SUB_ITEM_LABEL=SUB_ITEM_LABEL, WEEKDAY=WEEKDAY, ALERT_STATE=ALERT_STATE,
                             one_day=dt.timedelta(days=1),
                             from_ms=lambda ms: dt.datetime.fromtimestamp(ms / 1000, dt.UTC))
#: Buildings listed on ``/live`` for a city-wide role; the code form opens any other.
LIST_LIMIT = 200


_login = PageLogin(area="/live", home="/live", after_logout="/live/login", templates=templates)
_login.add_routes(router)
_login_redirect = _login.redirect


@router.get("", response_class=HTMLResponse)
def my_buildings(request: Request, session: DSession, actor: PageActor,
                 code: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    """我的建筑 The buildings the viewer may open."""
    if actor is None:
        return _login_redirect(request)
    if code:
        return RedirectResponse(f"/live/{quote(code.strip(), safe='')}", status_code=303)
    stmt = select(Building.building_code, Building.name, Building.district).order_by(Building.building_code)
    if not actor.sees_all:
        stmt = stmt.where(Building.building_code.in_(sorted(actor.buildings or ())))
    rows = session.execute(stmt.limit(LIST_LIMIT + 1)).all()
    return templates.TemplateResponse(request, "index.html", {
        "actor": actor, "rows": rows[:LIST_LIMIT], "more": len(rows) > LIST_LIMIT})


def _not_found(request: Request, actor, building_code: str) -> Response:  # noqa: ANN001 - an Actor
    return templates.TemplateResponse(request, "not_found.html", {
        "actor": actor, "building_code": building_code}, status_code=404)


@router.get("/{building_code}", response_class=HTMLResponse)
def building_page(request: Request, session: DSession, actor: PageActor,
                  building_code: Annotated[str, Path(max_length=40)]) -> Response:
    """建筑实时能耗 One building, live: today, the last 7 days, month to date, PV, EV, alerts, data quality."""
    if actor is None:
        return _login_redirect(request)
    code = building_code.strip()
    if not BUILDING_CODE_RE.match(code):  # cannot name a building: the same 404 as an unknown one
        return _not_found(request, actor, code)
    # Another building and an unknown one get the same answer: a facility manager learns nothing
    # about buildings that are not theirs, not even that they exist.
    if not actor.may_see(code):
        return _not_found(request, actor, code)
    try:
        figures = live_figures(session=session, influx=request.app.state.influx,
                               rollups=request.app.state.influx_rollups, building_code=code)
    except InfluxError as exc:
        # Down or overloaded: a page that says so (and reloads itself), not the API's JSON error.
        return templates.TemplateResponse(request, "unavailable.html", {
            "actor": actor, "building_code": code, "detail": str(exc)[:300]},
            status_code=503 if exc.retryable else 502, headers={"Retry-After": "30"} if exc.retryable else None)
    if figures is None:
        return _not_found(request, actor, code)
    today_bars = [(s, " ".join(SUB_ITEM_LABEL[s]), figures.today_kwh[s]) for s in SUB_ITEMS]
    day_bars = [("main", f"{d:%m-%d} {WEEKDAY[d.weekday()]}", v["main"]) for d, v in figures.days]
    return templates.TemplateResponse(request, "building.html", {
        "actor": actor, "f": figures, "today_bars": today_bars, "day_bars": day_bars})
