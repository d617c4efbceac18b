"""What the disclosure routers share: the session (schema ensured), the acting user, templates.

Authentication is the API's own (``api.deps.CurrentUser`` and ``api.security.authenticate``). The
review pages are used from a browser, which cannot add an ``Authorization`` header to a link or a
form, so the same API key may also come from the ``ep_key`` cookie that the login page sets
(HttpOnly, SameSite=Strict: another site's form cannot post with it).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from api.deps import CurrentUser, SessionDep, SettingsDep, building_scope
from api.disclosure import charts, labels
from api.disclosure.workflow import Actor, WorkflowRefusal
from api.errors import APIError
from api.security import authenticate
from contract.localtime import TZ_NAME
from storage.schema import migrate_once

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates" / "disclosure"
KEY_COOKIE = "ep_key"
#: Pages show times in the city's zone (China Standard Time, UTC+8), never UTC.
PAGE_TZ = ZoneInfo(TZ_NAME)


def cst(t: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``t`` in China Standard Time; a naive time is UTC (SQLite returns stored times without zone)."""
    if t is None:
        return "—"
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(PAGE_TZ).strftime(fmt)


def sub_item_bars(figures: dict) -> list[tuple[str, str, float]]:
    """(sub_item, label, annual kWh) rows of the sub-item chart, in MOHURD order."""
    sub = figures.get("electricity_by_sub_item_kwh", {})
    return [(s, labels.bi(labels.SUB_ITEM, s), float(sub[s])) for s in labels.SUB_ITEM if s in sub]


def carrier_bars(figures: dict) -> list[tuple[str, str, float]]:
    """(carrier, label, tce) rows of the energy-by-carrier chart, largest first."""
    rows = [(c["carrier"], labels.bi(labels.CARRIER, c["carrier"]), float(c["energy_tce"]))
            for c in figures.get("carriers", [])]
    return sorted(rows, key=lambda r: -r[2])


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["cst"] = cst
templates.env.globals.update(
    sub_item_bars=sub_item_bars, carrier_bars=carrier_bars,
    bi=labels.bi, L=labels, charts=charts, refusal_zh=labels.refusal_zh,
    pct=lambda v, digits=1: "—" if v is None else f"{v * 100:.{digits}f}%",
    num=lambda v, digits=1: "—" if v is None else f"{v:,.{digits}f}",
)


def disclosure_session(session: SessionDep) -> Session:
    migrate_once(session.get_bind())
    return session


DSession = Annotated[Session, Depends(disclosure_session)]


def actor_of(session: Session, user) -> Actor:  # noqa: ANN001 - api.security.Principal
    return Actor(user_id=user.user_id, name=user.name, role=user.role, buildings=building_scope(session, user))


def api_actor(session: DSession, user: CurrentUser) -> Actor:
    return actor_of(session, user)


ActorDep = Annotated[Actor, Depends(api_actor)]


def page_actor(request: Request, session: DSession, settings: SettingsDep) -> Actor | None:
    """The user behind the ``ep_key`` cookie, or None (the page then redirects to the login)."""
    presented = request.cookies.get(KEY_COOKIE)
    if not presented:
        return None
    user = authenticate(session, presented=presented, cache_ttl_s=settings.key_cache_ttl_s)
    return None if user is None else actor_of(session, user)


PageActor = Annotated[Actor | None, Depends(page_actor)]


def api_error(refusal: WorkflowRefusal) -> APIError:
    """The API's error shape for a workflow refusal (``{"code", "message", "field"}``)."""
    return APIError(refusal.status, refusal.code, refusal.message, refusal.field)
