"""Data-quality findings: what ingest noticed about a device's data without refusing it.

A finding is a structured record (stable ``code``, building, device, period, details) stored in
the InfluxDB measurement ``data_quality`` (contract/quality.py, docs/glossary.md) and served by ``GET /data-quality``
(api/routers/quality.py) and the data-quality dashboard. One point per code, device and period
end: deriving the same interval again (out-of-order data, the rollup's re-derivation) overwrites
it instead of counting it twice. Logged once per device and code, not per message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from contract.quality import MEASUREMENT, FindingCode
from contract.registers import Step
from storage.lineproto import encode_line
from storage.logs import OncePer

log = logging.getLogger("ingest.findings")

#: Register steps that are findings, and their code.
STEP_CODE: dict[Step, FindingCode] = {
    Step.jitter: FindingCode.register_jitter,
    Step.backward: FindingCode.backward_step,
    Step.reset: FindingCode.register_reset,
    Step.rollover: FindingCode.register_rollover,
    Step.spike: FindingCode.spike,
}


@dataclass(frozen=True, slots=True)
class Finding:
    code: FindingCode
    building_code: str
    device_id: str
    period_start_ms: int  # start of the period the finding is about [ms since the Unix epoch]
    period_end_ms: int  # its end; the point's timestamp [ms since the Unix epoch]
    detail: str
    value: float | None = None  # the number behind it (a register step, a gap length), base unit or s

    def line(self) -> str:
        fields: dict[str, float | int | str] = {"period_start_ms": int(self.period_start_ms),
                                                "detail": self.detail[:1000]}
        if self.value is not None:
            fields["value"] = float(self.value)
        return encode_line(MEASUREMENT, {"code": self.code.value, "building_code": self.building_code,
                                         "device_id": self.device_id}, fields, self.period_end_ms)


class FindingLog:
    """Logs a finding the first time its (code, building, device) is seen."""

    def __init__(self) -> None:
        self._once = OncePer()

    def note(self, f: Finding) -> None:
        if self._once.first((f.code, f.building_code, f.device_id)):
            log.warning("data-quality finding", extra={"code": f.code.value, "building_code": f.building_code,
                                                       "device_id": f.device_id, "detail": f.detail[:300]})


@dataclass(frozen=True, slots=True)
class FindingRules:
    """Thresholds of the findings ingest derives while it stores (settings: docs/ingest.md)."""

    gap_s: float = 3600.0  # a register reading more than this after the one before closes a gap [s]
    stuck_s: float = 6 * 3600.0  # a register still this long while power flows through it is stuck [s]
    clock_skew_s: float = 60.0  # a timestamp this far ahead of the ingest clock is skewed [s]
