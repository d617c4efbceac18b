"""A simulated fleet of MOHURD data collectors: real TCP clients of the collector gateway, with
their ground truth (docs/simulators.md, "Collectors").

Each collector reads its meters' cumulative registers every period, keeps what the data centre has
not acknowledged (the collector's local store), and sends it again with ``continuous`` after an
outage, exactly as the guideline asks of a collector. Faults: outages of the link, a wrong key,
malformed packets. The ground truth is every register value a collector produced, keyed by
(building, device, time); what the platform stores must equal it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from collectors.client import ClientError, CollectorClient
from collectors.profile import Profile
from collectors.xmlmsg import Function, Meter
from contract.localtime import ms_to_local
from registry.fleet import Fleet
from registry.itemcodes import item_codes

log = logging.getLogger("simulators.collectors")

#: The default unit a collector reports each carrier's register in.
REGISTER_UNIT = {"electricity": "kWh", "water": "m3", "natural_gas": "m3", "manufactured_gas": "m3",
                 "district_heat": "GJ", "district_cooling": "GJ", "lpg": "kg", "diesel": "kg", "gasoline": "kg",
                 "coal": "t"}
#: Typical register increase per 15 minutes, in REGISTER_UNIT. [unit / 15 min]
STEP_RATE = {"electricity": 12.0, "water": 0.4, "natural_gas": 1.5, "district_heat": 0.05}


def item_code_for(carrier: str, sub_item: str | None) -> str | None:
    """The least detailed item code of the table for a platform carrier and sub-item."""
    want_sub = sub_item if carrier == "electricity" else None
    for code in sorted(item_codes().values(), key=lambda c: (c.level, c.code)):
        if code.carrier is not None and code.carrier.value == carrier and \
                (code.sub_item.value if code.sub_item else None) == want_sub:
            return code.code
    return None


@dataclass(frozen=True)
class PointPlan:
    meter_id: str
    function_id: str
    item_code: str
    device_id: str
    unit: str
    rate: float  # mean register increase per step [unit]


@dataclass
class CollectorPlan:
    building_code: str
    gateway_id: str
    key: str
    points: list[PointPlan]
    installed_on: str = "2015-01-01"


def plan_fleet(fleet: Fleet, *, seed: int, key_of=None) -> list[CollectorPlan]:
    """One collector ("01") per building, one meter number per registry meter, function 1 = its register."""
    rng = random.Random(seed)
    plans = []
    for b in fleet.buildings:
        points = []
        for j, m in enumerate(b.meters, start=1):
            code = item_code_for(m.carrier.value, m.sub_item.value if m.sub_item else None)
            if code is None or m.carrier.value not in REGISTER_UNIT:
                continue
            rate = STEP_RATE.get(m.carrier.value, 1.0) * rng.uniform(0.3, 1.5)
            points.append(PointPlan(str(j), "1", code, m.device_id, REGISTER_UNIT[m.carrier.value], rate))
        key = key_of(b.building_code) if key_of else f"{rng.getrandbits(64):016x}"
        plans.append(CollectorPlan(b.building_code, "01", key, points))
    return plans


def write_registry_csv(plans: list[CollectorPlan], folder: Path) -> tuple[Path, Path]:
    """The collectors and points CSV files for ``python -m registry import --collectors``."""
    folder.mkdir(parents=True, exist_ok=True)
    cpath, ppath = folder / "collectors.csv", folder / "collector_points.csv"
    with cpath.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["building_code", "gateway_id", "key", "installed_on"])
        w.writerows((p.building_code, p.gateway_id, p.key, p.installed_on) for p in plans)
    with ppath.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["building_code", "gateway_id", "meter_id", "function_id", "item_code", "device_id", "quantity",
                    "unit"])
        for p in plans:
            w.writerows((p.building_code, p.gateway_id, q.meter_id, q.function_id, q.item_code, q.device_id,
                         "register", q.unit) for q in p.points)
    return cpath, ppath


@dataclass
class Faults:
    #: (first step, end step) ranges in which the link is down: packets are stored, then resent.
    outages: list[tuple[int, int]] = field(default_factory=list)
    #: Send a malformed packet after authenticating at these steps (the gateway drops the link).
    malformed_at: set[int] = field(default_factory=set)
    wrong_key: bool = False


class CollectorSim:
    """One collector. ``truth[(building, device, ts_ms)] = register value`` of every reading made."""

    def __init__(self, plan: CollectorPlan, profile: Profile, host: str, port: int, *, start_ms: int,
                 period_min: int = 15, seed: int = 0, faults: Faults | None = None, ack_timeout_s: float = 30):
        self.plan, self.p, self.host, self.port = plan, profile, host, port
        self.start_ms, self.period_ms = start_ms, period_min * 60_000
        self.faults = faults or Faults()
        self.ack_timeout_s = ack_timeout_s
        self.rng = random.Random(f"{seed}-{plan.building_code}-{plan.gateway_id}")
        self.registers = {q.device_id: round(self.rng.uniform(100, 5000), 3) for q in plan.points}
        self.truth: dict[tuple[str, str, int], float] = {}
        self.store: list[tuple[str, list[Meter]]] = []  # unacknowledged packets, oldest first
        self.acked = 0  # packets acknowledged
        self.continuous_acked = 0
        self.auth_failures = 0
        self.client: CollectorClient | None = None
        self._seq = 0

    def read_meters(self, step: int) -> tuple[str, list[Meter]]:
        ts = self.start_ms + step * self.period_ms
        meters = []
        for q in self.plan.points:
            self.registers[q.device_id] = round(self.registers[q.device_id] + q.rate * self.rng.uniform(0.2, 1.8), 3)
            text = f"{self.registers[q.device_id]:.3f}"
            self.truth[(self.plan.building_code, q.device_id, ts)] = float(text)
            meters.append(Meter(q.meter_id, "conn", (Function(q.function_id, q.item_code, "192", text),)))
        return ms_to_local(ts).strftime(self.p.time_format), meters

    def link_down(self, step: int) -> bool:
        return any(a <= step < b for a, b in self.faults.outages)

    async def _ensure_session(self, step: int) -> bool:
        if self.client is not None and not self.client.closed.is_set():
            return True
        await self.drop()
        key = ("f" * len(self.plan.key)) if self.faults.wrong_key else self.plan.key
        self.client = CollectorClient(self.host, self.port, self.p, self.plan.building_code, self.plan.gateway_id,
                                      key)
        try:
            await self.client.connect()
            if not await self.client.authenticate():
                self.auth_failures += 1
                await self.drop()
                return False
        except (OSError, TimeoutError, ClientError):
            await self.drop()
            return False
        return True

    async def drop(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def flush(self, step: int) -> bool:
        """Send what is stored: one packet as ``report``, a backlog as ``continuous``. True when empty."""
        if not self.store or not await self._ensure_session(step):
            return not self.store
        if step in self.faults.malformed_at:  # the gateway drops the link; the next send notices
            self.faults.malformed_at.discard(step)
            with contextlib.suppress(OSError):
                await self.client.send_raw(self.client.frame_text("<root><common>truncated"))
        try:
            if len(self.store) == 1:
                t, meters = self.store[0]
                self._seq += 1
                if not await self.client.send_data("report", t, meters, sequence=str(self._seq),
                                                   timeout_s=self.ack_timeout_s):
                    raise ClientError("report not acknowledged")
                self.store.pop(0)
                self.acked += 1
                return True
            total = len(self.store)
            for current in range(1, total + 1):
                t, meters = self.store[0]
                self._seq += 1
                if not await self.client.send_data("continuous", t, meters, sequence=str(self._seq), total=total,
                                                   current=current, timeout_s=self.ack_timeout_s):
                    raise ClientError("continuous not acknowledged")
                self.store.pop(0)
                self.acked += 1
                self.continuous_acked += 1
            return True
        except (OSError, TimeoutError, ClientError) as e:
            log.info("collector link lost; keeping %d packets", len(self.store), extra={"error": str(e)[:200]})
            await self.drop()
            return False

    async def run(self, steps: int, *, settle_s: float = 120, retry_s: float = 0.5,
                  pace_s: float | None = None, pace_from_step: int = 0) -> None:
        """Backfill ``steps`` periods as fast as the gateway acknowledges (from ``pace_from_step``
        on, one every ``pace_s`` seconds: live), then resend until nothing is stored (or ``settle_s``
        passed)."""
        loop = asyncio.get_running_loop()
        for step in range(steps):
            self.store.append(self.read_meters(step))
            if not self.link_down(step):
                await self.flush(step)
            if pace_s and step >= pace_from_step:
                await self._heartbeats_until(loop.time() + pace_s)
        deadline = loop.time() + settle_s
        while self.store and not self.faults.wrong_key and loop.time() < deadline:
            if not await self.flush(steps):
                await asyncio.sleep(retry_s)
        await self.drop()


    async def run_from(self, step: int, steps: int, **kw) -> None:
        """Go on from ``step`` (the periods before it are already in :attr:`store`)."""
        self.faults.outages = [(a - step, b - step) for a, b in self.faults.outages]
        self.start_ms += step * self.period_ms
        await self.run(steps - step, **kw)

    async def _heartbeats_until(self, until: float, every_s: float = 60) -> None:
        loop = asyncio.get_running_loop()
        while (left := until - loop.time()) > 0:
            await asyncio.sleep(min(left, every_s))
            if self.client is not None and not self.client.closed.is_set() and until - loop.time() > 0:
                with contextlib.suppress(OSError, TimeoutError, ClientError):
                    await self.client.heartbeat()


async def run_fleet(sims: list[CollectorSim], steps: int, **kw) -> None:
    await asyncio.gather(*(s.run(steps, **kw) for s in sims))
