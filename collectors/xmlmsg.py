"""The XML packets of the collector protocol: parsing (defusedxml: no DTD, no entities) and the
packets the data centre and a collector send (docs/collectors.md, "Packets")."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

#: The operation elements a packet may carry besides ``common``; ``heat_beat`` is one vendor's spelling.
OPERATION_ELEMENTS = ("id_validate", "heart_beat", "heat_beat", "data", "config")


class XmlError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Function:
    id: str
    coding: str
    error: str
    text: str


@dataclass(frozen=True, slots=True)
class Meter:
    id: str
    conn: str
    functions: tuple[Function, ...]


@dataclass(frozen=True, slots=True)
class Packet:
    building_id: str
    gateway_id: str
    type: str  # common/type
    element: str  # id_validate, heart_beat, data, config ('' if none)
    operation: str  # the element's operation attribute, else common/type
    body: Element | None = field(repr=False, compare=False)

    def text(self, tag: str) -> str | None:
        if self.body is None:
            return None
        node = self.body.find(tag)
        return None if node is None or node.text is None else node.text.strip()


@dataclass(frozen=True, slots=True)
class DataBody:
    sequence: str
    time: str
    total: int | None
    current: int | None
    meters: tuple[Meter, ...]


def parse(text: str) -> Packet:
    """Parse one packet; XmlError for anything that is not a well-formed, entity-free packet."""
    try:
        root = DET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise XmlError("forbidden_xml", f"{type(e).__name__}: DTDs and entities are refused") from None
    except (DET.ParseError, ValueError) as e:
        raise XmlError("malformed_xml", str(e)[:200]) from None
    if root.tag != "root":
        raise XmlError("malformed_xml", f"root element is <{root.tag}>, not <root>")
    common = root.find("common")
    if common is None:
        raise XmlError("malformed_xml", "no <common>")

    def c(tag: str) -> str:
        node = common.find(tag)
        return (node.text or "").strip() if node is not None else ""

    body = next((child for child in root if child.tag in OPERATION_ELEMENTS), None)
    element = "" if body is None else ("heart_beat" if body.tag == "heat_beat" else body.tag)
    typ = c("type")
    operation = (body.get("operation") or "").strip() if body is not None else ""
    if element == "" and typ in ("request", "md5", "sequence", "result"):
        element = "id_validate"  # some builds name the step only in common/type
    return Packet(c("building_id"), c("gateway_id"), typ, element, operation or typ, body)


def data_body(pkt: Packet) -> DataBody:
    """The readings of a ``data`` packet (report, reply, continuous)."""
    body = pkt.body
    if body is None:
        raise XmlError("malformed_xml", "a data packet without <data>")
    meters = []
    for m in body.iter("meter"):
        funcs = tuple(Function((f.get("id") or "").strip(), (f.get("coding") or "").strip(),
                               (f.get("error") or "192").strip(), (f.text or "").strip())
                      for f in m.iter("function"))
        meters.append(Meter((m.get("id") or "").strip(), (m.get("conn") or "conn").strip(), funcs))
    return DataBody(pkt.text("sequence") or "", pkt.text("time") or "", _int(pkt.text("total")),
                    _int(pkt.text("current")), tuple(meters))


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        raise XmlError("malformed_xml", f"{text!r} is not a packet count") from None


def number(text: str) -> float | None:
    """A function value as a finite float, None when it is not one."""
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


# --------------------------------------------------------------------------- building packets
def build(building_id: str, gateway_id: str, typ: str, element: str | None, operation: str | None,
          children: list[tuple[str, str]] | None = None) -> Element:
    root = Element("root")
    common = SubElement(root, "common")
    SubElement(common, "building_id").text = building_id
    SubElement(common, "gateway_id").text = gateway_id
    SubElement(common, "type").text = typ
    if element:
        body = SubElement(root, element)
        if operation:
            body.set("operation", operation)
        for tag, text in children or []:
            SubElement(body, tag).text = text
    return root


def data_packet(building_id: str, gateway_id: str, operation: str, *, sequence: str, time: str,
                meters: list[Meter], total: int | None = None, current: int | None = None) -> Element:
    """A ``report`` / ``reply`` / ``continuous`` packet as a collector sends it."""
    children = [("sequence", sequence), ("parse", "yes"), ("time", time)]
    if total is not None:
        children += [("total", str(total)), ("current", str(current))]
    root = build(building_id, gateway_id, operation, "data", operation, children)
    data = root.find("data")
    for m in meters:
        me = SubElement(data, "meter", {"id": m.id, "conn": m.conn})
        for f in m.functions:
            SubElement(me, "function", {"id": f.id, "coding": f.coding, "error": f.error}).text = f.text
    return root


def to_text(root: Element) -> str:
    return '<?xml version="1.0" encoding="utf-8"?>' + tostring(root, encoding="unicode")
