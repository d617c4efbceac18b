"""The retrofit savings section of a disclosure: each retrofit of the building completed by the end
of the reporting year, with the avoided energy verified in that year, or why it cannot be verified.

Figures come from the stored ``retrofit_savings`` measurement (``analytics.savings.write_savings``,
written by the baselines job): one point per reported local month, stamped at the month's start, or
a single status point at time 0 when the retrofit has no figures. Nothing is recomputed here and
nothing is invented: a retrofit without stored months in the year gets a status, never a figure.

The year's uncertainty is the *sum* of the monthly standard uncertainties. The months share the
baseline's parameter error, so their errors are positively correlated; adding them in quadrature
would understate the uncertainty, the linear sum is its upper bound (fully correlated months).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from analytics.savings import SAVINGS_MEASUREMENT, guideline14_verdict
from api.disclosure.figures import RetrofitSavings
from contract.localtime import TZ_NAME, local_midnight
from contract.units import BASE_SUFFIX
from contract.vocabulary import CARRIER_DIMENSION, Carrier
from storage.influx import InfluxHTTP, quote_literal

#: Status of a retrofit that has no stored record touching the year (the job has not verified it).
NOT_VERIFIED = "not_verified"


def _unit(carrier: str) -> str:
    return BASE_SUFFIX[CARRIER_DIMENSION[Carrier(carrier)]]


def year_savings(retrofit, points: Iterable[Mapping], *, year: int) -> RetrofitSavings:  # noqa: ANN001 - registry Retrofit
    """The section entry of one retrofit from its stored points (dicts of the measurement's fields,
    ``time`` in ms) that fall in the year; the status point (time 0) when no month does."""
    unit = _unit(retrofit.carrier)
    base = dict(retrofit_id=retrofit.id, completed_on=retrofit.completed_on.isoformat(), measures=retrofit.measures,
                carrier=retrofit.carrier, unit=unit, expected_saving_share=retrofit.expected_saving_share)
    points = list(points)
    months = [p for p in points if p.get("time") and p.get(f"avoided_{unit}") is not None]
    if not months:
        status = next((p for p in points if not p.get("time") and p.get("status")), None)
        if status is None:
            return RetrofitSavings(**base, status=NOT_VERIFIED,
                                   detail=f"no stored savings of this retrofit for {year}")
        return RetrofitSavings(**base, status=str(status["status"]), detail=str(status.get("detail") or ""))

    def total(name: str) -> float:
        return float(sum(float(p[f"{name}_{unit}"]) for p in months))

    predicted, measured, uncertainty = total("predicted"), total("measured"), total("uncertainty")
    avoided = predicted - measured
    stored = str(months[-1].get("guideline14") or "not_assessable")
    baseline_verdict = months[-1].get("baseline_guideline14")
    if baseline_verdict is None:  # stored before the baseline's verdict was kept: "meets" implies it met
        baseline_verdict = "meets" if stored == "meets" else "not_assessable"
    return RetrofitSavings(
        **base, status="ok", months=len(months), days=int(sum(int(p.get("days") or 0) for p in months)),
        predicted=predicted, measured=measured, avoided=avoided, uncertainty=uncertainty,
        avoided_share=avoided / predicted if predicted else None,
        guideline14=guideline14_verdict(str(baseline_verdict), avoided, uncertainty))


def read_points(rollups: InfluxHTTP, *, building_code: str, year: int, tz: str = TZ_NAME) -> dict[str, list[dict]]:
    """retrofit_id -> the building's stored ``retrofit_savings`` points of the year's local months
    and its status points (time 0)."""
    start = int(local_midnight(dt.date(year, 1, 1), tz).timestamp() * 1000)
    end = int(local_midnight(dt.date(year + 1, 1, 1), tz).timestamp() * 1000)
    where = f"building_code = {quote_literal(building_code)}"
    out: dict[str, list[dict]] = {}
    # Two statements: InfluxDB 1.x does not take OR between time ranges.
    for cond in (f"time >= {start}ms AND time < {end}ms", "time < 1ms"):
        q = f"SELECT * FROM {SAVINGS_MEASUREMENT} WHERE {where} AND {cond} GROUP BY retrofit_id"  # noqa: S608
        for s in rollups.query(q, epoch="ms"):
            rows = [dict(zip(s["columns"], v, strict=True)) for v in s["values"]]
            out.setdefault(s["tags"].get("retrofit_id", ""), []).extend(rows)
    return out


def retrofit_section(*, rollups: InfluxHTTP, retrofits: Iterable, building_code: str, year: int,
                     tz: str = TZ_NAME) -> tuple[RetrofitSavings, ...]:
    """Every retrofit completed by the end of ``year`` (later ones belong to later disclosures)."""
    wanted = [r for r in retrofits if r.completed_on <= dt.date(year, 12, 31)]
    if not wanted:
        return ()
    points = read_points(rollups, building_code=building_code, year=year, tz=tz)
    return tuple(year_savings(r, points.get(str(r.id), ()), year=year) for r in wanted)
