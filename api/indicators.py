"""City-wide indicator and audit frames from analytics' service, cached for a short time.

The frames change only when the daily rollups do, yet one building's indicators need its
whole type (for the rank) and several windows (for the audit). Computing them once per
(year, basis, region, day) and serving every building from the cached frames is what makes
one building's indicators answer in milliseconds. A lock per key keeps 50 concurrent first
requests from computing the same frame 50 times.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from analytics import service
from analytics.periods import DEFAULT_TZ
from ingest.influx import InfluxHTTP


class FrameCache:
    """Values by key, recomputed after ``ttl_s``; one computation per key at a time."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._keys: dict[tuple, threading.Lock] = {}
        self._values: dict[tuple, tuple[float, Any]] = {}

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


def annual(cache: FrameCache, *, influx: InfluxHTTP, session: Session, year: int, basis: str,
           region: str | None) -> pd.DataFrame:
    """``analytics.service.annual_frame`` for every building (index ``building_code``)."""
    return cache.get(("annual", year, basis, region, _today(DEFAULT_TZ)), lambda: service.annual_frame(
        influx=influx, session=session, year=year, basis=basis, region=region))


def audit(cache: FrameCache, *, influx: InfluxHTTP, session: Session, year: int, basis: str,
          region: str | None) -> pd.DataFrame:
    """``analytics.service.audit_frame`` for every building and window (long format)."""
    return cache.get(("audit", year, basis, region, _today(DEFAULT_TZ)), lambda: service.audit_frame(
        influx=influx, session=session, year=year, basis=basis, region=region))


def clean(d: dict) -> dict:
    """JSON-safe values: numpy scalars to Python, NaN to None."""
    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and np.isnan(v):
            v = None
        out[k] = v
    return out


#: Attribute columns, as ``analytics.service.building_indicators`` splits them off.
ATTRIBUTE_COLUMNS = ["name", "building_type", "district", "ownership", "climate_zone", "floor_area_m2", "occupants",
                     "year_built", "has_pv", "pv_capacity_kwp", "ev_piles"]


def building_result(annual_df: pd.DataFrame, audit_df: pd.DataFrame, *, building_code: str,
                    year: int) -> service.BuildingIndicators:
    """One building's ``BuildingIndicators`` from the city frames: the same shape and values as
    ``analytics.service.building_indicators`` (tests/api/test_indicators.py compares them)."""
    row = clean(annual_df.loc[building_code].to_dict())
    rows = audit_df.loc[[building_code]] if building_code in audit_df.index else audit_df.iloc[0:0]
    return service.BuildingIndicators(
        building_code=building_code, year=year, basis=row.pop("basis"), table_version=row.pop("table_version"),
        attributes={k: row.pop(k) for k in ATTRIBUTE_COLUMNS}, indicators=row,
        audit=[clean(r) for r in rows.reset_index().to_dict(orient="records")])
