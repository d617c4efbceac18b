"""Data-quality findings of the collector gateway: data that arrived but is not a value.

Every finding goes through :func:`record_finding`, the one place a findings store can be plugged
in. Today a finding is logged (once per code and meter function, so a misbehaving meter does not
flood the log) and counted.
"""

from __future__ import annotations

import collections
import logging
import threading
from enum import StrEnum

from storage.logs import OncePer

log = logging.getLogger("collectors.findings")


class FindingCode(StrEnum):
    """Stable codes (docs/collectors.md, "Data-quality findings")."""

    meter_error = "meter_error"  # function@error other than 192
    meter_disconnected = "meter_disconnected"  # meter@conn="disconn"
    unknown_item_code = "unknown_item_code"  # function@coding not in the item code table
    item_code_mismatch = "item_code_mismatch"  # coding differs from the registry's for that function
    unmapped_function = "unmapped_function"  # meter/function not in the registry
    bad_value = "bad_value"  # not a finite number, or negative where that is impossible
    bad_time = "bad_time"  # the packet's time is not a time
    future_time = "future_time"  # collection time ahead of the gateway clock
    before_installation = "before_installation"  # collection time before the collector's installation


_once = OncePer()
_lock = threading.Lock()
#: Findings since start, per code (every one, also those not logged again).
COUNTS: collections.Counter[str] = collections.Counter()


def record_finding(code: FindingCode, *, building_code: str, gateway_id: str, meter_id: str | None = None,
                   function_id: str | None = None, detail: str = "") -> None:
    with _lock:
        COUNTS[code.value] += 1
        first = _once.first((code, building_code, gateway_id, meter_id, function_id))
    if first:
        log.warning("data-quality finding", extra={"code": code.value, "building_code": building_code,
                                                   "gateway_id": gateway_id, "meter_id": meter_id,
                                                   "function_id": function_id, "detail": detail[:300]})
