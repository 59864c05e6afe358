"""When waiting for an IMM task stops: ``timeout`` is counted from the task's StartTime.

Counted from IMM's own record of the start, the deadline is the same for every try, reattach,
reschedule and resumption of the Airflow task, so retries never stretch how long IMM may take.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_imm.utils.timestamps import parse_timestamp

__all__ = ["DEFERRAL_GRACE", "deferral_timeout", "task_deadline"]

#: Extra time Airflow gives a deferred task beyond the deadline: the trigger reports the timeout
#: itself, with IMM's view of the task; Airflow's own deferral timeout is only the safety net.
DEFERRAL_GRACE = timedelta(minutes=5)


def task_deadline(timeout: float | None, info: Mapping[str, Any] | None, *, otherwise: float) -> float | None:
    """Epoch seconds by which the task must have ended: its StartTime (GetTask's), else ``otherwise``
    (when it was submitted), plus ``timeout``; None without a timeout."""
    if timeout is None:
        return None
    started = parse_timestamp(info.get("StartTime")) if info is not None else None
    return (started.timestamp() if started is not None else otherwise) + timeout


def deferral_timeout(deadline: float | None) -> timedelta | None:
    """Airflow's timeout for a deferral that ends at ``deadline``: the time left plus the grace."""
    if deadline is None:
        return None
    return timedelta(seconds=max(0.0, deadline - time.time())) + DEFERRAL_GRACE
