"""Same seed, same data: whatever the chunking; another seed, other data."""

from __future__ import annotations

from simulators.fleetgen import generate_fleet
from tests.simulators.helpers import run, small_fleet


def test_fleet_same_seed_same_fleet_other_seed_other_fleet():
    assert generate_fleet(3, 25).model_dump() == generate_fleet(3, 25).model_dump()
    assert generate_fleet(3, 25).model_dump() != generate_fleet(4, 25).model_dump()


def test_messages_identical_for_same_seed_and_any_chunking():
    fleet = small_fleet()
    whole, *_ = run(fleet, days=2, chunk_intervals=192)
    # 7 does not divide a day: chunks cut across days and sessions.
    chunked, *_ = run(fleet, days=2, chunk_intervals=7)
    again, *_ = run(fleet, days=2, chunk_intervals=192)
    enc = [(o.topic, o.encode()) for o in whole]
    assert enc == [(o.topic, o.encode()) for o in chunked]
    assert enc == [(o.topic, o.encode()) for o in again]
    assert len(enc) > 1000


def test_other_seed_other_readings():
    fleet = small_fleet()
    a, *_ = run(fleet, seed=1, days=1)
    b, *_ = run(fleet, seed=2, days=1)
    assert [o.topic for o in a][:50] == [o.topic for o in b][:50]
    differing = sum(x.encode() != y.encode() for x, y in zip(a, b, strict=False))
    assert differing > 0.9 * min(len(a), len(b))
