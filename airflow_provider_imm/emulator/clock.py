"""Emulated time: real time plus an offset tests can advance (task retention is 7 days)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

#: How far a signed request's date may be from the server's real time: MNS and OSS both allow 15 minutes.
MAX_CLOCK_SKEW = 15 * 60.0

#: What can be wrong with a signed request's ``Date``; each service answers each with its own error.
DateFault = Literal["missing", "invalid", "skewed"]


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


def too_skewed(sent: float, now: float) -> bool:
    return abs(sent - now) > MAX_CLOCK_SKEW


def date_fault(value: str | None, now: float) -> DateFault | None:
    """What is wrong with a signed request's HTTP ``Date`` header (``value``), if anything."""
    if not value:
        return "missing"
    try:
        sent = http_date(value)
    except ValueError:
        return "invalid"
    return "skewed" if too_skewed(sent, now) else None
