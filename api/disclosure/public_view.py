"""What the public may be told from a frozen snapshot: the verdicts the data can support.

A snapshot freezes what analytics computed (``audit_required``, ``quota_status``, the quota values
and their source). Shown as they are, a record built from 2.5 % of a year would say "within guide
value" and "audit not required" on almost no evidence, and the shipped example quota table
("EXAMPLE VALUE - replace with ...") would read as a standard. So the public pages, feed and CSV
show this view instead:

- below the minimum coverage (``EP_MIN_COVERAGE``) a reassuring verdict becomes
  ``insufficient_data`` (数据不足); a verdict against the building (audit required, above a quota
  value) stands, since the missing readings can only add energy use;
- a quota whose source is missing or marked as an example is ``no_standard``: the page says no
  quota standard is configured and shows no quota values.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The marker every row of the shipped example quota table carries in its ``source``.
EXAMPLE_MARK = "EXAMPLE VALUE"
#: Quota verdicts that hold whatever the missing readings were (they can only add use).
_QUOTA_AGAINST = frozenset({"above_guide", "above_constraint"})


def is_example_quota(source: str | None) -> bool:
    return source is not None and EXAMPLE_MARK in source.upper()


@dataclass(frozen=True, slots=True)
class PublicView:
    coverage: float
    min_coverage: float
    #: Coverage at or above the minimum: the data can support a reassuring verdict.
    sufficient: bool
    #: ``required``, ``not_required`` or ``insufficient_data``.
    audit: str
    #: ``within_guide``, ``above_guide``, ``above_constraint``, ``no_standard`` or ``insufficient_data``.
    quota: str
    #: Quota values and source, or None when no real standard is configured.
    quota_guide_kwh_per_m2: float | None
    quota_constraint_kwh_per_m2: float | None
    quota_source: str | None

    @property
    def audit_required(self) -> bool | None:
        """The audit flag for feeds: None where the data cannot say "not required"."""
        return None if self.audit == "insufficient_data" else self.audit == "required"


def public_view(figures: dict, min_coverage: float) -> PublicView:
    """The verdicts of a snapshot (``DisclosureRecord.figures``) that may be published."""
    coverage = float(figures.get("coverage") or 0.0)
    sufficient = coverage >= min_coverage
    if figures.get("audit_required"):
        audit = "required"
    else:
        audit = "not_required" if sufficient else "insufficient_data"
    source = figures.get("quota_source")
    status = figures.get("quota_status") or "no_quota"
    standard = source is not None and not is_example_quota(source) and status != "no_quota"
    if not standard:
        quota = "no_standard"
    elif status in _QUOTA_AGAINST or sufficient:
        quota = status
    else:
        quota = "insufficient_data"
    return PublicView(
        coverage=coverage, min_coverage=min_coverage, sufficient=sufficient, audit=audit, quota=quota,
        quota_guide_kwh_per_m2=figures.get("quota_guide_kwh_per_m2") if standard else None,
        quota_constraint_kwh_per_m2=figures.get("quota_constraint_kwh_per_m2") if standard else None,
        quota_source=source if standard else None)


def public_figures(figures: dict, min_coverage: float) -> dict:
    """The snapshot as the public feed shows it: example quota values removed, ``quota_status``
    and ``audit_required`` replaced by what the data support (the frozen original stays on the
    record and in the review API; ``figures_sha256`` is the original's)."""
    v = public_view(figures, min_coverage)
    return {**figures, "quota_status": v.quota, "quota_guide_kwh_per_m2": v.quota_guide_kwh_per_m2,
            "quota_constraint_kwh_per_m2": v.quota_constraint_kwh_per_m2, "quota_source": v.quota_source,
            "audit_required": v.audit_required, "audit_verdict": v.audit,
            "coverage_sufficient": v.sufficient, "min_coverage": min_coverage}
