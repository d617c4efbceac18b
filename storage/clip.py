"""Error text cut to a length a log line, a dead letter or an HTTP answer can carry."""

from __future__ import annotations

#: Default length of an error text in a log line or an answer. [characters]
ERROR_CHARS = 300
MARK = "..."


def clip(text: object, limit: int = ERROR_CHARS) -> str:
    """``str(text)`` at most ``limit`` characters long; a cut text ends with ``...`` so a reader
    knows there was more (an InfluxDB answer can echo a whole batch)."""
    s = str(text)
    return s if len(s) <= limit else s[:max(0, limit - len(MARK))] + MARK
