"""Turn simulated readings into contract messages (DeviceMessage / GatewayBatch) in time order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from contract.payloads import DeviceMessage, GatewayBatch, Reading
from contract.topics import device_topic, gateway_topic
from contract.vocabulary import DeviceKind, Stream
from registry.fleet import BuildingSpec
from simulators.engine import BuildingChunk, DeviceFrame, SessionFrame


@dataclass
class Outgoing:
    """One MQTT publication: topic, the model, and the instant it is due (its first reading)."""

    ts_ms: int
    topic: str
    message: DeviceMessage | GatewayBatch
    payload: bytes | None = None  # set for deliberately malformed payloads (faults)

    def encode(self) -> bytes:
        if self.payload is not None:
            return self.payload
        return self.message.model_dump_json(exclude_none=True).encode()


def _readings(frame: DeviceFrame, lo: int, hi: int) -> list[Reading]:
    cols = {q: v[lo:hi].tolist() for q, v in frame.values.items()}
    ts = frame.ts_ms[lo:hi].tolist()
    # model_construct: the values are built to the contract here, and a test decodes every
    # message with contract.payloads.decode; validating twice would halve the publish rate.
    return [Reading.model_construct(ts_ms=t, values={q: c[i] for q, c in cols.items()})
            for i, t in enumerate(ts)]


def _device_message(code: str, frame: DeviceFrame, readings: list[Reading]) -> DeviceMessage:
    fields = dict(schema_version=1, building_code=code, device_kind=frame.kind, device_id=frame.device_id,
                  stream=Stream.telemetry, carrier=frame.carrier, sub_item=frame.sub_item,
                  units=frame.units, readings=readings)
    return DeviceMessage.model_construct(**fields)


def _session_messages(code: str, s: SessionFrame) -> Iterator[Outgoing]:
    topic = device_topic(code, DeviceKind.ev_pile, s.device_id, Stream.session)
    for i, t in enumerate(s.ts_ms.tolist()):
        values: dict = {"session_id": s.session_id[i], "event": s.event[i]}
        units = {}
        if s.event[i] == "stop":
            values["energy"], values["pv_energy"] = float(s.energy_kwh[i]), float(s.pv_energy_kwh[i])
            units = {"energy": "kWh", "pv_energy": "kWh"}
        msg = DeviceMessage.model_construct(
            schema_version=1, building_code=code, device_kind=DeviceKind.ev_pile, device_id=s.device_id,
            stream=Stream.session, carrier=None, sub_item=None, units=units,
            readings=[Reading.model_construct(ts_ms=t, values=values)])
        yield Outgoing(t, topic, msg)


def building_messages(spec: BuildingSpec, chunk: BuildingChunk, readings_per_message: int = 1) -> Iterator[Outgoing]:
    """Messages of one building's chunk in time order, built lazily; gateway buildings send one
    batch per reading group."""
    return heapq.merge(_telemetry(spec, chunk, readings_per_message),
                       *(_session_messages(spec.building_code, s) for s in chunk.sessions),
                       key=lambda o: o.ts_ms)


def _telemetry(spec: BuildingSpec, chunk: BuildingChunk, readings_per_message: int) -> Iterator[Outgoing]:
    code = spec.building_code
    frames = [f for f in chunk.devices if len(f.ts_ms)]
    # Frames can differ in length after faults (offline gaps), so group each by its own index.
    groups: dict[int, list[tuple[DeviceFrame, int, int]]] = {}
    for f in frames:
        for lo in range(0, len(f.ts_ms), readings_per_message):
            groups.setdefault(int(f.ts_ms[lo]), []).append((f, lo, lo + readings_per_message))
    for ts0 in sorted(groups):
        members = groups[ts0]
        if spec.gateway_id:
            msgs = [_device_message(code, f, _readings(f, lo, hi)) for f, lo, hi in members]
            for part in range(0, len(msgs), 2000):  # GatewayBatch holds at most 2000 messages
                batch = GatewayBatch.model_construct(schema_version=1, building_code=code,
                                                     gateway_id=spec.gateway_id, messages=msgs[part:part + 2000])
                yield Outgoing(ts0, gateway_topic(code, spec.gateway_id), batch)
        else:
            for f, lo, hi in members:
                yield Outgoing(ts0, device_topic(code, f.kind, f.device_id, Stream.telemetry),
                               _device_message(code, f, _readings(f, lo, hi)))


def time_ordered(specs: list[BuildingSpec], chunks: Iterable[list[BuildingChunk]],
                 readings_per_message: int = 1) -> Iterator[Outgoing]:
    """All messages of successive fleet chunks in time order (stable: fleet order on ties).

    Messages are built as they are consumed, so memory holds the chunk's arrays, not its messages.
    """
    for fleet_chunk in chunks:
        yield from heapq.merge(*(building_messages(spec, ch, readings_per_message)
                                 for spec, ch in zip(specs, fleet_chunk, strict=True)), key=lambda o: o.ts_ms)
