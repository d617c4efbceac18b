"""The gateway's in-memory view of the registry: collectors with their keys and point mappings.

Read at start and every ``refresh_s`` (docs/collectors.md); keys are unsealed here, kept only in
this process's memory, and never part of a repr or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from contract.localtime import installed_on_ms
from registry import keys
from registry.collectors import list_collectors
from registry.db import session_scope
from registry.models import Meter


@dataclass(frozen=True, slots=True)
class Target:
    """Where one meter function goes: a registry meter and a contract quantity."""

    device_id: str
    quantity: str
    unit: str
    carrier: str
    sub_item: str | None
    item_code: str


@dataclass(frozen=True, slots=True)
class CollectorEntry:
    building_code: str
    gateway_id: str
    key: str = field(repr=False)
    installed_ms: int
    targets: dict[tuple[str, str], Target] = field(repr=False)


@dataclass(frozen=True)
class Directory:
    by_id: dict[tuple[str, str], CollectorEntry]
    #: The distinct keys, for the first packet of an encrypted connection (docs/collectors.md).
    keys: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(dict.fromkeys(e.key for e in self.by_id.values())))

    def get(self, building_code: str, gateway_id: str) -> CollectorEntry | None:
        return self.by_id.get((building_code, gateway_id))


def load_directory(engine: Engine, secret: str | None = None) -> Directory:
    out = {}
    with session_scope(engine) as session:
        meters = {(m.building_code, m.device_id): m for m in session.scalars(select(Meter))}
        for c in list_collectors(session=session):
            targets = {}
            for p in c.points:
                m = meters.get((c.building_code, p.device_id))
                if m is None:  # the meter was removed after the import: the point maps nowhere
                    continue
                targets[(p.meter_id, p.function_id)] = Target(p.device_id, p.quantity, p.unit, m.carrier,
                                                              m.sub_item, p.item_code)
            out[(c.building_code, c.gateway_id)] = CollectorEntry(
                c.building_code, c.gateway_id, keys.unseal(c.key_sealed, secret), installed_on_ms(c.installed_on),
                targets)
    return Directory(out)
