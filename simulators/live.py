"""Live mode: publish each interval's readings when its time comes, in real time or faster.

Readings are simulated ``lookahead`` intervals at a time (vectorised, the next block in a background
thread) and published one interval per tick. A tick is on schedule when all its messages are
acknowledged by the broker before the next tick is due; :class:`LiveStats` counts the ticks that
were not.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from registry.fleet import Fleet
from simulators import weather
from simulators.engine import BuildingChunk, BuildingSim, DeviceFrame, SessionFrame
from simulators.messages import building_messages
from simulators.publisher import Publisher


@dataclass
class LiveStats:
    ticks: int = 0
    late_ticks: int = 0  # ticks whose messages were not all acknowledged before the next tick
    messages: int = 0
    readings: int = 0
    busy_s: list[float] = field(default_factory=list)  # generation + publish time per tick [s]

    @property
    def max_busy_s(self) -> float:
        return max(self.busy_s, default=0.0)


def _slice(ch: BuildingChunk, i: int, step_ms: int) -> BuildingChunk:
    out = BuildingChunk(ch.building_code)
    for f in ch.devices:
        out.devices.append(DeviceFrame(f.kind, f.device_id, f.carrier, f.sub_item, f.units, f.ts_ms[i:i + 1],
                                       {k: v[i:i + 1] for k, v in f.values.items()}))
    if ch.devices:
        ts = int(ch.devices[0].ts_ms[i])
        for s in ch.sessions:
            m = (s.ts_ms > ts - step_ms) & (s.ts_ms <= ts)
            if m.any():
                idx = np.flatnonzero(m)
                out.sessions.append(SessionFrame(s.device_id, s.ts_ms[m], [s.session_id[j] for j in idx],
                                                 [s.event[j] for j in idx], s.energy_kwh[m], s.pv_energy_kwh[m]))
    return out


def run_live(fleet: Fleet, publisher: Publisher | None, *, seed: int, start_ms: int, step_ms: int,
             speed: float = 1.0, max_ticks: int | None = None, stop_at_ms: int | None = None,
             lookahead: int = 60, progress=None, weather_stations: bool = False) -> LiveStats:
    """Publish the fleet's readings tick by tick.

    Parameters
    ----------
    fleet : Fleet
        Buildings and devices.
    publisher : Publisher or None
        Where to publish; None only builds and encodes the messages (dry run).
    seed : int
        Simulation seed. [-]
    start_ms : int
        Simulated time of the first reading. [ms since epoch, UTC]
    step_ms : int
        Reading interval. [ms]
    speed : float
        Simulated seconds per wall-clock second (1 = real time). [-]
    max_ticks : int, optional
        Stop after this many ticks.
    stop_at_ms : int, optional
        Stop before the first reading later than this simulated time. [ms]
    lookahead : int
        Intervals simulated at once. [-]
    weather_stations : bool
        Publish the weather of each cell from one of its buildings (``weather.station_hosts``).
    """
    if speed <= 0:
        raise ValueError(f"speed={speed} must be > 0")
    hosts = weather.station_hosts(fleet.buildings) if weather_stations else {}
    sims = [BuildingSim(b, seed, start_ms, step_ms, hosts.get(b.building_code)) for b in fleet.buildings]
    stats = LiveStats()

    def simulate_block() -> list[BuildingChunk]:
        return [s.advance(lookahead) for s in sims]

    # Double buffering: the next block is simulated in the background while ticks wait, so a block
    # boundary does not make its tick late. Blocks are simulated strictly one after another.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-lookahead")
    try:
        buffered = simulate_block()
        upcoming = pool.submit(simulate_block)
        pos = 0
        wall0 = time.monotonic()
        # In real time a reading is due when the wall clock reaches its timestamp, so a start in the past
        # is caught up as fast as broker and ingest accept and the same run then goes on live, with its
        # registers continuous (a separate backfill run would start from other register values).
        epoch0_ms = time.time() * 1000
        tick_wall_s = step_ms / 1000.0 / speed
        while max_ticks is None or stats.ticks < max_ticks:
            ts = start_ms + stats.ticks * step_ms
            if stop_at_ms is not None and ts > stop_at_ms:
                break
            if speed == 1.0:
                due = wall0 + (ts - epoch0_ms) / 1000.0
            else:
                due = wall0 + stats.ticks * tick_wall_s
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            t0 = time.monotonic()
            if pos >= lookahead:
                buffered = upcoming.result()
                upcoming = pool.submit(simulate_block)
                pos = 0
            for spec, ch in zip(fleet.buildings, buffered, strict=True):
                for out in building_messages(spec, _slice(ch, pos, step_ms)):
                    payload = out.encode()
                    if publisher is not None:
                        publisher.publish(out.topic, payload)
                    stats.messages += 1
            stats.readings += sum(len(f.ts_ms) for ch in buffered for f in ch.devices) // lookahead
            pos += 1
            if publisher is not None:
                publisher.flush(timeout_s=max(60.0, 10 * tick_wall_s))
            done = time.monotonic()
            stats.busy_s.append(done - t0)
            stats.ticks += 1
            if done > max(due, t0) + tick_wall_s:
                stats.late_ticks += 1
            if progress is not None:
                progress.update(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return stats
