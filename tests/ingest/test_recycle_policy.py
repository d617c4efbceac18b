"""When the service replaces its worker (ingest/workerproc.py): idle long enough, and too large."""

from __future__ import annotations

import pytest

from ingest import workerproc
from ingest.workerproc import RECYCLE_CHECK_S, RECYCLE_IDLE_S, RecyclePolicy

MIB = 1024 * 1024


class _Worker:
    def __init__(self, idle_rss: int, rss: int, cache_bytes: int = 0):
        self.idle_rss_bytes, self.rss, self.cache_bytes = idle_rss, rss, cache_bytes

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


def test_the_register_cache_is_live_data_not_backlog_leftovers(clock):
    """A province-sized cache (200 MiB, within its own --register-cache-mib) is not a reason to
    replace the worker at every idle moment: only growth beyond it counts against the limit."""
    policy = RecyclePolicy(32 * MIB, 0)
    cached = _Worker(50 * MIB, 270 * MIB, cache_bytes=200 * MIB)  # 220 above idle - 200 cache = 20 MiB
    policy.due(cached, idle=True)
    clock[0] += RECYCLE_IDLE_S
    assert policy.due(cached, idle=True) is None  # 20 MiB <= 32 MiB
    clock[0] += RECYCLE_CHECK_S
    leaky = _Worker(50 * MIB, 283 * MIB, cache_bytes=200 * MIB)  # 233 - 200 = 33 MiB left by a backlog
    assert policy.due(leaky, idle=True) == 283 * MIB
