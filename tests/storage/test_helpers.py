"""The small shared helpers of storage/: backoff, retry loop, UTC, error clipping."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from storage.clip import clip
from storage.retry import Aborted, Backoff, capped_backoff
from storage.utc import as_utc, epoch_ms, from_epoch_ms


def test_capped_backoff_exact_and_jittered():
    assert [capped_backoff(n, 5, 60) for n in range(6)] == [5, 10, 20, 40, 60, 60]  # 5 x 2^n, capped at 60
    assert capped_backoff(2, 200, 10_000, rng=lambda: 0.0) == 400  # 200 x 4 = 800, bottom of [d/2, d]
    assert capped_backoff(10_000, 1, 7) == 7  # a huge attempt count neither overflows nor passes the cap


def test_backoff_logs_first_and_every_twentieth_and_stops_on_abort():
    abort = threading.Event()
    b = Backoff(0.001, 0.001, abort)
    logged = []
    for _ in range(41):
        logged.append(b.should_log)
        b.wait()
    assert [i for i, x in enumerate(logged) if x] == [0, 20, 40]
    abort.set()
    with pytest.raises(Aborted):
        b.wait()


def test_utc_helpers():
    t = dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert epoch_ms(t) == 1_767_196_800_000  # 2025-12-31T16:00Z = 20453 days x 86 400 000 ms + 16 h x 3 600 000 ms
    assert from_epoch_ms(1_767_196_800_000) == dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="no time zone"):
        epoch_ms(dt.datetime(2026, 1, 1))
    assert as_utc(dt.datetime(2026, 1, 1)) == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert as_utc(None) is None


def test_clip_marks_a_cut():
    assert clip("abc", 5) == "abc"
    assert clip("abcdefgh", 5) == "ab..."  # 5 characters: 2 kept + the 3-character mark
    assert len(clip("x" * 1000)) == 300
