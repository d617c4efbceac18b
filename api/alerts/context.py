"""The alert rules' view of analytics: the quota table (analytics/data/eui_quota.csv), so the
rules judge against exactly the quotas the indicators use. Energy and the audit verdict come from
analytics' balance and :func:`analytics.service.audit_frame` (api/alerts/engine.py).
"""

from __future__ import annotations

from pathlib import Path

from analytics.intensity import quota_for
from analytics.tables import quota_table
from api.alerts.engine import Context
from api.alerts.rules import RuleParams
from registry.models import Building
from storage.influx import InfluxHTTP
from storage.settings import ROLLUP_RP


def quota_constraint_kwh_per_m2(b: Building, *, path: Path | str | None = None) -> float | None:
    """The quota's constraint value for the building's type and climate zone; None without a real
    quota (the shipped EXAMPLE rows are not a standard)."""
    q = quota_for(quota_table(path), b.building_type, b.climate_zone)
    return None if q is None else q[0]


def default_context(params: RuleParams | None = None, *, rollups: InfluxHTTP | None = None,
                    quota_csv: Path | str | None = None, rollup_rp: str = ROLLUP_RP) -> Context:
    """``rollups``: client of the rollup retention policy (default: the raw-data client's own);
    ``rollup_rp``: that policy's name, where the baseline fits are stored."""
    return Context(quota_kwh_per_m2=lambda b: quota_constraint_kwh_per_m2(b, path=quota_csv),
                   params=params or RuleParams(), rollups=rollups, rollup_rp=rollup_rp)
