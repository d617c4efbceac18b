"""One data packet -> contract messages: each mapped function value becomes a reading of its
registry meter, sent as gateway batches on the building's topic (docs/mqtt-contract.md), so ingest
stays the one path into InfluxDB. What is not a value becomes a data-quality finding."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from collectors.directory import CollectorEntry
from collectors.findings import FindingCode, record_finding
from collectors.xmlmsg import DataBody, number
from contract.localtime import local_to_ms
from contract.payloads import MAX_PAYLOAD_BYTES, SCHEMA_VERSION
from contract.topics import gateway_topic
from contract.vocabulary import Carrier
from registry.itemcodes import item_codes

NO_ERROR = "192"  # function@error: 192 means no error (the guideline)
TIME_FORMATS = ("%Y%m%d%H%M%S", "%Y/%m/%d %H:%M:%S")
#: A batch stays well under ingest's payload limit and its 2000 device messages.
BATCH_BYTES = MAX_PAYLOAD_BYTES // 2
BATCH_MESSAGES = 1000


@dataclass
class Conversion:
    messages: list[tuple[str, bytes]] = field(default_factory=list)  # (topic, JSON payload)
    readings: int = 0  # function values accepted
    findings: int = 0
    ts_ms: int | None = None
    #: (meter_id, function_id, item_code, value text) accepted: what upstream forwarding sends on
    accepted: list[tuple[str, str, str, str]] = field(default_factory=list)


def parse_time(text: str, first_format: str) -> dt.datetime | None:
    for fmt in (first_format, *TIME_FORMATS):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def convert(entry: CollectorEntry, body: DataBody, *, now_ms: int, future_tolerance_ms: int,
            time_format: str = TIME_FORMATS[0]) -> Conversion:
    out = Conversion()
    ids = {"building_code": entry.building_code, "gateway_id": entry.gateway_id}

    def finding(code: FindingCode, detail: str, meter_id: str | None = None, function_id: str | None = None) -> None:
        out.findings += 1
        record_finding(code, meter_id=meter_id, function_id=function_id, detail=detail, **ids)

    local = parse_time(body.time, time_format)
    if local is None:
        finding(FindingCode.bad_time, f"time {body.time[:40]!r} is not {time_format}")
        return out
    ts_ms = local_to_ms(local)
    if ts_ms > now_ms + future_tolerance_ms:
        finding(FindingCode.future_time, f"collection time {body.time} is ahead of the gateway clock")
        return out
    if ts_ms < entry.installed_ms:
        finding(FindingCode.before_installation, f"collection time {body.time} is before the installation")
        return out
    out.ts_ms = ts_ms
    codes = item_codes()
    devices: dict[str, dict] = {}
    for meter in body.meters:
        if meter.conn == "disconn":
            finding(FindingCode.meter_disconnected, f"meter {meter.id} reports conn=disconn", meter.id)
            continue
        for f in meter.functions:
            if f.error != NO_ERROR:
                finding(FindingCode.meter_error, f"error={f.error[:20]}", meter.id, f.id)
                continue
            if f.coding not in codes:
                finding(FindingCode.unknown_item_code, f"coding {f.coding[:20]!r}", meter.id, f.id)
                continue
            target = entry.targets.get((meter.id, f.id))
            if target is None:
                finding(FindingCode.unmapped_function, f"coding {f.coding}", meter.id, f.id)
                continue
            if target.item_code != f.coding:
                finding(FindingCode.item_code_mismatch, f"coding {f.coding}, registry {target.item_code}",
                        meter.id, f.id)
                continue
            value = number(f.text)
            if value is None or value < 0:  # no meter quantity of the contract is signed
                finding(FindingCode.bad_value, f"value {f.text[:40]!r}", meter.id, f.id)
                continue
            msg = devices.get(target.device_id)
            if msg is None:
                msg = devices[target.device_id] = {
                    "schema_version": SCHEMA_VERSION, "building_code": entry.building_code, "device_kind": "meter",
                    "device_id": target.device_id, "carrier": target.carrier,
                    "sub_item": target.sub_item if target.carrier == Carrier.electricity else None,
                    "units": {}, "readings": [{"ts_ms": ts_ms, "values": {}}]}
            msg["units"][target.quantity] = target.unit
            msg["readings"][0]["values"][target.quantity] = value
            out.readings += 1
            out.accepted.append((meter.id, f.id, f.coding, f.text))
    out.messages = _batches(entry, list(devices.values()))
    return out


def _batches(entry: CollectorEntry, messages: list[dict]) -> list[tuple[str, bytes]]:
    topic = gateway_topic(entry.building_code, entry.gateway_id)
    head = {"schema_version": SCHEMA_VERSION, "building_code": entry.building_code, "gateway_id": entry.gateway_id}
    out, chunk, size = [], [], 0
    for m in messages:
        text = json.dumps(m, separators=(",", ":"))
        if chunk and (size + len(text) > BATCH_BYTES or len(chunk) >= BATCH_MESSAGES):
            out.append((topic, _batch(head, chunk)))
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    if chunk:
        out.append((topic, _batch(head, chunk)))
    return out


def _batch(head: dict, texts: list[str]) -> bytes:
    return (json.dumps(head, separators=(",", ":"))[:-1] + ',"messages":[' + ",".join(texts) + "]}").encode()
