"""Dependencies shared by the routers: database session, caller, role and building checks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import Assignment
from api.errors import APIError
from api.params import BuildingCode
from api.security import Principal, Role, authenticate, cached_principal, key_digest
from api.settings import Settings
from contract.vocabulary import BUILDING_CODE_RE

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token: `Authorization: Bearer ep_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key: `X-API-Key: ep_...`")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]


def _authenticate_blocking(request: Request, presented: str, ttl_s: float) -> Principal | None:
    with request.app.state.sessions() as session:
        return authenticate(session, presented=presented, cache_ttl_s=ttl_s)


async def _verify_once(request: Request, presented: str, ttl_s: float) -> Principal | None:
    """Verify a key in a worker thread, once however many requests present it meanwhile.

    When a busy key's cache entry expires (or at start), every request in flight misses at once:
    50 clients meant 50 scrypt checks of 41 ms on two cores, about a second in which the server
    answered nothing (docs/benchmarks/api.md). The later requests await the first one's check.
    ``app.state.key_checks`` is touched only on the event loop, so it needs no lock."""
    checks: dict[str, asyncio.Future] = request.app.state.key_checks
    digest = key_digest(presented)
    check = checks.get(digest)
    if check is None:
        check = asyncio.ensure_future(run_in_threadpool(_authenticate_blocking, request, presented, ttl_s))
        checks[digest] = check
        check.add_done_callback(lambda _: checks.pop(digest, None))
    # shield: a client that disconnects cancels its own wait, not the check the others await
    return await asyncio.shield(check)


# Async, so that a request whose key was verified recently costs no thread hop and no database
# round trip; only an unverified key goes to a worker thread for the database and scrypt.
async def current_user(request: Request,
                       bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                       header: Annotated[str | None, Depends(_header)]) -> Principal:
    presented = bearer.credentials if bearer is not None else header
    if not presented:
        raise APIError(401, "unauthenticated", "an API key is required (Authorization: Bearer ep_...)",
                       "Authorization", headers={"WWW-Authenticate": "Bearer"})
    ttl_s = request.app.state.settings.key_cache_ttl_s
    principal = cached_principal(presented, cache_ttl_s=ttl_s)
    if principal is None:
        principal = await _verify_once(request, presented, ttl_s)
    if principal is None:
        raise APIError(401, "unauthenticated", "the API key is unknown or revoked", "Authorization",
                       headers={"WWW-Authenticate": "Bearer"})
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(*roles: str):
    """A dependency that lets only ``roles`` through (403 names the caller's role)."""

    async def check(user: CurrentUser) -> Principal:
        if user.role not in roles:
            raise APIError(403, "forbidden", f"role {user.role} may not do this; allowed: {', '.join(roles)}")
        return user

    return check


AdminUser = Annotated[Principal, Depends(require(Role.administrator))]
AuditorUser = Annotated[Principal, Depends(require(Role.administrator, Role.auditor))]
#: Roles that see every building (facility managers see only their assignments).
CityWideUser = Annotated[Principal, Depends(require(Role.administrator, Role.bureau_staff, Role.auditor))]


def building_scope(session: Session, user: Principal) -> frozenset[str] | None:
    """The building codes ``user`` may see, or None for all buildings."""
    if user.role != Role.facility_manager:
        return None
    codes = session.scalars(select(Assignment.building_code).where(Assignment.user_id == user.user_id))
    return frozenset(codes)


def _scope_blocking(request: Request, user: Principal) -> frozenset[str] | None:
    with request.app.state.sessions() as session:
        return building_scope(session, user)


async def scope_dep(request: Request, user: CurrentUser) -> frozenset[str] | None:
    if user.role != Role.facility_manager:
        return None  # everyone else sees every building: no database needed
    return await run_in_threadpool(_scope_blocking, request, user)


ScopeDep = Annotated[frozenset[str] | None, Depends(scope_dep)]


def check_code(building_code: str, scope: frozenset[str] | None, user: Principal) -> str:
    if not BUILDING_CODE_RE.match(building_code):
        raise APIError(422, "invalid_value", f"building_code {building_code!r} is not 6 digits + type "
                       "letter A-H + 3 digits", "building_code")
    if scope is not None and building_code not in scope:
        raise APIError(403, "not_assigned", f"building {building_code} is not assigned to {user.name}",
                       "building_code")
    return building_code


async def building_path(user: CurrentUser, scope: ScopeDep,
                        building_code: Annotated[BuildingCode, Path(description="10-character building code, e.g. "
                                                           "510402A001", examples=["510402A001"])]) -> str:
    return check_code(building_code, scope, user)


#: A building code from the path that the caller is allowed to see.
BuildingCodeDep = Annotated[str, Depends(building_path)]
