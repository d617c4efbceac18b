"""Capped exponential backoff, and the retry-until-it-works loop of the services.

Used by ingest (InfluxDB writes and register lookups: retried without end, nothing is dropped)
and by the alert outbox (the next delivery time of a failed message).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

#: A retry loop logs its first failure and then every this many, so an outage of hours does
#: not flood the log but is still visibly ongoing.
LOG_EVERY_ATTEMPTS = 20


class Aborted(Exception):
    """The service is shutting down and gave up waiting; the unfinished work was not acknowledged."""


def capped_backoff(attempt: int, initial: float, cap: float, rng: Callable[[], float] | None = None) -> float:
    """``d = min(cap, initial * 2**attempt)``; with ``rng`` a jittered delay in ``[d/2, d]``.

    Parameters
    ----------
    attempt : int
        Failed attempts before this one, from 0. [1]
    initial, cap : float
        First delay and largest delay, in the caller's unit.
    rng : callable, optional
        Uniform [0, 1) source for jitter (several clients retrying after one outage do not all
        come back at once); None for the exact delay.
    """
    d = min(cap, initial * (2 ** min(max(attempt, 0), 30)))  # 2**30: no float overflow, far past any cap
    return d if rng is None else d * (0.5 + 0.5 * rng())


class Backoff:
    """One retry loop's state: how many attempts failed, when to log, and the wait before the next::

        backoff = Backoff(200, 10_000, abort)
        while True:
            try:
                return call()
            except SomeError as e:
                if backoff.should_log:
                    log.warning("call failed, retrying", extra={"attempt": backoff.attempt})
            backoff.wait()   # raises Aborted when ``abort`` is set meanwhile
    """

    def __init__(self, initial_ms: float, max_ms: float, abort: threading.Event,
                 rng: Callable[[], float] = random.random):
        self.initial_ms, self.max_ms, self.abort, self.rng = initial_ms, max_ms, abort, rng
        self.attempt = 0

    @property
    def should_log(self) -> bool:
        return self.attempt % LOG_EVERY_ATTEMPTS == 0

    def wait(self) -> None:
        """Sleep the jittered, capped delay of this attempt; raise :class:`Aborted` if ``abort`` is set."""
        delay_s = capped_backoff(self.attempt, self.initial_ms, self.max_ms, self.rng) / 1000
        self.attempt += 1
        if self.abort.wait(delay_s):
            raise Aborted()
