"""The verdicts a snapshot may show in public (pure): what the coverage can support, and no
example quota presented as a standard. Minimum coverage 0.9 throughout; 0.5 is below it."""

from __future__ import annotations

import pytest

from api.disclosure.public_view import public_figures, public_view

CITY = "乐山市公共建筑能耗定额 2024"
EXAMPLE = "EXAMPLE VALUE - replace with the city's own quota standard"


def snap(coverage: float, *, audit: bool = False, status: str = "within_guide", source: str | None = CITY) -> dict:
    return {"coverage": coverage, "audit_required": audit, "quota_status": status, "quota_source": source,
            "quota_guide_kwh_per_m2": 80.0, "quota_constraint_kwh_per_m2": 110.0}


@pytest.mark.parametrize(("figures", "audit", "quota"), [
    (snap(0.95), "not_required", "within_guide"),
    (snap(0.9), "not_required", "within_guide"),  # at the minimum is enough
    (snap(0.5), "insufficient_data", "insufficient_data"),  # reassuring verdicts need evidence
    (snap(0.5, audit=True, status="above_guide"), "required", "above_guide"),  # missing data only adds use
    (snap(0.5, status="above_constraint"), "insufficient_data", "above_constraint"),
    (snap(0.0), "insufficient_data", "insufficient_data"),
    (snap(0.95, source=EXAMPLE), "not_required", "no_standard"),
    (snap(0.95, source=EXAMPLE.lower()), "not_required", "no_standard"),
    (snap(0.5, status="above_constraint", source=EXAMPLE), "insufficient_data", "no_standard"),
    (snap(0.95, source=None), "not_required", "no_standard"),
    (snap(0.95, status="no_quota"), "not_required", "no_standard"),
])
def test_verdicts(figures, audit, quota):
    v = public_view(figures, 0.9)
    assert (v.audit, v.quota) == (audit, quota)


def test_example_quota_values_never_leave():
    f = public_figures(snap(1.0, source=EXAMPLE), 0.9)
    assert (f["quota_guide_kwh_per_m2"], f["quota_constraint_kwh_per_m2"], f["quota_source"]) == (None, None, None)
    assert f["audit_required"] is False and f["audit_verdict"] == "not_required"
    low = public_figures(snap(0.5), 0.9)
    assert low["audit_required"] is None and low["coverage_sufficient"] is False and low["min_coverage"] == 0.9
    assert low["quota_constraint_kwh_per_m2"] == 110.0  # a real standard's values stay
