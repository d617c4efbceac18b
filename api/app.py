"""The FastAPI application: ``create_app(settings)`` wires settings, database, InfluxDB and routers."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from analytics.rollup import ensure_rollup_rp
from api import disclosure, errors, live
from api.alerts.context import default_context
from api.alerts.scheduler import AlertScheduler
from api.errors import ErrorBody
from api.indicators import AuditTotals, FrameCache, RollupStamp
from api.routers import admin, alerts, buildings, health, indicators, item_codes, quality, readings, retrofits
from api.settings import Settings, get_settings
from registry import db as registry_db
from storage.clip import clip
from storage.influx import InfluxError, InfluxHTTP

log = logging.getLogger(__name__)
#: Browsers remember "HTTPS only" for this long after any answer over TLS: one year. [s]
HSTS_MAX_AGE_S = 365 * 86400

DESCRIPTION = """Public-building energy supervision: buildings, readings, indicators, the audit list,
plan-target progress and alerts. Authenticate with an API key (`Authorization: Bearer ep_...`).
Every 4xx answer is `{"code", "message", "field"}`; every list takes `limit`/`offset`, the
filters `district`, `building_type`, `ownership`, and `format=csv` (or `/export.csv`)."""


def _ensure_rollup_rp(influx: InfluxHTTP, rollup_rp: str) -> None:
    """Create the rollup retention policy if the rollup job has not yet, so that before its first
    run the indicator routes answer with no data instead of failing on a missing policy. Best
    effort: InfluxDB down (or no right to create it) must not stop the API; the job creates it."""
    try:
        ensure_rollup_rp(influx, rollup_rp)
    except InfluxError as exc:
        log.warning("could not check the rollup retention policy %r (the rollup job creates it): %s", rollup_rp, exc)


class HSTSMiddleware:
    """``Strict-Transport-Security`` on every answer over TLS, as plain ASGI: starlette's
    ``BaseHTTPMiddleware`` (``@app.middleware("http")``) costs a task and a stream per request,
    about a fifth of a snapshot request's time (docs/benchmarks/api.md)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Over TLS only (or behind a TLS proxy, whose X-Forwarded-Proto uvicorn turns into the
        # scheme): browsers ignore it over HTTP, and it would lock a development instance on
        # plain HTTP out of the browser for a year.
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_S}"
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()
    engine = registry_db.make_engine(settings.database_url)
    if migrate:
        registry_db.migrate(engine)  # every table of the database, the API's too
    influx = settings.influx()
    rollups = settings.rollups()

    ctx = replace(default_context(rollups=rollups, rollup_rp=settings.rollup_rp),
                  silence_grace_s=settings.alert_silence_grace_s)

    @asynccontextmanager
    async def lifespan(app_: FastAPI):
        problem = settings.transport_problem()
        if problem:  # served by some other way than `python -m api serve`, which checks first
            raise RuntimeError(problem)
        _ensure_rollup_rp(influx, settings.rollup_rp)
        app_.state.rollup_stamp.get()  # the one read that waits: here, not in the first request
        # The ~230,000 objects of the loaded libraries never die; the collector would walk them all at
        # every full collection, a 130 ms stall of every request in flight (the p95 at 50 clients,
        # docs/benchmarks/api.md). Frozen, a full collection walks only what requests made.
        gc.collect()
        gc.freeze()
        scheduler = None
        if settings.run_scheduler:
            scheduler = AlertScheduler(settings=settings, sessions=app_.state.sessions, influx=influx,
                                       ctx=ctx).start()
        yield
        if scheduler is not None:
            scheduler.stop()
        influx.close()
        rollups.close()

    # /docs and /redoc serve Swagger UI and ReDoc from assets shipped in the fastapi-offline package:
    # government and on-premises networks often cannot reach the CDN FastAPI loads them from.
    app: FastAPI = FastAPIOffline(title="Energy supervision API", version="1", description=DESCRIPTION,
                                  lifespan=lifespan, static_url="/static/api-docs",
                                  responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody},
                                             404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = registry_db.make_sessionmaker(engine)
    # Reads made on the event loop (a building's snapshot): SQLite only, where a primary-key read is
    # cheaper than the hop to a worker thread, and with no busy wait, so that meeting a lock sends
    # the read to a thread instead of stalling the loop (api/routers/indicators.py).
    app.state.loop_reads = (registry_db.make_engine(settings.database_url, busy_timeout_s=0)
                            if engine.dialect.name == "sqlite" else None)
    app.state.influx = influx
    app.state.influx_rollups = rollups
    app.state.alert_context = ctx
    app.state.indicator_cache = FrameCache(settings.indicator_cache_ttl_s)
    app.state.rollup_stamp = RollupStamp(rollups)
    app.state.audit_totals = AuditTotals()
    app.state.key_checks = {}  # key digest -> the one verification in flight (api/deps.py)
    errors.install(app)

    app.add_middleware(HSTSMiddleware)

    @app.exception_handler(InfluxError)
    async def _influx_failed(_: Request, exc: InfluxError) -> JSONResponse:
        # The caller did nothing wrong. Down or overloaded: retrying later is sensible (503);
        # a refused query is our bug, reported as a bad upstream answer (502), never as a 4xx.
        if exc.retryable:
            body = ErrorBody(code="storage_unavailable", message=clip(f"the time-series store did not answer: {exc}"))
            return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})
        body = ErrorBody(code="storage_error", message=clip(f"the time-series store refused the query: {exc}"))
        return JSONResponse(body.model_dump(), status_code=502)

    for module in (health, buildings, readings, indicators, alerts, quality, admin, retrofits, item_codes):
        app.include_router(module.router)
    app.include_router(live.router)  # the live building page (api/live)
    # Last: its public pages include catch-all paths under /disclosures.
    app.include_router(disclosure.router)
    return app
