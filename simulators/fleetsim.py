"""Advance every building of a fleet over a period, chunk by chunk, in time order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from registry.fleet import Fleet
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
    """

    def __init__(self, fleet: Fleet, seed: int, period: Period, chunk_intervals: int = 96):
        if chunk_intervals < 1:
            raise ValueError(f"chunk_intervals={chunk_intervals} must be >= 1")
        self.fleet = fleet
        self.period = period
        self.chunk_intervals = chunk_intervals
        self.sims = [BuildingSim(b, seed, period.start_ms, period.step_ms) for b in fleet.buildings]

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
