"""The register cache's memory: its estimate against tracemalloc, its budget, and what it forgets."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from ingest.intervals import READING_BYTES, SERIES_BYTES, RegisterReading, RegisterTracker
from tests.ingest.test_registers import MIN15_MS, FakeStorage, _by_ts, _reading

T0_MS = 1_767_196_800_000  # 2026-01-01T00:00+08:00


def _measured_bytes_per_series(n_series: int, readings: int) -> tuple[float, float]:
    """(traced bytes, the tracker's estimate) per series after ``readings`` 15-minute readings of
    ``n_series`` registers; keys and series texts are made inside the traced region, as if nothing
    else held them (the worker's transformer does hold them: the estimate errs high)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        keys = [(("meter", f"B{i // 10:06d}", f"E-{i:07d}", "register"),
                 f"meter,building_code=B{i // 10:06d},device_id=E-{i:07d},carrier=electricity")
                for i in range(n_series)]
        tracker = RegisterTracker(lambda wanted: {}, max_points=48)
        for step in range(readings):
            tracker.apply([RegisterReading(k, s, "consumption_kwh", 1.0, T0_MS + step * MIN15_MS, 100.0 + 1.37 * step)
                           for k, s in keys])
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return used / n_series, tracker.cache_bytes / n_series


@pytest.mark.parametrize("readings", [1, 8, 48])
def test_the_estimate_is_an_upper_bound_and_not_far_above(readings):
    # 2,000 series: at 48 readings the estimate is 1,000 + 48 x 90 = 5,320 B a series, and
    # tracemalloc measured 4,920 B (CPython 3.11.7, 2026-12-02); at 1 reading 1,090 vs ~1,000.
    traced, estimate = _measured_bytes_per_series(2000, readings)
    assert estimate == SERIES_BYTES + min(readings, 48) * READING_BYTES
    assert traced <= estimate <= 1.5 * traced, f"traced {traced:.0f} B, estimated {estimate:.0f} B per series"


def test_budget_forgets_the_least_recently_used_series_and_it_is_looked_up_again():
    # Room for two series of 4 readings: 2 x (1,000 + 4 x 90) = 2,720 B.
    budget = 2 * (SERIES_BYTES + 4 * READING_BYTES)
    storage = FakeStorage()
    t = RegisterTracker(storage, max_points=4, max_bytes=budget)
    for key in ("E-1", "E-2", "E-3"):  # E-1 reported first, so it is used least recently
        readings = [_reading(i * MIN15_MS, 100.0 + i, key=key) for i in range(4)]
        t.apply(readings)
        for r in readings:
            storage.points.setdefault(key, {})[r.ts_ms] = r.value  # written
        assert t.cache_bytes <= budget
    assert len(t) == 2 and t.evictions == 1
    calls = len(storage.calls)
    t.apply([_reading(4 * MIN15_MS, 110.0, key="E-3")])  # cached: no lookup
    assert len(storage.calls) == calls
    u = _by_ts(t.apply([_reading(4 * MIN15_MS, 110.0, key="E-1")]))  # forgotten: looked up
    assert storage.calls[-1].keys() == {"E-1"}
    assert u[4 * MIN15_MS] == {"consumption_kwh": pytest.approx(7.0), "interval_s": 900.0}  # 110 - 103 (stored)


def test_forget_gives_its_bytes_back():
    t = RegisterTracker(FakeStorage(), max_points=4)
    t.apply([_reading(i * MIN15_MS, 100.0 + i) for i in range(3)])
    assert t.cache_bytes == SERIES_BYTES + 3 * READING_BYTES  # one series, three readings
    t.forget({"E-1"})
    assert t.cache_bytes == 0 and len(t) == 0
