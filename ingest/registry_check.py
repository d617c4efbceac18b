"""Registry-aware ingest: readings of devices the fleet does not know, or that contradict it.

With a fleet file configured (``--fleet-file``, registry/fleet.py), ingest knows every building and
device and what each one is. A message of an unknown building or device is dead-lettered
``unknown_device`` (or, with ``--unknown-devices accept``, stored and flagged with an
``unknown_device`` data-quality finding); a message that contradicts the fleet (a known device sent
as another kind, a meter with another carrier or sub-item) is dead-lettered ``registry_mismatch``.
Without a fleet nothing is checked.

Weather stations are not in the fleet file (the registry keeps them, ``weather_station``, docs/
baselines.md): a station is accepted when its host building is in the fleet, and refused
``unknown_device`` when the building is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from contract.localtime import installed_on_ms
from contract.payloads import ContractError, DeviceMessage, RejectReason
from contract.vocabulary import Carrier, DeviceKind, SubItem
from ingest.findings import Finding, FindingCode


class UnknownDevices(StrEnum):
    reject = "reject"  # dead-letter `unknown_device`
    accept = "accept"  # store, and record an `unknown_device` finding


@dataclass(frozen=True, slots=True)
class KnownDevice:
    kinds: frozenset[DeviceKind]
    carrier: Carrier | None = None
    sub_item: SubItem | None = None


@dataclass
class FleetIndex:
    """What ingest needs to know of the fleet, built once at start."""

    devices: dict[tuple[str, str], KnownDevice] = field(default_factory=dict)
    installed_ms: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (building, device) -> local midnight of the recorded replacement day (fleet ``replaced_on``) [ms]
    replaced_ms: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (building, device, kind) -> rated power: a PV inverter's kWp, a pile's rated kW [kW]
    rated_kw: dict[tuple[str, str, DeviceKind], float] = field(default_factory=dict)

    @classmethod
    def from_fleet(cls, fleet) -> FleetIndex:
        out = cls()
        for b in fleet.buildings:
            code = b.building_code
            for m in b.meters:
                out.devices[(code, m.device_id)] = KnownDevice(frozenset({DeviceKind.meter}), m.carrier, m.sub_item)
            for p in b.pv:
                kinds = {DeviceKind.pv_inverter} | ({DeviceKind.pv_meter} if p.has_grid_meter else set())
                out.devices[(code, p.device_id)] = KnownDevice(frozenset(kinds))
                out.rated_kw[(code, p.device_id, DeviceKind.pv_inverter)] = p.capacity_kwp
            for e in b.ev_piles:
                out.devices[(code, e.device_id)] = KnownDevice(frozenset({DeviceKind.ev_pile}))
                out.rated_kw[(code, e.device_id, DeviceKind.ev_pile)] = e.rated_power_kw
            for d in (*b.meters, *b.pv, *b.ev_piles):
                out.installed_ms[(code, d.device_id)] = installed_on_ms(d.installed_on)
                if d.replaced_on is not None:
                    out.replaced_ms[(code, d.device_id)] = installed_on_ms(d.replaced_on)
        return out


class RegistryCheck:
    def __init__(self, index: FleetIndex, unknown: UnknownDevices = UnknownDevices.reject):
        self._devices = index.devices
        self._buildings = {b for b, _d in index.devices}
        self._unknown = unknown

    def check(self, msg: DeviceMessage) -> Finding | None:
        """Raise the reason that refuses ``msg``, or return the finding it carries (accept mode)."""
        known = self._devices.get((msg.building_code, msg.device_id))
        if known is None and msg.device_kind is DeviceKind.weather_station and msg.building_code in self._buildings:
            return None
        if known is None:
            what = (f"building {msg.building_code}" if msg.building_code not in self._buildings
                    else f"device {msg.device_id} of building {msg.building_code}")
            detail = f"{what} is not in the fleet"
            if self._unknown is UnknownDevices.reject:
                raise ContractError(RejectReason.unknown_device, detail)
            ts = [r.ts_ms for r in msg.readings]
            return Finding(FindingCode.unknown_device, msg.building_code, msg.device_id, min(ts), max(ts),
                           f"{detail}: stored ({msg.device_kind.value})")
        if msg.device_kind not in known.kinds:
            raise ContractError(RejectReason.registry_mismatch,
                                f"{msg.device_id} is a {'/'.join(sorted(k.value for k in known.kinds))} in the "
                                f"fleet, sent as {msg.device_kind.value}")
        if msg.device_kind is DeviceKind.meter and (msg.carrier, msg.sub_item) != (known.carrier, known.sub_item):
            raise ContractError(RejectReason.registry_mismatch,
                                f"{msg.device_id} is a {known.carrier}/{known.sub_item} meter in the fleet, sent as "
                                f"{msg.carrier}/{msg.sub_item}")
        return None
