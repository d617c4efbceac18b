"""Small runs shared by the simulator tests: a fleet with every device kind, decoded back."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from contract.localtime import local_midnight_ms
from contract.payloads import ContractError, DeviceMessage, decode
from contract.vocabulary import Carrier
from registry.fleet import Fleet, MeterSpec
from simulators.fleetgen import generate_fleet
from simulators.fleetsim import FleetSim, Period
from simulators.groundtruth import GroundTruth
from simulators.messages import time_ordered

START = dt.date(2025, 7, 14)  # a Monday, so a 3-day run has working days only


def small_fleet(size: int = 5) -> Fleet:
    """A generated fleet, plus a district-heat meter (GJ) in the third building."""
    f = generate_fleet(7, size)
    b = f.buildings[2]
    heat = MeterSpec(device_id="H-1", carrier=Carrier.district_heat)
    f.buildings[2] = b.model_copy(update={"meters": [*b.meters, heat]})
    return Fleet.model_validate(f.model_dump())


def run(fleet: Fleet, *, seed: int = 3, days: int = 3, chunk_intervals: int = 96, readings_per_message: int = 1,
        start: dt.date = START, step_min: int = 15, injector_factory=None):
    """(outgoing messages, ground truth, period) of a short backfill, without publishing."""
    period = Period(local_midnight_ms(start), local_midnight_ms(start + dt.timedelta(days=days)), step_min * 60_000)
    sim = FleetSim(fleet, seed, period, chunk_intervals)
    gt = GroundTruth()
    inj = injector_factory(fleet, period) if injector_factory else None
    if inj:
        inj.prepare(sim.sims)

    def chunks():
        for fc in sim.chunks():
            for ch in fc:
                gt.add(ch)
                if inj:
                    inj.apply(ch)
            yield fc

    stream = time_ordered(fleet.buildings, chunks(), readings_per_message)
    if inj:
        stream = inj.stream(stream)
    return list(stream), gt, period, inj


def decoded(outgoing) -> list[tuple[str, DeviceMessage]]:
    """Decode every message like ingest does; raises on any rejection."""
    out = []
    for o in outgoing:
        _, msgs = decode(o.topic, o.encode())
        for m in msgs:
            if isinstance(m, ContractError):
                raise m
            out.append((o.topic, m))
    return out


def readings_by_device(msgs) -> dict[tuple, list[tuple[int, dict]]]:
    """(building, device_kind, device_id, stream) -> [(ts_ms, values)] in arrival order."""
    out = defaultdict(list)
    for _, m in msgs:
        for r in m.readings:
            out[(m.building_code, m.device_kind.value, m.device_id, m.stream.value)].append((r.ts_ms, r.values))
    return out
