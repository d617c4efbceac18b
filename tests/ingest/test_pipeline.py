"""Batch building on arbitrary input: nothing escapes, every message is stored or dead-lettered."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.intervals import LookupResult, RegisterTracker
from ingest.metrics import Metrics
from ingest.pipeline import BatchBuilder, Inbound
from ingest.transform import TimeRules
from tests.ingest.helpers import T0_MS, meter_msg, meter_topic

NOW_MS = T0_MS + 86_400_000


def _builder() -> BatchBuilder:
    # No stored readings: the lookup answers "nothing before, nothing after" (a new fleet).
    tracker = RegisterTracker(lambda wanted: {k: LookupResult(None, [], None) for k in wanted})
    return BatchBuilder(rules=TimeRules(), tracker=tracker, metrics=Metrics(), client_id="t",
                        clock_ms=lambda: NOW_MS)


json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                                                     max_size=4), max_leaves=12)


def _mutated_message(draw_values):
    base = meter_msg("E-1", [(T0_MS, {"register": 1.0, "power": 2.0})])
    return base | draw_values


@settings(max_examples=300, deadline=None)
@given(topic=st.one_of(st.just(meter_topic("E-1")), st.text(max_size=40)),
       payload=st.one_of(st.binary(max_size=200),
                         st.dictionaries(st.sampled_from(["schema_version", "building_code", "device_kind",
                                                          "device_id", "carrier", "sub_item", "units",
                                                          "readings", "stream", "extra"]),
                                         json_values, max_size=4).map(_mutated_message)))
def test_any_input_is_stored_or_dead_lettered_never_raises(topic, payload):
    b = _builder()
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    b.add(Inbound(1, 1, 1, topic, raw, NOW_MS))
    batch = b.seal()
    assert batch.deadletters or batch.readings  # stored, or dead-lettered with a reason
    for d in batch.deadletters:
        assert d.reason and d.detail
        assert d.reason != "internal_error", d.detail  # every bad input has a contract reason
    assert len(batch.lines) == len(set(batch.lines))
