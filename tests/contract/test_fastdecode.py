"""The fast decoder gives exactly the contract's verdicts (contract/fastdecode.py).

Random payloads, valid and mutated, built from the contract's own vocabulary, go to the reference
(:func:`contract.payloads.decode`) and to the fast path. The fast path only accepts; whatever it
accepts the reference must accept too, with the same fields, values and value types in every device
message. ``fastdecode.decode`` (fast path, else the reference) must give the reference's outcome
reason by reason, detail by detail. And valid payloads of the shapes devices send are accepted by
the fast path itself, or there is no speed-up to have.
"""

from __future__ import annotations

import json
import re

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, field_validator, model_validator

from contract import fastdecode
from contract.payloads import MAX_READINGS, ContractError, decode
from contract.topics import device_topic, gateway_topic
from contract.units import UNITS
from contract.vocabulary import (
    BUILDING_CODE_RE,
    CARRIER_DIMENSION,
    DEVICE_ID_RE,
    SIGNED_QUANTITIES,
    STATUS_QUANTITIES,
    TELEMETRY_QUANTITIES,
    Carrier,
    DeviceKind,
    SessionEvent,
    Stream,
    SubItem,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

codes = st.from_regex(BUILDING_CODE_RE, fullmatch=True)
ids = st.from_regex(DEVICE_ID_RE, fullmatch=True)
ts = st.integers(1_262_304_000_000, 2_000_000_000_000)
finite = st.floats(0, 1e9, allow_nan=False) | st.integers(0, 10**6)


def _units_of(dimension):
    return [u for u, (d, _f) in UNITS.items() if d is dimension]


@st.composite
def device_message(draw, code=None):
    """A valid device message (dict) as a device of the fleet would send it."""
    kind = draw(st.sampled_from(DeviceKind))
    msg = {"schema_version": 1, "building_code": code or draw(codes), "device_kind": kind.value,
           "device_id": draw(ids)}
    carrier = None
    if kind is DeviceKind.meter:
        carrier = draw(st.sampled_from(Carrier))
        msg["carrier"] = carrier.value
        if carrier is Carrier.electricity:
            msg["sub_item"] = draw(st.sampled_from(["hvac", "lighting_sockets", "power", "special", "main"]))
    if kind is DeviceKind.ev_pile and draw(st.booleans()):
        msg["stream"] = "session"
        msg["units"] = {"energy": draw(st.sampled_from(_units_of(CARRIER_DIMENSION[Carrier.electricity])))}
        values = st.fixed_dictionaries({"session_id": ids, "event": st.sampled_from(SessionEvent)},
                                       optional={"energy": finite, "pv_energy": finite})
    else:
        allowed = TELEMETRY_QUANTITIES[kind]
        quantities = draw(st.lists(st.sampled_from(sorted(allowed)), min_size=1, unique=True))
        msg["units"] = {q: draw(st.sampled_from(_units_of(allowed[q] or CARRIER_DIMENSION[carrier])))
                        for q in quantities}
        signed = SIGNED_QUANTITIES.get(kind, frozenset())
        number = {q: (st.floats(-1e9, 1e9, allow_nan=False) if q in signed else finite) for q in quantities}
        number.update({q: st.sampled_from(list(e.__members__)) for q, e in STATUS_QUANTITIES.get(kind, {}).items()})
        values = st.fixed_dictionaries({}, optional=number).filter(lambda v: any(q in v for q in quantities))
    msg["readings"] = draw(st.lists(st.fixed_dictionaries({"ts_ms": ts, "values": values}), min_size=1, max_size=4))
    return msg


def topic_of(msg: dict) -> str:
    return device_topic(msg["building_code"], msg["device_kind"], msg["device_id"], msg.get("stream", "telemetry"))


@st.composite
def valid_payload(draw):
    if draw(st.booleans()):
        msg = draw(device_message())
        return topic_of(msg), msg
    code, gw = draw(codes), draw(ids)
    msgs = draw(st.lists(device_message(code), min_size=1, max_size=4))
    return gateway_topic(code, gw), {"schema_version": 1, "building_code": code, "gateway_id": gw, "messages": msgs}


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=5)
#: Replacements aimed at the contract's edges: types, bounds, enum and pattern misses.
edge_values = st.sampled_from([True, False, None, 0, -1, 1.5, -0.0, 2, 2**63, -(2**63) - 1, 1e308, "1.5", "",
                               "510402A001", "510402A001\n", "E 1", "x" * 65, "kWh", "meter", "session", "electricity",
                               "hvac", [], {}, float("nan"), float("inf"), MAX_READINGS + 1]) | json_values


def _paths(obj, prefix=()):
    """Every (container, key) of a decoded JSON document."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


def _at(obj, path):
    for k in path:
        obj = obj[k]
    return obj


#: Names and texts of the contract (any kind, carrier, unit, quantity, status, event) and ids with
#: the trailing newline that Python's ``$`` would let through.
vocab = st.sampled_from(sorted({*DeviceKind, *Carrier, *SubItem, *Stream, *SessionEvent, *UNITS,
                                *(q for qs in TELEMETRY_QUANTITIES.values() for q in qs),
                                *(m for e in (s for d in STATUS_QUANTITIES.values() for s in d.values())
                                  for m in e.__members__), "session_id", "energy", "pv_energy"})) | codes | ids
near = st.one_of(vocab, codes, ids.map(lambda s: s + "\n"), codes.map(lambda s: s + "\n"), st.none(), edge_values)
numbers = st.floats(-1e9, 1e9, allow_nan=False) | st.integers(-(2**70), 2**70) | st.booleans()


def _set_or_delete(draw, target: dict, keys) -> None:
    # Identifiers weigh more: only a valid-looking one reaches the fast path's pattern checks.
    ident = [k for k in ("device_id", "gateway_id", "building_code") if k in target]
    key = draw(st.sampled_from(sorted({*target, *keys}) + ident * 3))
    if key in target and draw(st.integers(0, 3)) == 3:
        del target[key]
    else:
        old = target.get(key)
        if isinstance(old, str) and (BUILDING_CODE_RE.match(old) or DEVICE_ID_RE.match(old)):
            # an identifier: mostly another valid one or the same with a newline (a pattern's edge)
            target[key] = draw(st.sampled_from([old + "\n", "\n" + old, old + " "]) | codes | ids | near)
        else:
            target[key] = draw(near if not isinstance(old, float) else numbers | near)


def _mutate(draw, topic: str, doc: dict, ops: list[str]) -> str:
    """One change aimed at a rule of the contract; returns the (maybe changed) topic."""
    def dicts(x):
        return [d for d in x if isinstance(d, dict)] if isinstance(x, list) else []

    target = draw(st.sampled_from([doc, *dicts(doc.get("messages"))]))
    op = draw(st.sampled_from(ops))
    readings = dicts(target.get("readings"))
    reading = draw(st.sampled_from(readings)) if readings else {}
    if op == "header":
        _set_or_delete(draw, target, ["extra", "stream", "carrier", "sub_item", "units", "schema_version"])
    elif op == "units" and isinstance(target.get("units"), dict):
        _set_or_delete(draw, target["units"], [draw(vocab)])
    elif op == "value" and isinstance(reading.get("values"), dict):
        values = reading["values"]
        key = draw(st.sampled_from(sorted({*values, draw(vocab)})))
        values[key] = draw(numbers | near)
        if draw(st.booleans()) and len(values) > 1:
            del values[draw(st.sampled_from(sorted(values)))]
    elif op == "reading" and reading:
        _set_or_delete(draw, reading, ["ts_ms", "values", "extra"])
    elif op == "topic":
        other, _doc = draw(valid_payload())
        return draw(st.sampled_from([other, topic + "x", topic.replace("telemetry", "session")]))
    else:  # anywhere in the document: any JSON value, removal, emptied or oversized containers
        path = draw(st.sampled_from(list(_paths(doc))))
        parent, key = _at(doc, path[:-1]), path[-1]
        how = draw(st.sampled_from(["replace", "replace", "delete", "empty", "many"]))
        if how == "replace":
            parent[key] = draw(edge_values)
        elif how == "delete":
            del parent[key]
        elif how == "empty" and isinstance(parent[key], (list, dict)):
            parent[key] = type(parent[key])()
        elif how == "many" and isinstance(parent[key], list) and parent[key]:
            parent[key] = parent[key] * (MAX_READINGS // len(parent[key]) + 1)
    return topic


@st.composite
def mutated(draw, ops: tuple[str, ...], text: bool = False):
    topic, doc = draw(valid_payload())
    for _ in range(draw(st.integers(1, 2))):
        topic = _mutate(draw, topic, doc, list(ops))
    raw = json.dumps(doc).encode()  # NaN/Infinity as their (non-JSON) text, as some senders do
    if text and draw(st.booleans()):  # text the JSON encoder never writes
        raw = draw(st.sampled_from([raw[:-1], raw + b"\xff", raw.replace(b'"', b"'", 1),
                                    raw.replace(b'{"', b'{"ts_ms": 1, "', 1), raw.replace(b": 1,", b": 1.0,", 1),
                                    # a number that overflows to inf in a double
                                    re.sub(rb'("values": \{"[^"]+": )[-0-9.e+]+', rb"\g<1>1e400", raw, count=1)]))
    return topic, raw


def _plain(x):
    """Fields, values and value types, so that a model and a Struct compare (-0.0 is not 0.0)."""
    if isinstance(x, BaseModel):
        return type(x).__name__, {k: _plain(getattr(x, k)) for k in type(x).model_fields}
    if isinstance(x, msgspec.Struct):
        return type(x).__name__, {k: _plain(getattr(x, k)) for k in x.__struct_fields__}
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return type(x), repr(x)


def _outcome(fn, topic, raw):
    try:
        addr, parts = fn(topic, raw)
    except ContractError as e:
        return "rejected", e.reason, e.detail
    return addr, [(p.reason, p.detail) if isinstance(p, ContractError) else _plain(p) for p in parts]


def _check(topic: str, raw: bytes) -> bool:
    reference = _outcome(decode, topic, raw)
    accepted = fastdecode._accept(topic, raw)
    if accepted is not None:
        addr, parts = accepted
        assert reference == (addr, [_plain(p) for p in parts])
    assert _outcome(fastdecode.decode, topic, raw) == reference
    return accepted is not None


@SETTINGS
@given(valid_payload())
def test_fast_path_accepts_valid_payloads_as_the_reference_does(case):
    topic, doc = case
    assert _check(topic, json.dumps(doc).encode()), "a valid payload fell back to the reference"


# One test per family of rules, so that each family gets the examples it needs to be hit.
@SETTINGS
@given(mutated(("header",)))
def test_headers_ids_kinds_and_carriers(case):
    """Patterns (incl. a trailing newline), enums, carrier rules, topic match, extra and missing keys."""
    _check(*case)


@SETTINGS
@given(mutated(("units", "value", "reading")))
def test_units_values_and_timestamps(case):
    """Units, quantities, signs, statuses, session records, value and timestamp types."""
    _check(*case)


@SETTINGS
@given(mutated(("header", "units", "value", "reading", "deep", "topic"), text=True))
def test_any_change_and_broken_text(case):
    """Anything anywhere, topics, emptied and oversized lists, text that is not JSON."""
    _check(*case)


@pytest.mark.parametrize("raw", [b'{"ts_ms": 1}', b"\x80abc", b"[]", b"null", b'"x"', b"{}"])
def test_non_objects_and_non_utf8_fall_back(raw):
    topic = device_topic("510402A001", "meter", "E-1")
    assert not _check(topic, raw)


def test_a_constraint_the_translator_does_not_know_fails_at_import():
    class Odd(BaseModel):
        model_config = {"extra": "forbid", "frozen": True}
        n: int = Field(multiple_of=2)

    class Checked(BaseModel):
        model_config = {"extra": "forbid", "frozen": True}
        n: int

        @field_validator("n")
        @classmethod
        def _n(cls, v):
            return v

    class Ruled(BaseModel):
        model_config = {"extra": "forbid", "frozen": True}
        n: int

        @model_validator(mode="after")
        def _rule(self):
            return self

    class Holder(BaseModel):  # a model with a rule inside a dict: not walked by the fast path's checks
        model_config = {"extra": "forbid", "frozen": True}
        by_name: dict[str, Ruled]

    fastdecode._struct_of(Ruled)  # alone it translates

    for model in (Odd, Checked, Holder):
        with pytest.raises(TypeError, match="fast decoder"):
            fastdecode._struct_of(model)


def _batch(**inner) -> tuple[str, dict]:
    m = {"schema_version": 1, "building_code": "510402A001", "device_kind": "meter", "device_id": "W-1",
         "carrier": "water", "units": {"register": "m3"},
         "readings": [{"ts_ms": 1_767_196_800_000, "values": {"register": 1.0}}]}
    m.update(inner)
    return gateway_topic("510402A001", "GW"), {"schema_version": 1, "building_code": "510402A001",
                                               "gateway_id": "GW", "messages": [m, {**m, "device_id": "W-2"}]}


@pytest.mark.parametrize(("inner", "text"), [
    ({}, None),  # the valid batch: accepted by the fast path
    ({"device_id": "W-1\n"}, None),  # Python's `$` would match before the newline; the contract's pattern not
    ({"building_code": "510402A002"}, None),  # another building inside the batch: that message alone rejected
    ({"sub_item": "hvac"}, None),  # a sub-item on a water meter: the model validator's rule
    ({"readings": [{"ts_ms": 1_767_196_800_000, "values": {"register": True}}]}, None),  # bool for a float
    ({}, (b"1.0}", b"1e400}")),  # overflows to inf
    ({}, (b'"schema_version": 1, "building_code": "510402A001", "gateway_id"',  # not version 1: both reject
          b'"schema_version": true, "building_code": "510402A001", "gateway_id"')),
])
def test_edges_of_a_gateway_batch(inner, text):
    topic, doc = _batch(**inner)
    raw = json.dumps(doc).encode()
    if text:
        assert text[0] in raw
        raw = raw.replace(*text)
    assert _check(topic, raw) is (not inner and not text)
