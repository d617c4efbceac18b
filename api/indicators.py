"""City-wide indicator and audit frames from analytics' service, cached for a short time.

The frames change only when the daily rollups do, yet one building's indicators need its
whole type (for the rank) and several windows (for the audit). Computing them once per
(year, basis, region, day) and serving every building from the cached frames is what makes
one building's indicators answer in milliseconds. A lock per key keeps 50 concurrent first
requests from computing the same frame 50 times.

The key also holds when the rollup job last completed (:class:`RollupStamp`), so the frames are
recomputed as soon as a rollup lands rather than up to ``indicator_cache_ttl_s`` later: right
after the platform's start the first rollups change every indicator.

Before any of that, the endpoints serve from the snapshot the rollup job stores at the end of each
run (:mod:`analytics.snapshot`): one building's rows instead of the city's frames, so the cost of
a building's page no longer grows with the city. The frames are built here only when there is no
usable snapshot (another year, basis or region; a new day; a rollup that wrote none).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from analytics import service, snapshot
from analytics.rollup import read_completion
from contract.localtime import TZ_NAME
from storage.influx import InfluxError, InfluxHTTP


class FrameCache:
    """Values by key, recomputed after ``ttl_s``; one computation per key at a time."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._keys: dict[tuple, threading.Lock] = {}
        self._values: dict[tuple, tuple[float, Any]] = {}

    def peek(self, key: tuple) -> Any | None:
        """The value if it is cached and fresh, else None (never computes)."""
        hit = self._values.get(key)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < self.ttl_s else None

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        hit = self._values.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        with self._lock:
            key_lock = self._keys.setdefault(key, threading.Lock())
        with key_lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
                return hit[1]
            value = compute()
            if self.ttl_s > 0:
                with self._lock:
                    if len(self._values) > 64:  # bounded: old years and bases fall out
                        self._values.clear()
                    self._values[key] = (time.monotonic(), value)
            return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def _today(tz: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(tz)).date()


class CityFrames:
    """One (year, basis, region, day)'s frames, and responses already serialized from them.

    Serialized bodies are kept per building and per audit-list query, so a repeated request
    costs a dictionary lookup instead of a pandas row, a pydantic model and JSON encoding.
    """

    def __init__(self, annual_df: pd.DataFrame, audit_df: pd.DataFrame, year: int) -> None:
        self.annual_df, self.audit_df, self.year = annual_df, audit_df, year
        self._bodies: dict[tuple, bytes] = {}
        self._lock = threading.Lock()

    def cached_body(self, key: tuple) -> bytes | None:
        return self._bodies.get(key)

    def body(self, key: tuple, render: Callable[[], bytes]) -> bytes:
        hit = self._bodies.get(key)
        if hit is None:
            hit = render()
            with self._lock:
                if len(self._bodies) > 20_000:  # bounded: odd filter combinations cannot grow memory
                    self._bodies.clear()
                self._bodies[key] = hit
        return hit

    def building_json(self, building_code: str) -> bytes:
        return self.body(("building", building_code), lambda: building_result(
            self.annual_df, self.audit_df, building_code=building_code, year=self.year).model_dump_json().encode())


class RollupStamp:
    """When the rollup job last completed, from InfluxDB, re-read at most every ``ttl_s``: one small
    query per few seconds instead of one per request on the hot path.

    The routes call :meth:`get` on the event loop, so once a stamp is known it is re-read in a
    background thread and :meth:`get` returns the last one meanwhile: an InfluxDB that is slow or
    down (30 s client timeout) must not stall every request of the server each ``ttl_s``. Only
    the very first read, and every read with ``ttl_s`` 0 (tests), waits for the answer.
    """

    def __init__(self, influx: InfluxHTTP, ttl_s: float = 5.0) -> None:
        self.influx, self.ttl_s = influx, ttl_s
        self._value: int | None = None
        self._read_at = -float("inf")
        self._reading = threading.Lock()  # one read at a time

    def get(self) -> int | None:
        if time.monotonic() - self._read_at < self.ttl_s or not self._reading.acquire(blocking=False):
            return self._value
        if self.ttl_s <= 0 or self._read_at == -float("inf"):
            self._read_and_release()
        else:
            threading.Thread(target=self._read_and_release, name="rollup-stamp", daemon=True).start()
        return self._value

    def _read_and_release(self) -> None:
        try:
            self._value = read_completion(self.influx)
        except InfluxError:
            pass  # keep the last stamp: the frames' own query reports the outage
        finally:
            self._read_at = time.monotonic()
            self._reading.release()


class AuditTotals:
    """The audit list's ``total`` per snapshot and query. A snapshot never changes once written (the
    next run writes a new one, with a new rollup stamp), so what a query matches in it is counted
    once instead of per request: the count walks every matching index entry, 8.5 ms for the
    112,000 triggered rows of 100,000 buildings, the whole cost of a page (docs/benchmarks/api.md)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._values: dict[tuple, int] = {}
        self._lock = threading.Lock()

    def get(self, stamp: tuple[dt.date, int], query: snapshot.AuditQuery) -> int | None:
        return self._values.get((stamp, query))

    def put(self, stamp: tuple[dt.date, int], query: snapshot.AuditQuery, total: int) -> int:
        with self._lock:
            if len(self._values) >= self.max_entries:  # bounded: old snapshots and odd scopes fall out
                self._values.clear()
            self._values[(stamp, query)] = total
        return total


def city_frames(cache: FrameCache, *, influx: InfluxHTTP, session: Session, year: int, basis: str,
                region: str | None, rollup: int | None = None) -> CityFrames:
    """``analytics.service.annual_frame`` and ``audit_frame`` for every building, cached."""
    def compute() -> CityFrames:
        annual_df, audit_df = snapshot.city_frames(influx=influx, session=session, year=year, basis=basis,
                                                   region=region)
        return CityFrames(annual_df, audit_df, year)

    return cache.get(city_key(year=year, basis=basis, region=region, rollup=rollup), compute)


def city_key(*, year: int, basis: str, region: str | None, rollup: int | None = None) -> tuple:
    """``rollup``: :meth:`RollupStamp.get`, so a completed rollup is a new key."""
    return ("city", year, basis, region, _today(TZ_NAME), rollup)


def building_result(annual_df: pd.DataFrame, audit_df: pd.DataFrame, *, building_code: str,
                    year: int) -> service.BuildingIndicators:
    """One building's ``BuildingIndicators`` from the city frames: the same shape and values as
    ``analytics.service.building_indicators`` (tests/api/test_indicators.py compares them)."""
    rows = audit_df.loc[[building_code]] if building_code in audit_df.index else audit_df.iloc[0:0]
    return service.building_result(annual_df.loc[building_code].to_dict(), rows.reset_index().to_dict(orient="records"),
                                   building_code=building_code, year=year)


def snapshot_building_json(conn: Session | Connection, *, year: int, basis: str, building_code: str,
                           stamp_ms: int | None) -> bytes | None:
    """One building's body, stored finished by the rollup job (one primary-key read), or None
    when the snapshot is missing, stale or lacks the building: the caller builds the frames instead."""
    hit = snapshot.read_building(conn, year=year, basis=basis, building_code=building_code)
    if hit is None:
        return None
    as_of_day, rollup_ms, body = hit
    return body if snapshot.usable(as_of_day, rollup_ms, today=_today(TZ_NAME), stamp_ms=stamp_ms) else None
