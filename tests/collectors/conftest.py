"""Collector gateway tests: no ingest or gateway subprocess outlives its test."""

from __future__ import annotations

import pytest

from tests.ingest.helpers import STARTED


@pytest.fixture(autouse=True)
def _kill_leftover_processes():
    yield
    while STARTED:
        p = STARTED.pop()
        if p.proc is not None and p.proc.poll() is None:
            p.kill()
