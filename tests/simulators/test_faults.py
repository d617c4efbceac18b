"""Faults: each kind shows up in the stream exactly where the manifest says, and nowhere else."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from contract.payloads import RejectReason
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
    # Each through ingest's own batch builder, configured with the fleet as `--fleet-file` does: some
    # are well-formed on the wire and refused by time, range or registry.
    from ingest.intervals import LookupResult, RegisterTracker
    from ingest.messages import Inbound
    from ingest.metrics import Metrics
    from ingest.pipeline import BatchBuilder
    from ingest.registry_check import FleetIndex, RegistryCheck
    from ingest.transform import TimeRules, Transformer

    index = FleetIndex.from_fleet(fleet)
    builder = BatchBuilder(rules=TimeRules(installed_ms=index.installed_ms),
                           tracker=RegisterTracker(lambda w: {k: LookupResult([], [], []) for k in w}),
                           metrics=Metrics(), client_id="t", transformer=Transformer(rated_kw=index.rated_kw),
                           registry=RegistryCheck(index))
    by_reason = {}
    for o in out:
        if o.payload is None:
            continue
        builder.add(Inbound(0, 0, 1, o.topic, o.payload, int(time.time() * 1000)))
        letters = builder.seal().deadletters
        assert len(letters) == 1, (o.topic, letters)
        by_reason[letters[0].reason] = o
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


def _stored_energy(outgoing) -> dict[str, float]:
    """Interval energy per series after ingest's own batch builder (a fresh fleet: nothing stored
    before), the later line of a series and timestamp replacing fields as InfluxDB does."""
    from ingest.intervals import LookupResult, RegisterTracker
    from ingest.messages import Inbound
    from ingest.metrics import Metrics
    from ingest.pipeline import BatchBuilder
    from ingest.transform import TimeRules

    builder = BatchBuilder(rules=TimeRules(), metrics=Metrics(), client_id="t",
                           tracker=RegisterTracker(lambda w: {k: LookupResult([], [], []) for k in w}),
                           clock_ms=lambda: 2_000_000_000_000)
    points: dict[tuple[str, str], dict[str, str]] = {}
    for i, o in enumerate(outgoing):
        builder.add(Inbound(0, i, 1, o.topic, o.encode(), 0))
        if i % 500 == 499 or i == len(outgoing) - 1:
            for line in builder.seal().lines:
                series, fields, ts = line.rsplit(" ", 2)
                if series.startswith(("meter,", "pv,")):
                    points.setdefault((series, ts), {}).update(kv.split("=", 1) for kv in fields.split(","))
    out: dict[str, float] = {}
    for (series, _ts), fields in points.items():
        for name in ("consumption_kwh", "consumption_m3", "generation_kwh"):
            if name in fields:
                out[series] = out.get(series, 0.0) + float(fields[name])
    return out


def test_spike_faults_are_misreads_and_cost_no_energy():
    """The simulator's `spike` fault (one register value max(1000, 1 %) too high) is judged with its
    neighbours: every series stores the same energy as without the fault. Judged in pairs (before
    contract.registers.clean_value) a spike under the plausible rate counted its 1000 kWh and more,
    and one above it held both intervals around it out (E-SPC-1 here: 3292.997 kWh for 3317.938)."""
    fleet = small_fleet()
    clean, *_ = run(fleet, days=2)
    spiked, _, _, inj = run(fleet, days=2, injector_factory=lambda f, p: FaultInjector(f, p, 9, {"spike": 3}))
    spikes = [f for f in inj.manifest()["faults"] if f["kind"] == "spike"]  # only applied ones are listed
    assert len(spikes) == 3 and all(f["detail"]["added"] >= 1000 for f in spikes)
    want, got = _stored_energy(clean), _stored_energy(spiked)
    assert want.keys() == got.keys() and len(want) > 30
    for series, energy in want.items():
        assert got[series] == pytest.approx(energy, abs=1e-6), series
