"""Emulated time: real time plus an offset tests can advance (task retention is 7 days)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


class EmulatedClock:
    def __init__(self) -> None:
        self._offset = 0.0

    def time(self) -> float:
        """Seconds since the epoch, as the emulated services see it."""
        return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=timezone.utc)

    def advance(self, seconds: float) -> None:
        """Jump forward; nothing waiting on real timers is woken by this."""
        self._offset += seconds


def http_date(value: str) -> float:
    """Seconds since the epoch of an HTTP ``Date`` (RFC 1123; UTC when no zone); ``ValueError`` if
    it is not one."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"not an HTTP date: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
