"""JSON payloads on the wire (schema version 1), as pydantic models.

Simulators build these models and publish ``model.model_dump_json()``; ingest decodes with
:func:`decode`. A message the simulator sends and ingest rejects is a bug in one of them.

A device message::

    {"schema_version": 1, "building_code": "510402A001", "device_kind": "meter",
     "device_id": "E-HVAC-1", "carrier": "electricity", "sub_item": "hvac",
     "units": {"register": "kWh", "power": "kW"},
     "readings": [{"ts_ms": 1767196800000, "values": {"register": 1523.75, "power": 12.5}}]}

A gateway batch carries many device messages of one building::

    {"schema_version": 1, "building_code": "510402A001", "gateway_id": "GW1",
     "messages": [<device message>, ...]}

Timestamps are the measurement time in integer milliseconds since the Unix epoch (UTC),
inside the payload, so late, backfilled and out-of-order readings keep their true time.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from contract.topics import TopicAddress, TopicError, parse_topic
from contract.units import UNITS
from contract.vocabulary import (
    CARRIER_DIMENSION,
    SIGNED_QUANTITIES,
    STATUS_QUANTITIES,
    TELEMETRY_QUANTITIES,
    BuildingCode,
    Carrier,
    DeviceId,
    DeviceKind,
    SessionEvent,
    Stream,
    SubItem,
)

SCHEMA_VERSION = 1
#: Readings per device message and device messages per gateway batch (docs/mqtt-contract.md).
MAX_READINGS = 10_000
MAX_BATCH_MESSAGES = 2_000
#: Larger payloads are dead-lettered unread. Sized so that both documented maxima fit with room:
#: 10 000 readings of the widest device (a pv_meter: 4 quantities at 17 significant digits,
#: ~190 bytes a reading as compact JSON, tests/contract/test_limits.py) are ~1.9 MB, and
#: 2 000 device messages of one such reading each (~425 bytes with their header) are ~0.85 MB;
#: 8 MiB leaves 4x for indented JSON and longer ids. Memory is bounded in bytes by ingest
#: (docs/ingest.md, "Memory"), not by this limit.
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024

# Any int64 millisecond: the plausible window (installation/floor .. clock + tolerance) is ingest's
# to check, so that a client gets `timestamp_before_device` / `future_timestamp`, not a schema error.
TsMs = Annotated[int, Field(ge=-(2**63), lt=2**63)]
#: Strict: a lax ``Literal[1]`` took JSON ``true`` and ``1.0`` as version 1 (``true == 1`` in Python).
SchemaVersion = Annotated[int, Strict(), Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)]


class RejectReason(StrEnum):
    """Stable codes of the dead-letter path (also the label of the rejection counter)."""

    oversized_payload = "oversized_payload"
    bad_topic = "bad_topic"
    malformed_json = "malformed_json"
    unsupported_schema_version = "unsupported_schema_version"
    schema_violation = "schema_violation"
    unknown_unit = "unknown_unit"
    non_finite_value = "non_finite_value"
    negative_value = "negative_value"
    topic_mismatch = "topic_mismatch"
    future_timestamp = "future_timestamp"
    timestamp_before_device = "timestamp_before_device"
    value_out_of_range = "value_out_of_range"
    unknown_device = "unknown_device"
    registry_mismatch = "registry_mismatch"


class ContractError(ValueError):
    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class Reading(_Strict):
    ts_ms: TsMs
    # Strict: JSON true/false would otherwise be stored silently as 1.0/0.0.
    values: dict[str, Annotated[float, Strict()] | str] = Field(min_length=1)


class DeviceMessage(_Strict):
    schema_version: SchemaVersion = SCHEMA_VERSION
    building_code: BuildingCode
    device_kind: DeviceKind
    device_id: DeviceId
    stream: Stream = Stream.telemetry
    carrier: Carrier | None = None
    sub_item: SubItem | None = None
    units: dict[str, str] = Field(default_factory=dict)
    readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS)

    @model_validator(mode="after")
    def _carrier_rules(self) -> DeviceMessage:
        if self.device_kind is DeviceKind.meter:
            if self.carrier is None:
                raise ValueError("a meter message needs 'carrier'")
            if (self.carrier is Carrier.electricity) != (self.sub_item is not None):
                raise ValueError("'sub_item' is required for electricity meters and only for them")
        elif self.carrier is not None or self.sub_item is not None:
            raise ValueError(f"'carrier'/'sub_item' belong to meters, not {self.device_kind.value}")
        if self.stream is Stream.session and self.device_kind is not DeviceKind.ev_pile:
            raise ValueError("only ev_pile devices send a session stream")
        return self


class SessionRecord(_Strict):
    """The ``values`` of a reading on an ev_pile's ``session`` stream (checked by :func:`decode`)."""

    session_id: DeviceId
    event: SessionEvent
    energy: float | None = Field(default=None, ge=0)  # on stop: energy of the session
    pv_energy: float | None = Field(default=None, ge=0)  # on stop: the part met by on-site PV


class GatewayBatch(_Strict):
    schema_version: SchemaVersion = SCHEMA_VERSION
    building_code: BuildingCode
    gateway_id: DeviceId
    messages: list[DeviceMessage] = Field(min_length=1, max_length=MAX_BATCH_MESSAGES)


_NO_VERSION = object()


def _schema_version_of(raw: bytes) -> object:
    """The payload's ``schema_version``, or ``_NO_VERSION`` when it is not a JSON object naming one
    (a list, a string, an object without it: those are schema violations, not other versions)."""
    import json

    try:
        obj = json.loads(raw)
    except ValueError:
        return _NO_VERSION
    if not isinstance(obj, dict) or "schema_version" not in obj:
        return _NO_VERSION
    return obj["schema_version"]


def _check_units(kind: DeviceKind, carrier: Carrier | None, units: dict[str, str]) -> None:
    allowed = TELEMETRY_QUANTITIES[kind]
    for q, unit in units.items():
        if q not in allowed:
            raise ContractError(RejectReason.schema_violation, f"units names {q!r}, not a {kind.value} quantity")
        want = allowed[q] or CARRIER_DIMENSION[carrier]  # type: ignore[index]
        got = UNITS.get(unit)
        if got is None or got[0] is not want:
            raise ContractError(RejectReason.unknown_unit,
                                f"unit {unit!r} for {q!r} is not a known {want.value} unit")


#: Outcome of :func:`_check_units` per (kind, carrier, units): a fleet repeats a handful of unit
#: sets, and checking them was a third of the per-message cost (hot path). None: valid.
_UNITS_CHECKED: dict[tuple, tuple[RejectReason, str] | None] = {}


def _check_units_cached(kind: DeviceKind, carrier: Carrier | None, units: dict[str, str]) -> None:
    key = (kind, carrier, *units.items())
    try:
        found = _UNITS_CHECKED[key]
    except KeyError:
        try:
            _check_units(kind, carrier, units)
            found = None
        except ContractError as e:
            found = (e.reason, e.detail)
        if len(_UNITS_CHECKED) < 10_000:  # bounded: senders control the unit texts
            _UNITS_CHECKED[key] = found
    if found is not None:
        raise ContractError(*found)


def _check_semantics(msg: DeviceMessage) -> None:
    """Units, signs and finiteness: what the schema alone does not say."""
    kind = msg.device_kind
    if msg.stream is Stream.session:
        for r in msg.readings:
            try:
                rec = SessionRecord.model_validate(r.values)
            except ValidationError as e:
                raise ContractError(RejectReason.schema_violation, _first_error(e)) from None
            if rec.energy is not None and msg.units.get("energy") not in UNITS:
                raise ContractError(RejectReason.unknown_unit, f"unit of 'energy' is {msg.units.get('energy')!r}")
        return
    units = msg.units
    _check_units_cached(kind, msg.carrier, units)
    allowed = TELEMETRY_QUANTITIES[kind]
    statuses = STATUS_QUANTITIES.get(kind, {})
    signed = SIGNED_QUANTITIES.get(kind, frozenset())
    isfinite = math.isfinite
    for r in msg.readings:
        for q, v in r.values.items():
            # The common case first: a number of a quantity with a unit (the same checks, in the
            # same order, as below; a unit implies an allowed quantity, see _check_units).
            if v.__class__ is float and q in units and q not in statuses:
                if not isfinite(v):
                    raise ContractError(RejectReason.non_finite_value, f"{q}={v}")
                if v < 0 and q not in signed:
                    raise ContractError(RejectReason.negative_value, f"{q}={v} at ts_ms={r.ts_ms}")
                continue
            if q in statuses:
                if not isinstance(v, str) or v not in statuses[q].__members__:
                    raise ContractError(RejectReason.schema_violation, f"{q}={v!r} is not one of "
                                        f"{list(statuses[q].__members__)}")
                continue
            if q not in allowed:
                raise ContractError(RejectReason.schema_violation, f"{q!r} is not a {kind.value} quantity")
            if isinstance(v, str):
                raise ContractError(RejectReason.schema_violation, f"{q!r} must be a number, got a string")
            if not isfinite(v):
                raise ContractError(RejectReason.non_finite_value, f"{q}={v}")
            if v < 0 and q not in signed:
                raise ContractError(RejectReason.negative_value, f"{q}={v} at ts_ms={r.ts_ms}")
            if q not in units:
                raise ContractError(RejectReason.unknown_unit, f"no unit given for {q!r}")


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "payload"
    return f"{loc}: {err['msg']}"


def _reason_for(e: ValidationError) -> RejectReason:
    types = {err["type"] for err in e.errors()}
    if "json_invalid" in types or "json_type" in types:
        return RejectReason.malformed_json
    if "finite_number" in types:
        return RejectReason.non_finite_value
    return RejectReason.schema_violation


def decode(topic: str, payload: bytes) -> tuple[TopicAddress, list[DeviceMessage | ContractError]]:
    """Decode one MQTT message into device messages.

    A device topic yields one entry; a gateway batch yields one entry per device message, each
    either a :class:`DeviceMessage` or the :class:`ContractError` that rejects it alone, so one
    bad meter in a batch does not cost the readings of the others.

    Raises
    ------
    ContractError
        When the whole message is unusable (size, topic, JSON, schema version, structure).
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(RejectReason.oversized_payload, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        addr = parse_topic(topic)
    except TopicError as e:
        raise ContractError(RejectReason.bad_topic, str(e)) from None
    model = GatewayBatch if addr.is_gateway else DeviceMessage
    try:
        parsed = model.model_validate_json(payload)
    except ValidationError as e:
        reason = _reason_for(e)
        if reason is RejectReason.schema_violation:
            version = _schema_version_of(payload)
            if version is not _NO_VERSION and (version != SCHEMA_VERSION or version is True):
                raise ContractError(RejectReason.unsupported_schema_version,
                                    f"schema_version {version!r}; this ingest reads {SCHEMA_VERSION}") from None
        raise ContractError(reason, _first_error(e)) from None
    if parsed.building_code != addr.building_code:
        raise ContractError(RejectReason.topic_mismatch,
                            f"payload building {parsed.building_code} on topic of {addr.building_code}")
    if isinstance(parsed, GatewayBatch):
        if parsed.gateway_id != addr.device_id:
            raise ContractError(RejectReason.topic_mismatch,
                                f"payload gateway {parsed.gateway_id} on topic of {addr.device_id}")
        out: list[DeviceMessage | ContractError] = []
        for m in parsed.messages:
            if m.building_code != addr.building_code:
                out.append(ContractError(RejectReason.topic_mismatch,
                                         f"{m.device_id}: building {m.building_code} in a batch of "
                                         f"{addr.building_code}"))
                continue
            try:
                _check_semantics(m)
                out.append(m)
            except ContractError as e:
                out.append(ContractError(e.reason, f"{m.device_id}: {e.detail}"))
        return addr, out
    if (parsed.device_kind, parsed.device_id, parsed.stream) != (addr.device_kind, addr.device_id, addr.stream):
        raise ContractError(RejectReason.topic_mismatch,
                            f"payload {parsed.device_kind.value}/{parsed.device_id}/{parsed.stream.value} on "
                            f"topic {topic}")
    _check_semantics(parsed)
    return addr, [parsed]
