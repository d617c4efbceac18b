"""Counter-based random numbers: the value for (key, index) never depends on what else was drawn.

That is what keeps a simulation deterministic for a seed however it is chunked (a year at once,
a day at a time in backfill, a minute at a time in live mode).
"""

from __future__ import annotations

import zlib

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def stable_key(*parts: object) -> int:
    """A 64-bit key from strings and ints that is the same in every process (unlike ``hash``)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return (zlib.crc32(text) << 32) | zlib.crc32(text[::-1] + b"#")


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniform(key: int, index: np.ndarray | int) -> np.ndarray:
    """Uniform numbers in [0, 1), one per ``index``, fixed by ``key``.

    Parameters
    ----------
    key : int
        Stream key from :func:`stable_key`. [-]
    index : array of int
        Position in the stream (an interval number, a day number). [-]
    """
    idx = np.asarray(index, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = _splitmix(idx ^ _splitmix(np.uint64(key & 0xFFFFFFFFFFFFFFFF)))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def normal(key: int, index: np.ndarray | int) -> np.ndarray:
    """Standard normal numbers (Box-Muller on two counter streams), fixed by ``key``. [-]"""
    u1 = uniform(key, index)
    u2 = uniform(key ^ 0x5DEECE66D, index)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def jitter(key: int, index: np.ndarray | int) -> np.ndarray:
    """Zero-mean, unit-variance uniform noise: cheaper than :func:`normal` for interval jitter. [-]"""
    return (uniform(key, index) - 0.5) * np.sqrt(12.0)


def per_day(day: np.ndarray, fn) -> np.ndarray:
    """Evaluate ``fn(days)`` once per day of a sorted day array and spread it to every element."""
    d0 = int(day[0])
    return fn(np.arange(d0, int(day[-1]) + 1, dtype=np.int64))[day - d0]
