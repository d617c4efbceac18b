"""Upstream forwarding: the platform reports its buildings' item-coded data to an upper-level data
centre (a provincial platform) over the same protocol, acting as a collector (docs/collectors.md,
"Upstream").

Every value the gateway accepted (after the broker acknowledged it) goes into an outbox (SQLite);
every ``period_s`` the forwarder connects per building, authenticates with its own profile and
key, and sends the pending collection times: one as ``report``, a backlog as ``continuous``. Rows
leave the outbox only when the upper level acknowledged their packet, so an outage of the upper
level delays the data and loses none.

At the upper level the platform is collector ``gateway_id`` of each building; a meter keeps its
function ids and its number becomes ``<local gateway id>.<meter id>``, so two local collectors of
one building never collide.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from collectors.client import ClientError, CollectorClient
from collectors.directory import CollectorEntry
from collectors.profile import load_profile
from collectors.xmlmsg import Function, Meter
from contract.localtime import ms_to_local

log = logging.getLogger("collectors.upstream")


class UpstreamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str
    port: int = Field(ge=1, le=65535)
    #: The upper level's profile: a name in collectors/profiles or a file.
    profile: str = "default"
    #: Our collector id at the upper level (the building id is the building code).
    gateway_id: str = "01"
    #: Environment variable holding the key the upper level gave us (kept out of the file).
    key_env: str = "EP_UPSTREAM_KEY"
    #: How often pending data is forwarded. [s]
    period_s: float = Field(900.0, gt=0)
    #: The outbox: what the upper level has not acknowledged yet.
    outbox: Path = Path("var/upstream-outbox.db")
    #: Buildings forwarded; empty = all.
    buildings: list[str] = Field(default_factory=list)
    #: Collection times per connection and period, so one backlog does not hold a link for hours. [1]
    max_packets_per_period: int = Field(5000, ge=1)
    ack_timeout_s: float = Field(30.0, gt=0)


def load_upstream_config(path: str | Path) -> UpstreamConfig:
    return UpstreamConfig.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


class Outbox:
    """(building, collection time, meter, function, item code, value) rows not yet acknowledged."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS outbox (building_code TEXT, ts_ms INTEGER, meter_id TEXT, "
                        "function_id TEXT, item_code TEXT, value TEXT, "
                        "PRIMARY KEY (building_code, ts_ms, meter_id, function_id))")

    def add(self, building: str, ts_ms: int, rows: list[tuple[str, str, str, str]]) -> None:
        # A value sent again (a collector's resend) replaces itself: duplicates overwrite, as in InfluxDB.
        self.db.executemany("INSERT OR REPLACE INTO outbox VALUES (?, ?, ?, ?, ?, ?)",
                            [(building, ts_ms, *r) for r in rows])

    def buildings(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT building_code FROM outbox ORDER BY 1")]

    def pending(self, building: str, limit: int) -> list[tuple[int, list[Meter]]]:
        times = [r[0] for r in self.db.execute(
            "SELECT DISTINCT ts_ms FROM outbox WHERE building_code = ? ORDER BY ts_ms LIMIT ?", (building, limit))]
        out = []
        for ts in times:
            meters: dict[str, list[Function]] = {}
            for m, f, code, v in self.db.execute("SELECT meter_id, function_id, item_code, value FROM outbox WHERE "
                                                 "building_code = ? AND ts_ms = ? ORDER BY meter_id, function_id",
                                                 (building, ts)):
                meters.setdefault(m, []).append(Function(f, code, "192", v))
            out.append((ts, [Meter(m, "conn", tuple(fs)) for m, fs in meters.items()]))
        return out

    def done(self, building: str, ts_ms: int) -> None:
        self.db.execute("DELETE FROM outbox WHERE building_code = ? AND ts_ms = ?", (building, ts_ms))

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM outbox").fetchone()[0]


@dataclass
class UpstreamStats:
    packets_acked: int = 0
    failures: int = 0


class Upstream:
    def __init__(self, cfg: UpstreamConfig, key: str | None = None):
        self.cfg = cfg
        self.profile = load_profile(cfg.profile)
        self.key = key if key is not None else os.environ.get(cfg.key_env, "")
        if not self.key:
            raise ValueError(f"upstream forwarding needs the upper level's key in ${cfg.key_env}")
        self.outbox = Outbox(cfg.outbox)
        self.stats = UpstreamStats()
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def enqueue(self, entry: CollectorEntry, ts_ms: int, accepted: list[tuple[str, str, str, str]]) -> None:
        if self.cfg.buildings and entry.building_code not in self.cfg.buildings:
            return
        rows = [(f"{entry.gateway_id}.{m}", f, code, v) for m, f, code, v in accepted]
        await asyncio.to_thread(self.outbox.add, entry.building_code, ts_ms, rows)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.period_s)
            try:
                for b in await asyncio.to_thread(self.outbox.buildings):
                    await self.forward(b)
            except Exception:  # one bad round must not end forwarding
                log.exception("upstream round failed")

    async def forward(self, building: str) -> bool:
        """Send a building's pending times; True when the upper level acknowledged all of them."""
        pending = await asyncio.to_thread(self.outbox.pending, building, self.cfg.max_packets_per_period)
        if not pending:
            return True
        c = CollectorClient(self.cfg.host, self.cfg.port, self.profile, building, self.cfg.gateway_id, self.key)
        try:
            await c.connect()
            if not await c.authenticate():
                raise ClientError("the upper level refused our authentication")
            total = len(pending)
            for i, (ts, meters) in enumerate(pending, start=1):
                t = ms_to_local(ts).strftime(self.profile.time_format)
                op, counts = ("report", {}) if total == 1 else ("continuous", {"total": total, "current": i})
                if not await c.send_data(op, t, meters, sequence=str(i), timeout_s=self.cfg.ack_timeout_s,
                                         **counts):
                    raise ClientError(f"{op} of {t} not acknowledged")
                await asyncio.to_thread(self.outbox.done, building, ts)
                self.stats.packets_acked += 1
            return True
        except (OSError, TimeoutError, ClientError) as e:
            self.stats.failures += 1
            log.warning("upstream forwarding interrupted; will resend", extra={"building_code": building,
                                                                                "error": str(e)[:200]})
            return False
        finally:
            await c.close()
