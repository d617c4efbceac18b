"""Faults: each kind shows up in the stream exactly where the manifest says, and nowhere else."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from contract.localtime import local_midnight_ms
from contract.payloads import ContractError, RejectReason, decode
from simulators.faults import CLOCK_SKEW_MS, FaultInjector, parse_spec
from tests.simulators.helpers import decoded, readings_by_device, run, small_fleet


def test_parse_spec_counts_and_errors():
    assert parse_spec("offline=2,spike") == {"offline": 2, "spike": 1}
    assert set(parse_spec("all")) >= {"offline", "malformed", "duplicate", "rollover"}
    with pytest.raises(ValueError, match="'flood'"):
        parse_spec("flood=3")
    with pytest.raises(ValueError, match="'x'"):
        parse_spec("spike=x")


@pytest.fixture(scope="module")
def faulty():
    fleet = small_fleet()
    clean, *_ = run(fleet, days=4)
    counts = {"offline": 2, "spike": 2, "reset": 1, "rollover": 1, "clock_skew": 1, "duplicate": 4,
              "out_of_order": 4, "malformed": 1}
    out, _, period, inj = run(fleet, days=4, injector_factory=lambda f, p: FaultInjector(f, p, 9, counts))
    return fleet, clean, out, period, inj.manifest()["faults"]


def test_malformed_payloads_get_their_reject_reason(faulty):
    fleet, _, out, _, faults = faulty
    mal = [f for f in faults if f["kind"] == "malformed"]
    assert sorted(f["expected_reject_reason"] for f in mal) == sorted(r.value for r in RejectReason)
    by_reason = {}
    for o in out:
        if o.payload is None:
            continue
        try:
            _, msgs = decode(o.topic, o.payload)
        except ContractError as e:
            by_reason[e.reason.value] = o
            continue
        errs = [m for m in msgs if isinstance(m, ContractError)]
        assert not errs
        ts = msgs[0].readings[0].ts_ms
        # Well-formed on the wire: ingest refuses these by time (wall clock, installation date).
        if ts > time.time() * 1000:
            by_reason["future_timestamp"] = o
        elif ts < local_midnight_ms(fleet.buildings[0].meters[0].installed_on):
            by_reason["timestamp_before_device"] = o
    assert set(by_reason) == {r.value for r in RejectReason}
    assert len([o for o in out if o.payload is not None]) == len(RejectReason)  # nothing else malformed


def test_reading_faults_where_the_manifest_says(faulty):
    _, clean, out, period, faults = faulty
    base = readings_by_device(decoded(clean))
    got = readings_by_device(decoded([o for o in out if o.payload is None]))
    kinds = Counter(f["kind"] for f in faults)
    assert kinds["offline"] == 2 and kinds["spike"] == 2 and kinds["reset"] == 1 and kinds["clock_skew"] == 1
    assert kinds["rollover"] == 1
    touched = set()
    for f in faults:
        key = (f["building_code"], f["device_kind"], f["device_id"], "telemetry")
        q = "generation_register" if f["device_kind"] == "pv_inverter" else "register"
        series = dict(sorted(got[key]))
        if f["kind"] == "offline":
            gap = [ts for ts in series if f["ts_ms"] <= ts <= f["until_ts_ms"]]
            missing = {ts for ts, _ in base[key]} - set(series)
            assert gap == [] and len(missing) == 8  # 8 readings x 15 min = 2 h offline
        elif f["kind"] == "spike":
            assert series[f["ts_ms"]][q] - dict(base[key])[f["ts_ms"]][q] == pytest.approx(f["detail"]["added"])
        elif f["kind"] == "reset":
            prev = max(ts for ts in series if ts < f["ts_ms"])
            assert series[f["ts_ms"]][q] < series[prev][q]
            assert series[f["ts_ms"]][q] < 0.01 * series[prev][q]  # restarted near zero
        elif f["kind"] == "rollover":
            prev = max(ts for ts in series if ts < f["ts_ms"])
            assert series[prev][q] < f["detail"]["modulus"] and series[f["ts_ms"]][q] < series[prev][q]
        elif f["kind"] == "clock_skew":
            skewed = [ts for ts in series if ts % period.step_ms == CLOCK_SKEW_MS]
            assert len(skewed) == 12 and min(skewed) == f["ts_ms"] + CLOCK_SKEW_MS
        if f["kind"] in ("offline", "spike", "reset", "rollover", "clock_skew"):
            touched.add(key)
    # Devices without a reading fault carry exactly the clean readings (duplicates aside).
    untouched = [k for k in base if k not in touched]
    assert len(untouched) > 30
    for key in untouched:
        assert dict(got[key]) == dict(base[key]), key


def test_stream_faults_duplicate_and_delay_only_listed_messages(faulty):
    _, clean, out, _, faults = faulty
    good = [o for o in out if o.payload is None]
    counts = Counter((o.topic, o.ts_ms) for o in good)
    dups = {(f["topic"], f["ts_ms"]) for f in faults if f["kind"] == "duplicate"}
    assert len(dups) == 4
    assert {k for k, n in counts.items() if n == 2} == dups
    assert max(counts.values()) == 2
    late = {(f["topic"], f["ts_ms"]) for f in faults if f["kind"] == "out_of_order"}
    assert len(late) == 4
    seen_max = 0
    overtaken = set()
    for o in good:
        if o.ts_ms < seen_max:
            overtaken.add((o.topic, o.ts_ms))
        seen_max = max(seen_max, o.ts_ms)
    # A delayed message is overtaken by 20 later ones; at 15 min each building publishes many
    # messages per instant, so a delayed message may come back within its own instant.
    assert overtaken <= late
    # Nothing else added or lost: duplicates add, offline device topics drop whole messages.
    assert len(good) == len(clean) + len(dups) - _dropped_messages(clean, faults)


def _dropped_messages(clean, faults) -> int:
    # Offline devices on device topics lose whole messages (gateway buildings keep the batch).
    n = 0
    for f in faults:
        if f["kind"] == "offline" and "/gateway/" not in f["topic"]:
            n += sum(1 for o in clean if o.topic == f["topic"] and f["ts_ms"] <= o.ts_ms <= f["until_ts_ms"])
    return n
