"""Ingest tests: no ingest subprocess outlives the test that started it, even a failing one."""

from __future__ import annotations

import pytest

from tests.ingest.helpers import STARTED


@pytest.fixture(autouse=True)
def _kill_leftover_ingest_processes():
    yield
    while STARTED:
        p = STARTED.pop()
        if p.proc is not None and p.proc.poll() is None:
            p.kill()
