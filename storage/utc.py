"""UTC time helpers: every stored time is UTC, and InfluxDB times are integer epoch milliseconds."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, zone-aware UTC (the default of every stored timestamp)."""
    return dt.datetime.now(dt.UTC)


def as_utc(t: dt.datetime | None) -> dt.datetime | None:
    """A stored time with its zone back: SQLite drops the zone, and every time stored is UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=dt.UTC)


def epoch_ms(t: dt.datetime) -> int:
    """Milliseconds since the Unix epoch of a zone-aware time (a naive one is refused: its zone is a guess)."""
    if t.tzinfo is None:
        raise ValueError(f"time {t.isoformat()} has no time zone")
    return int(t.timestamp() * 1000)


def from_epoch_ms(ms: float) -> dt.datetime:
    """The UTC time of epoch milliseconds."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
