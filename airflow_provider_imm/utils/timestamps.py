"""IMM's times (ISO-8601 text) as aware datetimes: for notifications, GetTask answers and deadlines.

A module of its own, so that the operator can read a task's StartTime without importing the
notification parser (DAG files parse faster).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["parse_timestamp"]

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def parse_timestamp(value: object) -> datetime | None:
    """An aware datetime from IMM's ISO-8601 times (up to 9 fractional digits), else ``None``.

    Nanoseconds are truncated to microseconds; a time without an offset is taken as UTC, which is
    what IMM sends.
    """
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    tz = timezone.utc
    if sign:
        hours, minutes = int(off_h), int(off_m)
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0").ljust(6, "0")[:6])
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
        )
    except ValueError:
        return None
