"""Data-quality findings: the stored names ingest writes and the API and dashboards read.

A finding is what ingest noticed about a device's data without refusing it (ingest/findings.py).
Stored in the InfluxDB measurement ``data_quality`` (docs/glossary.md): tags ``code``,
``building_code``, ``device_id``; fields ``period_start_ms`` (integer), ``detail`` (string),
``value`` (float, when there is a number behind it); the point's time is the period's end.
"""

from __future__ import annotations

from enum import StrEnum

MEASUREMENT = "data_quality"


class FindingCode(StrEnum):
    """Stable codes (API filters, dashboards and alert rules may key on them)."""

    register_jitter = "register_jitter"  # stepped back within the tolerance: counted as zero
    backward_step = "backward_step"  # stepped back without evidence of a reset: held out
    register_reset = "register_reset"  # dropped close to zero: a new meter, counted from 0
    register_rollover = "register_rollover"  # passed its capacity: counted across it
    spike = "spike"  # a step above the plausible rate: held out
    register_misread = "register_misread"  # one value outside its neighbours' range: judged as within it
    gap = "gap"  # no reading for longer than the gap threshold
    stuck_register = "stuck_register"  # did not move for longer than the stuck threshold while power flowed
    unknown_device = "unknown_device"  # not in the fleet / registry (accepted and flagged)
    clock_skew = "clock_skew"  # timestamps ahead of the ingest clock (within the tolerance)
