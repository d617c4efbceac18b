"""Users, API keys and building assignments (administrators only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from api.db import ApiKey, Assignment, User, utcnow
from api.deps import AdminUser, CurrentUser, SessionDep
from api.errors import APIError, not_found
from api.listing import CSV_RESPONSES, Page, PageDep, respond
from api.params import DbId
from api.security import Role, create_user, issue_key, key_cache
from contract.vocabulary import BUILDING_CODE_RE
from registry import repo

router = APIRouter(prefix="/users", tags=["users"])

RoleName = Literal["administrator", "bureau_staff", "auditor", "facility_manager"]
UserId = Annotated[DbId, Path()]


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    role: RoleName
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    email: str | None
    created_at: dt.datetime
    building_codes: list[str]


class UserWithKey(UserOut):
    api_key: str = Field(description="shown once; only its hash is stored")


class NewKey(BaseModel):
    api_key: str


class Assignments(BaseModel):
    building_codes: list[str] = Field(max_length=10_000)


def _out(session, u: User) -> UserOut:
    codes = list(session.scalars(select(Assignment.building_code).where(Assignment.user_id == u.id)
                                 .order_by(Assignment.building_code)))
    return UserOut(id=u.id, name=u.name, role=u.role, email=u.email, created_at=u.created_at,
                   building_codes=codes)


def _user(session, user_id: int) -> User:
    u = session.get(User, user_id)
    if u is None:
        raise not_found("user", user_id, "user_id")
    return u


@router.get("/me", response_model=UserOut)
def me(session: SessionDep, user: CurrentUser) -> UserOut:
    """The caller, with the buildings assigned to them."""
    return _out(session, _user(session, user.user_id))


@router.get("", response_model=Page[UserOut], responses=CSV_RESPONSES)
@router.get("/export.csv", response_model=Page[UserOut], responses=CSV_RESPONSES, name="export_users")
def list_users(session: SessionDep, _: AdminUser, page: PageDep):
    users = session.scalars(select(User).order_by(User.id)).all()
    return respond([_out(session, u) for u in users], UserOut, page, "users")


@router.post("", response_model=UserWithKey, status_code=201)
def add_user(session: SessionDep, _: AdminUser, body: UserCreate) -> UserWithKey:
    if session.scalar(select(User).where(User.name == body.name)) is not None:
        raise APIError(409, "conflict", f"a user named {body.name!r} exists", "name")
    u, key = create_user(session, name=body.name, role=body.role, email=body.email)
    session.commit()
    return UserWithKey(**_out(session, u).model_dump(), api_key=key)


@router.post("/{user_id}/keys", response_model=NewKey, status_code=201)
def add_key(session: SessionDep, _: AdminUser, user_id: UserId) -> NewKey:
    key = issue_key(session, user=_user(session, user_id))
    session.commit()
    return NewKey(api_key=key)


@router.delete("/{user_id}/keys", status_code=204)
def revoke_keys(session: SessionDep, _: AdminUser, user_id: UserId) -> None:
    """Revoke every key of a user (they keep their history)."""
    _user(session, user_id)
    for k in session.scalars(select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))):
        k.revoked_at = utcnow()
    session.commit()
    key_cache.clear()


@router.put("/{user_id}/buildings", response_model=UserOut)
def assign_buildings(session: SessionDep, _: AdminUser, user_id: UserId, body: Assignments) -> UserOut:
    """Replace the buildings assigned to a facility manager."""
    u = _user(session, user_id)
    if u.role != Role.facility_manager:
        raise APIError(422, "invalid_value", f"user {u.name} is a {u.role}; only facility managers get "
                       "assigned buildings", "user_id")
    for i, code in enumerate(body.building_codes):
        if not BUILDING_CODE_RE.match(code) or repo.get_building(session=session, building_code=code) is None:
            raise APIError(422, "invalid_value", f"building_codes[{i}]: {code!r} is not a registered building",
                           f"building_codes.{i}")
    session.execute(delete(Assignment).where(Assignment.user_id == user_id))
    for code in sorted(set(body.building_codes)):
        session.add(Assignment(user_id=user_id, building_code=code))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise APIError(409, "conflict", "assignments changed concurrently; retry", "building_codes") from None
    return _out(session, u)
