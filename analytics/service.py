"""Service layer for the API and the report: daily rollups + registry -> indicators per building,
district and city for a year. Keyword-only functions; every result carries the conversion basis,
the factor table version and the data coverage.

    building_indicators(influx=db, session=s, building_code="510402A001", year=2025)
    audit_list(influx=db, session=s, year=2025)
    district_indicators(influx=db, session=s, year=2025)
    city_indicators(influx=db, session=s, year=2025, baseline_year=2020)
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sqlalchemy.orm import Session

from analytics.audit import MIN_COVERAGE, Verdict, audit_verdict, project_to_year_end
from analytics.balance import BALANCE_FIELDS
from analytics.compare import rank_within_type, year_on_year
from analytics.coverage import add_measured_days, group_coverage_columns, reporting_sums
from analytics.energy import ELECTRICITY_COLUMNS, FUEL_COLUMNS
from analytics.indicators import aggregate, compute_indicators
from analytics.intensity import lookup_quota, quota_status
from analytics.reader import MAX_CODES_IN_QUERY, expected_readings, read_balance, registry_frame
from analytics.tables import DEFAULT_BASIS, coal_factors, grid_factors, plan_targets, quota_table
from analytics.targets import plan_progress, pv_coverage, relative_change
from contract.localtime import (
    TZ_NAME,
    days_between,
    days_in_year,
    local_midnight,
    rolling_12_months,
    same_day_last_year,
    year_window,
)
from storage.influx import InfluxHTTP

PUBLIC_INSTITUTION = ("state_organ_office", "state_funded_public_welfare")
WINDOWS = ("calendar_year", "rolling_12_months", "projected_year_end")


class BuildingNotFound(LookupError):
    """No building with that code in the registry."""


def _now(now: dt.datetime | None) -> dt.datetime:
    """``now``, or the current time floored to the 15-minute reading interval: figures that depend
    on the time elapsed (expected readings, measured days) stay the same within an interval, so
    two reads a moment apart (the API's cached frame and a direct call) agree."""
    if now is not None:
        return now
    t = dt.datetime.now(dt.UTC)
    return t - dt.timedelta(minutes=t.minute % 15, seconds=t.second, microseconds=t.microsecond)


def _province(code: str) -> str:
    return f"CN-{code[:2]}"


#: Window frames already computed, for a caller that builds the annual frame and then the audit
#: frame from the same registry read (the API's city frames, the snapshot, the province bench): the
#: audit's calendar year and previous year are the annual frame's own windows, and at province
#: scale each costs seconds (docs/benchmarks/analytics.md). Keyed by everything a window depends on.
WindowFrames = dict[tuple, pd.DataFrame]


def _window_key(start: dt.datetime, end: dt.datetime, basis: str, region: str | None, now: dt.datetime,
                tz: str) -> tuple:
    return (start, end, basis, region, now, tz)


def window_frame(*, influx: InfluxHTTP, attrs: pd.DataFrame, devices: dict, start: dt.datetime,
                 end: dt.datetime, basis: str, region: str | None, now: dt.datetime | None = None,
                 tz: str = TZ_NAME, fields: tuple[str, ...] = BALANCE_FIELDS,
                 session: Session | None = None) -> pd.DataFrame:
    """Indicators of every registry building over ``[start, end)`` (expected readings stop at
    ``now``); buildings without rollup data get zeros and coverage 0. Only the balance ``fields``
    are read (default all): the indicators of the fields not read come out as zero. ``session``:
    whole months from the SQL balance table (:func:`analytics.reader.read_balance`)."""
    few = list(attrs.index) if len(attrs) <= MAX_CODES_IN_QUERY else None
    balance = read_balance(influx=influx, start=start, end=end, tz=tz, codes=few, fields=fields, session=session)
    balance = attrs[["floor_area_m2", "occupants"]].join(balance, how="left")
    stop = min(end, _now(now))
    balance["expected_readings"] = expected_readings(devices, start, stop, tz=tz).reindex(balance.index).fillna(0)
    year = (end - dt.timedelta(days=1)).astimezone(ZoneInfo(tz)).year
    factors = {p: grid_factors().lookup(year=year, region=p) for p in {_province(c) for c in balance.index}}
    balance["grid_factor_kgco2_per_kwh"] = [factors[_province(c)].factor_kgco2_per_kwh for c in balance.index]
    if basis == "equal_value" and region is None:
        provinces = sorted(factors)
        if len(provinces) != 1:
            raise ValueError(f"basis 'equal_value' needs region= when buildings span provinces {provinces}")
        region = provinces[0]
    out = compute_indicators(balance, basis=basis, region=region)
    out["grid_factor_kgco2_per_kwh"] = balance["grid_factor_kgco2_per_kwh"]
    out["grid_factor_source"] = [f"{factors[_province(c)].region} {factors[_province(c)].year}"
                                 for c in balance.index]
    add_measured_days(out, devices, start, end, stop, tz=tz)
    return out


def annual_frame(*, influx: InfluxHTTP, session: Session, year: int, basis: str = DEFAULT_BASIS,
                 region: str | None = None, district: str | None = None, building_type: str | None = None,
                 codes: list[str] | None = None, now: dt.datetime | None = None, with_previous: bool = True,
                 tz: str = TZ_NAME, min_coverage: float = MIN_COVERAGE,
                 registry: tuple[pd.DataFrame, dict] | None = None,
                 window_frames: WindowFrames | None = None) -> pd.DataFrame:
    """Per-building indicators for calendar ``year`` with registry attributes, quota comparison,
    rank within type (by electricity intensity, 1 = highest) and year-on-year change.
    ``registry``: :func:`analytics.reader.registry_frame` already read for the same filters (a
    caller that also builds the audit list reads it once: seconds at province scale).
    ``window_frames``: filled with this year's and the previous year's window frames, for
    :func:`audit_frame` called with the same registry and ``window_frames``.

    Returns
    -------
    DataFrame
        Index ``building_code``; see docs/analytics.md for every column and its unit.
    """
    attrs, devices = registry or registry_frame(session=session, district=district, building_type=building_type,
                                                codes=codes)
    start, end = year_window(year, tz)
    now = _now(now)
    shared = window_frames if window_frames is not None else {}
    cur = window_frame(influx=influx, attrs=attrs, devices=devices, start=start, end=end, basis=basis,
                       region=region, now=now, tz=tz, session=session)
    shared[_window_key(start, end, basis, region, now, tz)] = cur
    df = attrs.join(cur.drop(columns=["floor_area_m2"]))
    q = lookup_quota(quota_table(), df["building_type"], df["climate_zone"])
    df = df.join(q)
    df["quota_status"], df["quota_ratio"] = quota_status(df["eui_electricity_kwh_per_m2"], df["constraint_value"],
                                                         df["guide_value"], coverage=df["period_coverage"],
                                                         min_coverage=min_coverage)
    ranked = df["eui_electricity_kwh_per_m2"].where(df["coverage"] > 0)
    df = df.join(rank_within_type(ranked, df["building_type"]))
    if with_previous:
        p_start, p_end = year_window(year - 1, tz)
        prev = window_frame(influx=influx, attrs=attrs, devices=devices, start=p_start, end=p_end, basis=basis,
                            region=region, now=now, tz=tz, session=session)
        shared[_window_key(p_start, p_end, basis, region, now, tz)] = prev
        df["previous_energy_tce"] = prev["energy_tce"].where(prev["coverage"] > 0)
        df["yoy_energy_tce"] = year_on_year(df["energy_tce"], df["previous_energy_tce"])
        df["yoy_eui_electricity"] = year_on_year(df["eui_electricity_kwh_per_m2"],
                                                 prev["eui_electricity_kwh_per_m2"].where(prev["coverage"] > 0))
        df["previous_coverage"] = prev["coverage"]
    df["year"] = year
    return df


#: The balance fields the audit verdict and its coverage need: energy [tce] and electricity used
#: (the electricity and fuel columns of :func:`analytics.energy.energy_tce`), readings and covered
#: time. The audit reads only these: each field read costs about as much as any other
#: (docs/benchmarks/analytics.md), and the balance has 28.
AUDIT_FIELDS: tuple[str, ...] = (*ELECTRICITY_COLUMNS, *FUEL_COLUMNS.values(), "readings", "covered_s")


def audit_frame(*, influx: InfluxHTTP, session: Session, year: int, as_of: dt.date | None = None,
                windows: tuple[str, ...] = WINDOWS, basis: str = DEFAULT_BASIS, region: str | None = None,
                now: dt.datetime | None = None, tz: str = TZ_NAME, min_coverage: float | None = None,
                registry: tuple[pd.DataFrame, dict] | None = None,
                window_frames: WindowFrames | None = None, **filters: Any) -> pd.DataFrame:
    """The audit verdict (:func:`analytics.audit.audit_verdict`) of every building over each
    window (long format, one row per building and window). ``as_of`` (default: today, or 31
    December for a past year) ends the rolling window and the year-to-date of the projection; the
    projection is skipped once the year is complete. ``min_coverage`` (default
    :data:`analytics.audit.MIN_COVERAGE`) is the coverage a reassuring verdict needs. ``registry``
    as in :func:`annual_frame` (read for the same ``filters``); ``window_frames``: the window frames
    :func:`annual_frame` computed with that registry (their fields are a superset of the audit's)."""
    bad = [w for w in windows if w not in WINDOWS]
    if bad:
        raise ValueError(f"unknown window(s) {bad}; choose from {WINDOWS}")
    now = _now(now)
    y_start, y_end = year_window(year, tz)
    if as_of is None:
        yesterday = now.astimezone(ZoneInfo(tz)).date() - dt.timedelta(days=1)
        as_of = min(dt.date(year, 12, 31), yesterday)
    min_coverage = MIN_COVERAGE if min_coverage is None else min_coverage
    if as_of < dt.date(year, 1, 1):
        raise ValueError(f"as_of {as_of} is before the year {year} starts")
    attrs, devices = registry or registry_frame(session=session, **filters)
    frames = []

    def one(name, start, end, energy, electricity, f, basis_text="", projected=False, year_fraction=None):
        cov = f.period_coverage if not projected else f.measured_days / days_between(start, ytd_stop)
        v = audit_verdict(energy, electricity, coverage=cov, projected=projected,
                          measured_year_fraction=year_fraction, min_coverage=min_coverage)
        a = v.tests
        frames.append(pd.DataFrame({
            "window": name, "window_start": start.isoformat(), "window_end": end.isoformat(),
            "energy_tce": energy, "electricity_kwh": electricity, "verdict": v.verdict,
            "triggered": v.verdict.isin([Verdict.required.value, Verdict.projected.value]),
            "triggered_by": a.triggered_by, "energy_excess_tce": a.energy_excess_tce,
            "electricity_excess_kwh": a.electricity_excess_kwh, "coverage": f.coverage,
            "readings": f.readings, "expected_readings": f.expected_readings,
            "measured_days": f.measured_days, "period_coverage": cov, "min_coverage": min_coverage,
            "projection_basis": basis_text,
        }))

    # Audit-only frames stay local: they hold only AUDIT_FIELDS, which an annual frame must not reuse.
    seen: WindowFrames = dict(window_frames or {})

    def wf(start, end):
        # A complete year's rolling window is the calendar year: read it once.
        key = _window_key(start, end, basis, region, now, tz)
        if key not in seen:
            seen[key] = window_frame(influx=influx, attrs=attrs, devices=devices, start=start, end=end,
                                     basis=basis, region=region, now=now, tz=tz, fields=AUDIT_FIELDS,
                                     session=session)
        return seen[key]

    ytd_end = local_midnight(as_of + dt.timedelta(days=1), tz)
    ytd_stop = min(ytd_end, now)
    if "calendar_year" in windows:
        f = wf(y_start, y_end)
        one("calendar_year", y_start, y_end, f.energy_tce, f.electricity_kwh, f)
    if "rolling_12_months" in windows:
        r_start, r_end = rolling_12_months(as_of, tz)
        f = wf(r_start, r_end)
        one("rolling_12_months", r_start, r_end, f.energy_tce, f.electricity_kwh, f)
    if "projected_year_end" in windows and ytd_end < y_end:
        so_far = wf(y_start, ytd_end)
        p_start, p_end = year_window(year - 1, tz)
        prev_same = wf(p_start, local_midnight(same_day_last_year(as_of) + dt.timedelta(days=1), tz))
        prev_total = wf(p_start, p_end)
        n_year = days_in_year(year)
        kw = dict(days_elapsed=days_between(y_start, ytd_stop), days_in_year=n_year,
                  measured_days=so_far.measured_days)
        # Last year's shape only where last year was measured well enough to have one.
        good_prev = (prev_same.period_coverage >= min_coverage) & (prev_total.period_coverage >= min_coverage)
        e, e_basis = project_to_year_end(so_far.energy_tce, **kw,
                                         last_year_same_period=prev_same.energy_tce.where(good_prev),
                                         last_year_total=prev_total.energy_tce.where(good_prev))
        el, _ = project_to_year_end(so_far.electricity_kwh, **kw,
                                    last_year_same_period=prev_same.electricity_kwh.where(good_prev),
                                    last_year_total=prev_total.electricity_kwh.where(good_prev))
        one("projected_year_end", y_start, y_end, e, el, so_far,
            basis_text=e_basis + f" from {as_of.isoformat()}", projected=True,
            year_fraction=so_far.measured_days / n_year)
    out = pd.concat(frames)
    out = attrs[["name", "district", "building_type", "ownership"]].join(out, how="right")
    out["basis"] = basis
    out["table_version"] = coal_factors().version
    out.index.name = "building_code"
    return out


def audit_list(*, influx: InfluxHTTP, session: Session, year: int, as_of: dt.date | None = None,
               windows: tuple[str, ...] = WINDOWS, basis: str = DEFAULT_BASIS, region: str | None = None,
               only_triggered: bool = True, now: dt.datetime | None = None, tz: str = TZ_NAME,
               registry: tuple[pd.DataFrame, dict] | None = None,
               window_frames: WindowFrames | None = None) -> pd.DataFrame:
    """Buildings that meet either audit test in any window, sorted by energy excess (largest
    first). Columns: see :func:`audit_frame`; ``registry`` and ``window_frames`` as there."""
    df = audit_frame(influx=influx, session=session, year=year, as_of=as_of, windows=windows, basis=basis,
                     region=region, now=now, tz=tz, registry=registry, window_frames=window_frames)
    if only_triggered:
        df = df[df["triggered"].astype(bool)]
    return sort_audit_list(df)


def sort_audit_list(df: pd.DataFrame) -> pd.DataFrame:
    """The audit list's order: by window, then largest energy excess first (missing last); ties
    keep their order (a stable sort, so a filtered list is in the same order as the whole one)."""
    return df.sort_values(["window", "energy_excess_tce"], ascending=[True, False])


class BuildingIndicators(BaseModel):
    """One building's year: attributes, every indicator, audit windows."""

    building_code: str
    year: int
    basis: str
    table_version: str
    attributes: dict[str, Any]
    indicators: dict[str, Any]
    audit: list[dict[str, Any]]


class AuditRow(BaseModel):
    """One row of the audit list: a building in one audit window (the columns of :func:`audit_frame`
    the list shows), as the API serves it and the indicator snapshot stores it finished."""

    building_code: str
    name: str
    district: str
    building_type: str
    ownership: str
    window: str
    window_start: str
    window_end: str
    energy_tce: float | None
    electricity_kwh: float | None
    verdict: str
    triggered: bool
    triggered_by: str
    energy_excess_tce: float | None
    electricity_excess_kwh: float | None
    coverage: float | None
    readings: float | None
    expected_readings: float | None
    measured_days: float | None
    period_coverage: float | None
    min_coverage: float
    projection_basis: str
    basis: str
    table_version: str


def clean(d: dict) -> dict:
    """JSON-safe values: numpy scalars to Python, NaN to None (the API serves these dicts)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and np.isnan(v):
            v = None
        out[k] = v
    return out


def building_indicators(*, influx: InfluxHTTP, session: Session, building_code: str, year: int,
                        basis: str = DEFAULT_BASIS, region: str | None = None, as_of: dt.date | None = None,
                        now: dt.datetime | None = None, tz: str = TZ_NAME) -> BuildingIndicators:
    """Indicators of one building for ``year``; its rank is among all buildings of its type.

    Raises
    ------
    BuildingNotFound
        The code is not in the registry.
    """
    from registry import repo

    b = repo.get_building(session=session, building_code=building_code)
    if b is None:
        raise BuildingNotFound(f"building {building_code!r} is not in the registry")
    df = annual_frame(influx=influx, session=session, year=year, basis=basis, region=region,
                      building_type=b.building_type, now=now, tz=tz)
    audit = audit_frame(influx=influx, session=session, year=year, as_of=as_of, basis=basis, region=region,
                        now=now, tz=tz, codes=[building_code])
    return building_result(df.loc[building_code].to_dict(), audit.reset_index().to_dict(orient="records"),
                           building_code=building_code, year=year)


#: Registry attributes of a building, which its indicators list apart from the figures.
ATTRIBUTE_COLUMNS = ("name", "building_type", "district", "ownership", "climate_zone", "floor_area_m2", "occupants",
                     "year_built", "has_pv", "pv_capacity_kwp", "ev_piles")


def building_result(row: dict, audit: list[dict], *, building_code: str, year: int) -> BuildingIndicators:
    """One building's :class:`BuildingIndicators` from its :func:`annual_frame` row and its
    :func:`audit_frame` rows (frame order): the one shape of a building's page, whether the API
    builds it per request or the rollup job stores it finished (analytics/snapshot.py)."""
    row = clean(row)
    return BuildingIndicators(
        building_code=building_code, year=year, basis=row.pop("basis"), table_version=row.pop("table_version"),
        attributes={k: row.pop(k) for k in ATTRIBUTE_COLUMNS}, indicators=row, audit=[clean(r) for r in audit])


def district_indicators(*, influx: InfluxHTTP, session: Session, year: int, basis: str = DEFAULT_BASIS,
                        region: str | None = None, now: dt.datetime | None = None, tz: str = TZ_NAME,
                        frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Indicators per district, recomputed from the sums of the buildings that reported (index
    ``district``); every registered district is listed, with how many buildings and how much floor
    area reported (:func:`reporting_sums`)."""
    df = frame if frame is not None else annual_frame(influx=influx, session=session, year=year, basis=basis,
                                                      region=region, now=now, tz=tz, with_previous=False)
    sf = reporting_sums(df)
    sums = aggregate(sf, by=df.loc[sf.index, "district"]).reindex(sorted(df["district"].unique()))
    out = compute_indicators(sums.fillna(0.0), basis=basis, region=_region_for(df, basis, region))
    group_coverage_columns(out, sums.fillna(0.0), df.groupby("district"))
    return out


def _region_for(df: pd.DataFrame, basis: str, region: str | None) -> str | None:
    if basis != "equal_value" or region is not None:
        return region
    provinces = sorted({_province(c) for c in df.index})
    if len(provinces) != 1:
        raise ValueError(f"basis 'equal_value' needs region= when buildings span provinces {provinces}")
    return provinces[0]


class CityIndicators(BaseModel):
    year: int
    basis: str
    table_version: str
    buildings: int
    indicators: dict[str, Any]
    plan_progress: list[dict[str, Any]]
    definitions: dict[str, str]


def city_indicators(*, influx: InfluxHTTP, session: Session, year: int, basis: str = DEFAULT_BASIS,
                    region: str | None = None, baseline_year: int | None = None, new_since_year: int = 2021,
                    now: dt.datetime | None = None, tz: str = TZ_NAME,
                    frame: pd.DataFrame | None = None) -> CityIndicators:
    """City totals and plan-target progress for ``year``.

    Parameters
    ----------
    baseline_year : int, optional
        Year the public-institution energy per m2 and per person targets are measured from
        (the plans' base year, e.g. 2020); without it those targets show ``met = None``.
    new_since_year : int
        Buildings built in or after this year count as "new" for the PV coverage target.
    """
    df = frame if frame is not None else annual_frame(influx=influx, session=session, year=year, basis=basis,
                                                      region=region, now=now, tz=tz, with_previous=False)
    reg = _region_for(df, basis, region)
    sums = aggregate(reporting_sums(df))
    city_df = compute_indicators(sums, basis=basis, region=reg)
    group_coverage_columns(city_df, sums, df)
    city = city_df.iloc[0]
    public = df["ownership"].isin(PUBLIC_INSTITUTION)
    # to_numeric first: year_built is an object column (ints and None), and pandas 2 warns that
    # fillna on it silently downcasts (FutureWarning); a float column behaves the same on pandas 2 and 3.
    new_public = public & (pd.to_numeric(df["year_built"], errors="coerce").fillna(0) >= new_since_year)
    actual = {
        "renewable_substitution_rate": float(city["renewable_substitution_rate"]),
        "electrification_share": float(city["electrification_share"]),
        "pv_coverage": float(pv_coverage(df["has_pv"].astype(bool), new_public)),
    }
    extra: dict[str, Any] = {"public_institution_buildings": int(public.sum()),
                             "new_public_institution_buildings": int(new_public.sum())}
    if baseline_year is not None and public.any():
        base = annual_frame(influx=influx, session=session, year=baseline_year, basis=basis, region=region,
                            codes=list(df.index[public]), now=now, tz=tz, with_previous=False)
        both = [c for c in df.index[public] if c in base.index and base.at[c, "coverage"] > 0
                and df.at[c, "coverage"] > 0]
        if both:
            cur_s = compute_indicators(aggregate(reporting_sums(df.loc[both])), basis=basis, region=reg).iloc[0]
            base_s = compute_indicators(aggregate(reporting_sums(base.loc[both])), basis=basis, region=reg).iloc[0]
            actual["energy_per_m2_change"] = float(relative_change(cur_s["eui_kgce_per_m2"], base_s["eui_kgce_per_m2"]))
            actual["energy_per_capita_change"] = float(relative_change(cur_s["energy_kgce_per_person"],
                                                                       base_s["energy_kgce_per_person"]))
            extra["baseline_buildings"] = len(both)
    # Coverage over every registered building (the silent ones included): how much of the city the
    # progress is judged on.
    expected = float(df["expected_readings"].sum())
    city_coverage = float(min(df["readings"].sum() / expected, 1.0)) if expected > 0 else 0.0
    extra["coverage_registered"] = city_coverage
    progress = plan_progress(actual, plan_targets(), coverage=city_coverage)
    indicators = clean({k: v for k, v in city.to_dict().items() if k not in ("basis", "table_version")})
    indicators.update(clean(actual))
    indicators.update(extra)
    return CityIndicators(
        year=year, basis=basis, table_version=coal_factors().version, buildings=len(df), indicators=indicators,
        plan_progress=[clean(r) for r in progress.to_dict(orient="records")],
        definitions={
            "renewable_substitution_rate": "PV self-consumed + metered renewable heat, over comprehensive energy "
                                           "(exported PV in renewable_substitution_rate_with_export)",
            "pv_coverage": f"share of public-institution buildings built since {new_since_year} with a PV system",
            "energy_per_m2_change": f"public-institution kgce/m2 against {baseline_year}, same buildings",
        })
