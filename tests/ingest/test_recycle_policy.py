"""When the service replaces its worker (ingest/workerproc.py): idle long enough, and too large."""

from __future__ import annotations

import pytest

from ingest import workerproc
from ingest.workerproc import RECYCLE_CHECK_S, RECYCLE_IDLE_S, RecyclePolicy

MIB = 1024 * 1024


class _Worker:
    def __init__(self, idle_rss: int, rss: int):
        self.idle_rss_bytes, self.rss = idle_rss, rss

    def rss_bytes(self) -> int:
        return self.rss


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(workerproc.time, "monotonic", lambda: now[0])
    return now


def test_only_an_idle_worker_above_the_limit_is_replaced(clock):
    policy = RecyclePolicy(32 * MIB, 0)
    big = _Worker(50 * MIB, 83 * MIB)  # 33 MiB above its idle size: over a 32 MiB limit
    assert policy.due(big, idle=False) is None
    assert policy.due(big, idle=True) is None  # idle from now on
    clock[0] += RECYCLE_IDLE_S / 2
    assert policy.due(big, idle=True) is None  # not idle long enough: it may still trim its heap
    clock[0] += RECYCLE_IDLE_S / 2
    assert policy.due(big, idle=True) == 83 * MIB
    clock[0] += RECYCLE_CHECK_S  # the next check
    assert policy.due(_Worker(50 * MIB, 82 * MIB), idle=True) is None  # 32 MiB above: not over the limit


def test_work_restarts_the_idle_time(clock):
    policy = RecyclePolicy(MIB, 0)
    big = _Worker(50 * MIB, 60 * MIB)
    policy.due(big, idle=True)
    clock[0] += RECYCLE_IDLE_S * 0.9
    policy.busy()  # a chunk went to the worker
    assert policy.due(big, idle=True) is None
    clock[0] += RECYCLE_IDLE_S * 0.9
    assert policy.due(big, idle=True) is None  # 0.9 x the idle time since the chunk
    clock[0] += RECYCLE_IDLE_S * 0.1 + RECYCLE_CHECK_S
    assert policy.due(big, idle=True) == 60 * MIB


def test_a_limit_of_zero_never_replaces(clock):
    policy = RecyclePolicy(0, 0)
    policy.due(_Worker(50 * MIB, 5000 * MIB), idle=True)
    clock[0] += 3600
    assert policy.due(_Worker(50 * MIB, 5000 * MIB), idle=True) is None


def test_replacements_are_spaced_by_the_minimum_interval(clock):
    policy = RecyclePolicy(MIB, 300)
    big = _Worker(50 * MIB, 60 * MIB)
    policy.due(big, idle=True)
    clock[0] += RECYCLE_IDLE_S
    assert policy.due(big, idle=True) == 60 * MIB  # the first one: no replacement before it
    policy.replaced()
    clock[0] += 299
    assert policy.due(big, idle=True) is None  # the new worker is as large: its cache, say
    clock[0] += 1
    assert policy.due(big, idle=True) == 60 * MIB
