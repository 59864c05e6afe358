"""The decisions of shared reconciliation, without I/O: which window to list, which TaskIds settle,
which still need a check, and whether a check is cheaper as a listing or as GetTask calls.

The loop that acts on them is :mod:`airflow_provider_imm.triggers.reconciler`. Times are epoch
seconds of THIS machine's clock; IMM's clock may differ by minutes, which the ``margin`` absorbs:

* A round lists the tasks that ended since the previous successful round started, minus
  ``margin`` (``EndTimeRange.Start``; no end, so nothing ending during the round is cut off). A task
  that ends after a round starts has, in IMM's time, an ``EndTime`` no earlier than that start minus
  the clock difference; as long as the difference (plus IMM's delay in listing an ended task) stays
  under ``margin``, the next round's window holds it. Windows overlap by ``margin``: a task seen twice
  is settled once (by TaskId).
* A wait is "checked" once IMM has said its task was running at some time T (GetTask, or a listing
  of running tasks). From then on, every round's window reaches back before T, so the task's end is
  listed by a round. A check older than ``recheck_after`` is made again (a safety net for an end
  IMM never listed, or a clock difference larger than ``margin``).
* A check of many waits at once (a triggerer restart) is a listing of the project's running tasks
  plus the tasks that ended in the last ``catch_up`` seconds; what neither holds gets GetTask.
  A few waits are checked with GetTask each: one call per wait, whatever the project's size.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

#: IMM's largest ListTasks page.
PAGE_SIZE = 100
_FINAL = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class ReconcileSettings:
    """Tuning of the shared reconciler; defaults suit production, tests shorten them."""

    #: Seconds each window reaches back before the previous round's start: more than the clock
    #: difference between this machine and IMM, plus IMM's delay in listing an ended task.
    margin: float = 600.0
    #: Seconds back a batched first check looks for tasks that ended before their wait began.
    catch_up: float = 3600.0
    #: Seconds without a new wait after which first checks are made: triggers start in bursts (a
    #: restart re-creates thousands over seconds), and the checks of one burst are batched.
    first_check_delay: float = 0.1
    #: ... but no first check waits longer than this for its burst to end.
    first_check_max_delay: float = 2.0
    #: Fewest waits to check at once for which a listing of running tasks may replace GetTask calls.
    listing_min_batch: int = 10
    #: Most GetTask calls one round makes; the rest wait for the next round.
    max_get_tasks_per_round: int = 200
    #: GetTask calls in flight at once.
    get_task_concurrency: int = 16
    #: Seconds after which a wait not settled is checked again.
    recheck_after: float = 3 * 3600.0
    #: A failing round waits the interval times 2, 4, ... up to this factor.
    max_backoff_factor: int = 8
    #: Seconds between rounds when no waiting trigger names an interval.
    default_interval: float = 300.0
    #: False: every trigger checks its task with GetTask on its own, as before shared reconciliation
    #: (kept for comparison in benchmarks).
    shared: bool = True

    def __post_init__(self) -> None:
        for name in (
            "margin",
            "catch_up",
            "first_check_delay",
            "first_check_max_delay",
            "recheck_after",
            "default_interval",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"ReconcileSettings.{name} must not be negative")
        if self.max_get_tasks_per_round < 1 or self.get_task_concurrency < 1:
            raise ValueError("ReconcileSettings: GetTask limits must be at least 1")
        if self.max_backoff_factor < 1 or self.listing_min_batch < 1:
            raise ValueError("ReconcileSettings: max_backoff_factor and listing_min_batch must be >= 1")


def first_checks_due(pending_since: float, now: float, settings: ReconcileSettings) -> float:
    """When to check the waits registered since ``pending_since``, a new one having come ``now``:
    once registrations pause for ``first_check_delay``, at the latest ``first_check_max_delay``
    after the first."""
    return min(now + settings.first_check_delay, pending_since + settings.first_check_max_delay)


def window_start(previous_start: float, settings: ReconcileSettings) -> float:
    """``EndTimeRange.Start`` of a round: the previous successful round's start (or, before any, when
    the first wait was checked) minus the margin."""
    return previous_start - settings.margin


def catch_up_start(now: float, settings: ReconcileSettings) -> float:
    """``EndTimeRange.Start`` of a batched first check: far enough back for tasks that ended while
    nobody waited (a triggerer restart), never less than one margin."""
    return now - max(settings.catch_up, settings.margin)


def iso_time(epoch: float) -> str:
    """IMM's time format for a range bound, whole seconds rounded down (a wider window, never a narrower)."""
    return datetime.fromtimestamp(math.floor(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ended(listed: Iterable[Mapping[str, Any]], waiting: Collection[str]) -> dict[str, Mapping[str, Any]]:
    """The waited-for tasks ``listed`` shows ended, by TaskId: pages that overlap or repeat a task
    settle it once. A listed task still Running (or in a status IMM may add) settles nothing."""
    found: dict[str, Mapping[str, Any]] = {}
    for info in listed:
        task_id = info.get("TaskId")
        if isinstance(task_id, str) and task_id in waiting and info.get("Status") in _FINAL:
            found.setdefault(task_id, info)
    return found


def running(listed: Iterable[Mapping[str, Any]]) -> set[str]:
    """TaskIds ``listed`` shows running."""
    return {
        task_id
        for info in listed
        if info.get("Status") == "Running" and isinstance(task_id := info.get("TaskId"), str)
    }


def needing_check(
    checked_at: Mapping[str, float | None], now: float, settings: ReconcileSettings
) -> list[str]:
    """Waits never checked (``None``) or checked longer than ``recheck_after`` ago, oldest first."""
    horizon = now - settings.recheck_after
    due = [(at if at is not None else -math.inf, task_id) for task_id, at in checked_at.items()]
    return [task_id for at, task_id in sorted(due) if at <= horizon]


def list_running_instead(need: int, running_pages: int | None, settings: ReconcileSettings) -> bool:
    """Whether ``need`` checks cost fewer calls as a listing of the running tasks (``running_pages``
    pages when last listed; None: never listed) than as one GetTask each.

    Below ``listing_min_batch`` GetTask wins whatever the listing would cost: the project may hold
    many more running tasks than this triggerer waits for, and a few calls are cheap anyway.
    """
    if need < settings.listing_min_batch:
        return False
    # Never listed: assume the running tasks are about those waited for here.
    estimate = running_pages if running_pages is not None else math.ceil(need / PAGE_SIZE)
    # Plus about one page of catch-up listing of ended tasks.
    return estimate + 1 < need


def listing_page_budget(need: int) -> int:
    """Most pages a listing for ``need`` checks may take before the rest go to GetTask: past that,
    GetTask each would have been cheaper."""
    return max(1, need - 1)


def round_delay(
    interval: float, failures: int, retry_after: float | None, settings: ReconcileSettings
) -> float:
    """Seconds until the next round: the interval; after ``failures`` failed rounds in a row, 2, 4, ...
    times it (capped), never less than a retry-after IMM asked for."""
    factor = min(settings.max_backoff_factor, 2 ** min(max(failures, 0), 16)) if failures else 1
    delay = interval * factor
    return max(delay, retry_after) if retry_after else delay
