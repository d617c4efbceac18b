"""Register arithmetic and the interval cache: worked examples, arithmetic beside the asserts."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.registers import Step, capacity_above, clean_values, interval_between, register_delta
from ingest.intervals import (
    CONTEXT,
    READING_BYTES,
    SERIES_BYTES,
    LookupResult,
    RegisterReading,
    RegisterTracker,
)

MIN15_MS = 900_000


def test_register_delta_normal_growth():
    assert register_delta(1523.75, 1526.25) == (pytest.approx(2.5), Step.normal)  # 1526.25 - 1523.75


def test_register_delta_rollover_of_six_digit_kwh_register():
    delta, step = register_delta(999_990.0, 12.0)
    assert step is Step.rollover
    assert delta == pytest.approx(22.0)  # (1 000 000 - 999 990) + 12


def test_register_delta_rollover_in_displayed_wh():
    # A 9-digit Wh register stored in kWh: 999 999 000 Wh -> 500 Wh, i.e. 999 999 kWh -> 0.5 kWh.
    delta, step = register_delta(999_999.0, 0.5, display_factor=1e-3)
    assert step is Step.rollover
    assert delta == pytest.approx(1.5)  # (1e9 - 999 999 000 + 500) Wh = 1500 Wh = 1.5 kWh


def test_register_delta_reset_counts_from_zero():
    # 5230 kWh is not near 10 000 (needs >= 9000): a meter exchange, the new register counted from 0.
    assert register_delta(5230.0, 3.0) == (3.0, Step.reset)


def test_register_delta_drop_near_capacity_to_large_value_is_backward_not_reset():
    # 9500 -> 4000: previous near 10 000 but the new value is not small (rollover needs < 1000), and
    # 4000 is not close to zero (a reset needs < 0.1 x 9500 = 950): no evidence, held out.
    assert register_delta(9500.0, 4000.0) == (-5500.0, Step.backward)  # 4000 - 9500, reported


def test_register_jitter_of_one_least_significant_digit_is_zero_not_a_reset():
    # The cases: a register stepping back by its last digit counted the whole register.
    assert register_delta(12_346.0, 12_345.999) == (0.0, Step.jitter)  # kWh register, 0.001 kWh back
    assert register_delta(1_500.0, 1_499.999) == (0.0, Step.jitter)
    # A Wh register stored in kWh: 12 345 678 Wh -> 12 345 677 Wh is 1 displayed Wh back.
    assert register_delta(12_345.678, 12_345.677, display_factor=1e-3) == (0.0, Step.jitter)
    # 2 Wh back on a Wh register is more than one digit: not jitter, not near zero: backward.
    assert register_delta(12_345.678, 12_345.676, display_factor=1e-3)[1] is Step.backward


def test_reset_needs_evidence_near_zero_or_a_recorded_replacement():
    assert register_delta(5230.0, 500.0) == (500.0, Step.reset)  # 500 < 0.1 x 5230 = 523
    assert register_delta(5230.0, 600.0)[1] is Step.backward  # 600 >= 523: no evidence
    assert register_delta(5230.0, 600.0, replaced=True) == (0.0, Step.reset)  # recorded: counts nothing


def test_interval_held_out_for_backward_steps_and_spikes():
    # 15 min, 100 -> 40: backward (40 >= 0.1 x 100 = 10, 60 > 1 digit): no interval value.
    iv = interval_between(0, 100.0, 900_000, 40.0)
    assert (iv.delta, iv.step, iv.apparent) == (None, Step.backward, -60.0)  # 40 - 100
    # A bound of 1000 kWh/h allows 1000 x 900 / 3600 = 250 kWh in 15 min.
    assert interval_between(0, 100.0, 900_000, 350.0, max_rate_per_h=1000.0).delta == 250.0  # 350 - 100
    iv = interval_between(0, 100.0, 900_000, 350.001, max_rate_per_h=1000.0)
    assert (iv.delta, iv.step) == (None, Step.spike)  # 250.001 > 250
    # A reset is rate-checked too: 7 kWh from 0 in 15 min is fine under 1000 kWh/h.
    assert interval_between(0, 5230.0, 900_000, 7.0, max_rate_per_h=1000.0).step is Step.reset


def test_capacity_above_refuses_non_finite():
    with pytest.raises(ValueError, match="not finite"):
        capacity_above(float("inf"))


def test_capacity_above_exact_power_of_ten():
    assert capacity_above(1000.0) == 10_000.0
    assert capacity_above(999.5) == 1000.0


def test_interval_between_needs_increasing_time():
    with pytest.raises(ValueError, match="is not before"):
        interval_between(10, 1.0, 10, 2.0)
    assert interval_between(0, 1.0, 900_000, 3.5).interval_s == 900.0  # 900 000 ms / 1000


def _reading(ts: int, value: float, key="E-1", explicit=False) -> RegisterReading:
    return RegisterReading(key=key, series=f"meter,device_id={key}", interval_field="consumption_kwh",
                           display_factor=1.0, ts_ms=ts, value=value, explicit=explicit)


class FakeStorage:
    """What InfluxDB holds, as the tracker's lookup sees it (a pure stand-in for a pure test;
    the real lookup is covered end to end in test_intervals_live.py)."""

    def __init__(self, points: dict[str, dict[int, float]] | None = None):
        self.points = points or {}
        self.calls = []

    def __call__(self, wanted):
        self.calls.append(dict(wanted))
        out = {}
        for key, (_f, lo, hi) in wanted.items():
            pts = sorted(self.points.get(key, {}).items())
            before = [p for p in pts if p[0] < lo]
            after = [p for p in pts if p[0] > hi]
            out[key] = LookupResult(before[-CONTEXT:], [p for p in pts if lo <= p[0] <= hi], after[:CONTEXT])
        return out


def _by_ts(updates):
    return {u.ts_ms: u.fields for u in updates}


def test_tracker_in_order_stream():
    t = RegisterTracker(FakeStorage())
    assert t.apply([_reading(0, 100.0)]) == []  # first reading: no interval
    u = _by_ts(t.apply([_reading(MIN15_MS, 101.5), _reading(2 * MIN15_MS, 104.0)]))
    assert u[MIN15_MS] == {"consumption_kwh": pytest.approx(1.5), "interval_s": 900.0}  # 101.5 - 100
    assert u[2 * MIN15_MS] == {"consumption_kwh": pytest.approx(2.5), "interval_s": 900.0}  # 104 - 101.5


def test_tracker_out_of_order_rewrites_the_next_reading():
    t = RegisterTracker(FakeStorage())
    t.apply([_reading(0, 100.0), _reading(2 * MIN15_MS, 104.0)])
    # The late reading at 15 min lands between 0 and 30 min: both intervals change.
    u = _by_ts(t.apply([_reading(MIN15_MS, 101.0)]))
    assert u[MIN15_MS] == {"consumption_kwh": pytest.approx(1.0), "interval_s": 900.0}  # 101 - 100
    assert u[2 * MIN15_MS] == {"consumption_kwh": pytest.approx(3.0), "interval_s": 900.0}  # 104 - 101


def test_tracker_duplicate_gives_same_values_and_no_neighbour_rewrite():
    t = RegisterTracker(FakeStorage())
    t.apply([_reading(0, 100.0), _reading(MIN15_MS, 101.0), _reading(2 * MIN15_MS, 104.0)])
    u = _by_ts(t.apply([_reading(MIN15_MS, 101.0)]))
    assert u == {MIN15_MS: {"consumption_kwh": pytest.approx(1.0), "interval_s": 900.0}}  # 101 - 100, again


def test_tracker_reset_and_rollover_in_one_batch():
    t = RegisterTracker(FakeStorage())
    u = _by_ts(t.apply([_reading(0, 999_990.0), _reading(MIN15_MS, 500.0), _reading(2 * MIN15_MS, 700.0),
                        _reading(3 * MIN15_MS, 2.0), _reading(4 * MIN15_MS, 1.5), _reading(5 * MIN15_MS, 0.9)]))
    assert u[MIN15_MS]["consumption_kwh"] == pytest.approx(510.0)  # rollover: 1e6 - 999 990 + 500
    assert u[2 * MIN15_MS]["consumption_kwh"] == pytest.approx(200.0)  # 700 - 500
    assert u[3 * MIN15_MS]["consumption_kwh"] == pytest.approx(2.0)  # reset: 2 < 0.1 x 700, counts 2 from 0
    assert u[4 * MIN15_MS]["consumption_kwh"] == 0.0  # jitter: 2 -> 1.5 is within one digit
    assert u[5 * MIN15_MS]["consumption_kwh"] == 0.0  # jitter again: 1.5 -> 0.9 (0.6 back)


def test_tracker_holds_out_backward_steps_and_spikes():
    t = RegisterTracker(FakeStorage())
    rate = dict(max_rate_per_h=400.0)  # 400 kWh/h: at most 100 kWh per 15 min
    u = t.apply([RegisterReading("E-1", "meter,device_id=E-1", "consumption_kwh", 1.0, i * MIN15_MS, v, **rate)
                 for i, v in enumerate([1000.0, 1050.0, 900.0, 950.0, 5000.0])])
    got = {x.ts_ms: (x.fields, x.step) for x in u}
    assert got[MIN15_MS] == ({"consumption_kwh": pytest.approx(50.0), "interval_s": 900.0}, Step.normal)  # 1050-1000
    assert got[2 * MIN15_MS] == ({"interval_s": 900.0}, Step.backward)  # 900 >= 0.1 x 1050: held out
    assert got[3 * MIN15_MS][0]["consumption_kwh"] == pytest.approx(50.0)  # 950 - 900
    assert got[4 * MIN15_MS] == ({"interval_s": 900.0}, Step.spike)  # 4050 kWh in 15 min > 100


@pytest.mark.parametrize(("values", "expected"), [
    # Misread 1,000 kWh high at 15 min (the simulator's `spike` fault: max(1000, 1 %) added). Judged
    # with its neighbours it stands for 100 020 (clipped into [100 000, 100 020]): 20 kWh, then 0.
    # Judged in pairs it counted 1 010 (4 040 kWh/h, under the 1e5 kWh/h rate) and held the step back out.
    ([100_000.0, 101_010.0, 100_020.0], [20.0, 0.0]),
    # Misread 5,000 kWh low: it stands for 100 000, so 0, then 100 010 - 100 000 = 10 (in pairs:
    # the drop held out and 5 010 counted from the misread value).
    ([100_000.0, 95_000.0, 100_010.0], [0.0, 10.0]),
], ids=["high", "low"])
@pytest.mark.parametrize("arrival", ["one batch", "one by one", "late misread"])
def test_one_misread_register_value_is_not_consumption(values, expected, arrival):
    t = RegisterTracker(FakeStorage())
    readings = [_reading(i * MIN15_MS, v) for i, v in enumerate(values)]
    stored: dict[int, dict] = {}
    order = {"one batch": [readings], "one by one": [[r] for r in readings],
             "late misread": [[readings[0], readings[2]], [readings[1]]]}[arrival]
    misread = []
    for batch in order:
        for u in t.apply(batch):
            stored.setdefault(u.ts_ms, {}).update(u.fields)  # InfluxDB keeps fields not written again
            if u.ts_ms == MIN15_MS:
                misread.append(u.misread)
    assert [stored[i * MIN15_MS]["consumption_kwh"] for i in (1, 2)] == [pytest.approx(x) for x in expected]
    # The reading's own value minus the value it stands for: 101 010 - 100 020 = 990; 95 000 - 100 000.
    assert misread[-1] == pytest.approx(values[1] - (expected[0] + values[0]))


def test_no_reading_is_judged_against_a_neighbour_across_a_recorded_replacement():
    # Old meter 100 -> 200, replaced before 30 min, the new one reads 150 -> 160. Without the record
    # 200 would lie above [100, 150] and be taken as 150; across a replacement it is not judged.
    t = RegisterTracker(FakeStorage())
    rep = 2 * MIN15_MS - 1
    u = _by_ts(t.apply([RegisterReading("E-1", "meter,device_id=E-1", "consumption_kwh", 1.0, i * MIN15_MS, v,
                                        replaced_ms=rep) for i, v in enumerate([100.0, 200.0, 150.0, 160.0])]))
    assert u[MIN15_MS]["consumption_kwh"] == pytest.approx(100.0)  # 200 - 100, as read
    assert u[2 * MIN15_MS]["consumption_kwh"] == 0.0  # across the replacement: counts nothing
    assert u[3 * MIN15_MS]["consumption_kwh"] == pytest.approx(10.0)  # 160 - 150


def test_tracker_looks_up_storage_once_per_batch_after_restart():
    storage = FakeStorage({"E-1": {0: 100.0, MIN15_MS: 101.0}, "E-2": {0: 50.0}})
    t = RegisterTracker(storage)
    u = t.apply([_reading(2 * MIN15_MS, 103.0), _reading(MIN15_MS, 60.0, key="E-2"),
                 _reading(3 * MIN15_MS, 104.5)])
    assert len(storage.calls) == 1 and set(storage.calls[0]) == {"E-1", "E-2"}  # one lookup for both
    got = {(x.key, x.ts_ms): x.fields["consumption_kwh"] for x in u}
    assert got[("E-1", 2 * MIN15_MS)] == pytest.approx(2.0)  # 103 - 101 (stored neighbour)
    assert got[("E-1", 3 * MIN15_MS)] == pytest.approx(1.5)  # 104.5 - 103
    assert got[("E-2", MIN15_MS)] == pytest.approx(10.0)  # 60 - 50 (stored neighbour)
    t.apply([_reading(4 * MIN15_MS, 105.0)])
    assert len(storage.calls) == 1  # the live tail is cached now


def test_tracker_backfill_between_stored_readings_rewrites_stored_next():
    storage = FakeStorage({"E-1": {0: 100.0, 4 * MIN15_MS: 110.0}})
    t = RegisterTracker(storage)
    u = _by_ts(t.apply([_reading(MIN15_MS, 102.0), _reading(2 * MIN15_MS, 104.0)]))
    assert u[MIN15_MS]["consumption_kwh"] == pytest.approx(2.0)  # 102 - 100
    assert u[2 * MIN15_MS]["consumption_kwh"] == pytest.approx(2.0)  # 104 - 102
    assert u[4 * MIN15_MS] == {"consumption_kwh": pytest.approx(6.0), "interval_s": 1800.0}  # 110 - 104, 30 min


def test_tracker_explicit_interval_value_is_not_overwritten():
    t = RegisterTracker(FakeStorage())
    t.apply([_reading(0, 100.0)])
    assert t.apply([_reading(MIN15_MS, 101.0, explicit=True)]) == []


def test_tracker_cache_is_bounded_and_stays_correct():
    storage = FakeStorage()
    t = RegisterTracker(storage, max_points=4)
    for i in range(10):
        t.apply([_reading(i * MIN15_MS, 100.0 + i)])
    # Stored state for the lookup: what the tracker would have written.
    storage.points["E-1"] = {i * MIN15_MS: 100.0 + i for i in range(10)}
    calls = len(storage.calls)
    u = _by_ts(t.apply([_reading(MIN15_MS + 1, 101.5)]))  # far behind the 4 cached points
    assert len(storage.calls) == calls + 1  # looked up again
    assert u[MIN15_MS + 1]["consumption_kwh"] == pytest.approx(0.5)  # 101.5 - 101
    assert u[2 * MIN15_MS]["consumption_kwh"] == pytest.approx(0.5)  # 102 - 101.5


@settings(max_examples=300, deadline=None)
@given(increments=st.lists(st.integers(0, 50), min_size=24, max_size=24),
       arrivals=st.lists(st.tuples(st.sampled_from(["E-1", "E-2"]), st.integers(0, 23)), min_size=1, max_size=60),
       cuts=st.lists(st.integers(1, 8), min_size=60, max_size=60), max_points=st.integers(2, 8),
       series_fit=st.integers(1, 3))
def test_tracker_agrees_with_the_whole_history_whatever_the_order_batches_and_cache_size(
        increments, arrivals, cuts, max_points, series_fit):
    """Readings arrive in any order, in batches of any size, again and again, through a cache too
    small to hold them (too few readings per series, and with ``series_fit`` 1 a byte budget that
    holds one of the two series: each switch forgets the other): once every update is stored, each
    reading's interval is what the whole sorted history gives (its value minus the one before
    it), and the first reading has none."""
    value = {slot: 1000.0 + sum(increments[:slot + 1]) for slot in range(24)}  # a growing register
    storage = FakeStorage()
    tracker = RegisterTracker(storage, max_points=max_points,
                              max_bytes=series_fit * (SERIES_BYTES + max_points * READING_BYTES))
    stored: dict[tuple[str, int], dict] = {}
    batches, at = [], 0
    for cut in cuts:
        if at < len(arrivals):
            batches.append(arrivals[at:at + cut])
            at += cut
    for batch in batches:
        readings = [_reading(slot * MIN15_MS, value[slot], key=key) for key, slot in batch]
        for u in tracker.apply(readings):
            stored.setdefault((u.key, u.ts_ms), {}).update(u.fields)
        for r in readings:  # written: storage answers later lookups with it
            storage.points.setdefault(r.key, {})[r.ts_ms] = r.value
        assert tracker.cache_bytes <= series_fit * (SERIES_BYTES + max_points * READING_BYTES)
    for key in ("E-1", "E-2"):
        slots = sorted({slot for k, slot in arrivals if k == key})
        if slots:
            assert (key, slots[0] * MIN15_MS) not in stored  # the first reading: no interval
        for before, slot in pairwise(slots):
            assert stored[(key, slot * MIN15_MS)] == {
                "consumption_kwh": value[slot] - value[before],  # e.g. 1012 - 1005 = 7 kWh
                "interval_s": (slot - before) * 900.0}  # 15-minute slots apart x 900 s


@settings(max_examples=300, deadline=None)
@given(increments=st.lists(st.integers(0, 50), min_size=16, max_size=16),
       misreads=st.dictionaries(st.integers(1, 14), st.tuples(st.sampled_from([-1, 1]), st.integers(2, 3000)),
                                max_size=5),
       order=st.permutations(list(range(16))), again=st.lists(st.integers(0, 15), max_size=8),
       cuts=st.lists(st.integers(1, 6), min_size=24, max_size=24), max_points=st.integers(2, 8))
def test_misread_values_are_judged_as_the_whole_history_judges_them(increments, misreads, order, again, cuts,
                                                                     max_points):
    """A growing register with isolated misread values (high above the next reading or low below
    the previous one, by 2-3 000 kWh), arriving in any order, in batches, with re-sends, through a
    small cache: once every update is stored, each reading's interval is what the whole sorted
    history gives (contract.registers.clean_values, then interval_between), and they add up to the
    true growth."""
    true = [1000.0 + sum(increments[:k + 1]) for k in range(16)]
    bad = {}
    for k, (sign, extra) in sorted(misreads.items()):
        if any(k + d in bad for d in (-2, -1, 1, 2)):
            continue  # isolated: its neighbours, and theirs, are read right
        bad[k] = true[k + 1] + extra if sign > 0 else true[k - 1] - extra
    value = [bad.get(k, true[k]) for k in range(16)]
    storage = FakeStorage()
    tracker = RegisterTracker(storage, max_points=max_points)
    stored: dict[int, dict] = {}
    arrivals, at, batches = list(order) + again, 0, []
    for cut in cuts:
        if at < len(arrivals):
            batches.append(arrivals[at:at + cut])
            at += cut
    batches.append(arrivals[at:])
    for batch in batches:
        readings = [_reading(k * MIN15_MS, value[k]) for k in batch]
        for u in tracker.apply(readings):
            stored.setdefault(u.ts_ms, {}).update(u.fields)  # InfluxDB keeps fields not written again
        for r in readings:
            storage.points.setdefault(r.key, {})[r.ts_ms] = r.value
    ts = [k * MIN15_MS for k in range(16)]
    clean = clean_values(ts, value)
    for k in range(1, 16):
        iv = interval_between(ts[k - 1], clean[k - 1], ts[k], clean[k])
        assert stored[ts[k]] == {"consumption_kwh": iv.delta, "interval_s": 900.0}, k
    # Misreads are never consumption: the intervals add up to the true growth (the last reading is
    # read right or judged with nothing after it: keep it true).
    if 15 not in bad:
        assert sum(stored[ts[k]]["consumption_kwh"] for k in range(1, 16)) == pytest.approx(true[15] - true[0])
