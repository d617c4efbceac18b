"""A simulated year of a generated fleet, shared by the statistical tests of this folder."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from contract.localtime import local_midnight_ms
from simulators.fleetgen import generate_fleet
from simulators.fleetsim import FleetSim, Period
from simulators.groundtruth import GroundTruth

YEAR_SEED = 11
YEAR_FLEET_SIZE = 30


@pytest.fixture(scope="session")
def year_fleet():
    return generate_fleet(5, YEAR_FLEET_SIZE)


@pytest.fixture(scope="session")
def year_run(year_fleet):
    """(chunks by building code, ground truth DataFrame) for 2025 at 15 minutes."""
    period = Period(local_midnight_ms(dt.date(2025, 1, 1)), local_midnight_ms(dt.date(2026, 1, 1)))
    sim = FleetSim(year_fleet, YEAR_SEED, period)
    gt = GroundTruth()
    chunks = {}
    for ch in sim.per_building():
        gt.add(ch)
        chunks[ch.building_code] = ch
    df = pd.DataFrame(gt.records())
    df["date"] = pd.to_datetime(df["date"])
    return chunks, df
