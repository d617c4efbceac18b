"""Advance every building of a fleet over a period, chunk by chunk, in time order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from registry.fleet import Fleet
from simulators import weather
from simulators.engine import BuildingChunk, BuildingSim

DEFAULT_STEP_MS = 15 * 60_000


@dataclass(frozen=True)
class Period:
    """Readings at ``start_ms + k * step_ms`` for every k with that instant before ``end_ms``."""

    start_ms: int
    end_ms: int
    step_ms: int = DEFAULT_STEP_MS

    def __post_init__(self) -> None:
        if self.step_ms <= 0 or self.step_ms % 60_000:
            raise ValueError(f"step_ms={self.step_ms}: the interval must be a positive whole number of minutes")
        if self.end_ms <= self.start_ms:
            raise ValueError(f"period end {self.end_ms} is not after its start {self.start_ms}")

    @property
    def n(self) -> int:
        return -(-(self.end_ms - self.start_ms) // self.step_ms)


class FleetSim:
    """The fleet's simulators, all on one grid.

    Parameters
    ----------
    fleet : Fleet
        Buildings and devices.
    seed : int
        Simulation seed (the same seed gives the same readings). [-]
    period : Period
        Grid of reading instants.
    chunk_intervals : int
        Intervals simulated per step for all buildings (a day at 15 min is 96). [-]
    weather_stations : bool
        Put a weather station on one building of each weather cell (``weather.station_hosts``).
    """

    def __init__(self, fleet: Fleet, seed: int, period: Period, chunk_intervals: int = 96,
                 weather_stations: bool = False):
        if chunk_intervals < 1:
            raise ValueError(f"chunk_intervals={chunk_intervals} must be >= 1")
        self.fleet = fleet
        self.period = period
        self.chunk_intervals = chunk_intervals
        hosts = weather.station_hosts(fleet.buildings) if weather_stations else {}
        self.sims = [BuildingSim(b, seed, period.start_ms, period.step_ms, hosts.get(b.building_code))
                     for b in fleet.buildings]

    def chunks(self) -> Iterator[list[BuildingChunk]]:
        done = 0
        while done < self.period.n:
            n = min(self.chunk_intervals, self.period.n - done)
            yield [s.advance(n) for s in self.sims]
            done += n

    def per_building(self) -> Iterator[BuildingChunk]:
        """Each building over the whole period in one piece (fastest; not in time order)."""
        for s in self.sims:
            yield s.advance(self.period.n)


def _generate_part(fleet_json: str, seed: int, period: Period, ground_truth: bool) -> tuple[int, dict | None]:
    from simulators.groundtruth import GroundTruth

    fleet = Fleet.model_validate_json(fleet_json)
    gt = GroundTruth() if ground_truth else None
    readings = 0
    for ch in FleetSim(fleet, seed, period).per_building():
        readings += sum(len(f.ts_ms) for f in ch.devices)
        if gt is not None:
            gt.add(ch)
    return readings, gt.to_plain() if gt is not None else None


def generate_parallel(fleet: Fleet, seed: int, period: Period, workers: int, ground_truth: bool = False,
                      progress=None) -> tuple[int, list[dict]]:
    """Simulate every building over the whole period in ``workers`` processes (no publishing).

    Buildings are independent, so the result equals a single-process run.

    Returns
    -------
    tuple
        (readings simulated [-], ground-truth totals from ``GroundTruth.to_plain`` per part).
    """
    from concurrent.futures import ProcessPoolExecutor

    parts = [fleet.buildings[i::workers] for i in range(workers)]
    # Small slices keep the workers busy until the end and let the progress bar move.
    slices = [p[j:j + 25] for p in parts for j in range(0, len(p), 25)]
    readings, plains = 0, []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_generate_part, Fleet(buildings=s).model_dump_json(), seed, period, ground_truth)
                   for s in slices if s]
        for fut, s in zip(futures, slices, strict=False):
            n, plain = fut.result()
            readings += n
            if plain is not None:
                plains.append(plain)
            if progress is not None:
                progress.update(len(s))
    return readings, plains
