"""IMM's asynchronous tasks in the emulator: records, how each one ends, and how long they are kept.

A task runs on the server loop: Running (Progress grows with elapsed time) until a timer fires
after its duration, or, with ``duration=None``, until :meth:`TaskExecutor.finish` is called. It then
checks its sources, writes its outputs (:mod:`imm_outputs`), becomes Succeeded or Failed, and
publishes its notification. Task information is kept 7 days of emulated time after the task
starts, as IMM does; after that the task is unknown.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from airflow_provider_imm.catalog import SECRET_FIELDS, TaskOperation
from airflow_provider_imm.emulator.clock import EmulatedClock
from airflow_provider_imm.emulator.imm_outputs import TaskFailure, check_sources, write_outputs
from airflow_provider_imm.emulator.oss import LocalOss

#: Seconds IMM keeps a task's information after it starts.
RETENTION = 7 * 24 * 3600.0
FINAL_STATUSES = frozenset({"Succeeded", "Failed"})
#: TaskRequestDefinition shows MASK in place of a secret field (catalog.SECRET_FIELDS).
MASK = "******"
#: Sort fields ListTasks accepts.
SORT_FIELDS = frozenset({"TaskId", "StartTime", "EndTime"})


def format_time(epoch: float) -> str:
    """ISO-8601 UTC the way IMM (Go's RFC3339Nano) writes it: fraction without trailing zeros."""
    when = datetime.fromtimestamp(epoch, tz=timezone.utc)
    fraction = f"{when.microsecond:06d}".rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}Z" if fraction else "Z")


@dataclass(frozen=True)
class Behaviour:
    """How a task ends: after ``duration`` seconds (None: when finished by hand) with this status."""

    duration: float | None
    status: str = "Succeeded"
    code: str = ""
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {sorted(FINAL_STATUSES)}, got {self.status!r}")
        if self.duration is not None and (not isinstance(self.duration, int | float) or self.duration < 0):
            raise ValueError(f"duration must be a number of seconds >= 0 or None, got {self.duration!r}")

    def ending(self) -> Behaviour:
        """A failure without a code still needs one for GetTask and the notification."""
        if self.status == "Failed" and not self.code:
            return replace(self, code="InternalError", message=self.message or "The task failed.")
        return self


@dataclass(eq=False)
class TaskRecord:
    task_id: str
    op: TaskOperation
    project: str
    event_id: str
    request_id: str
    #: The request's fields, complex ones decoded (TaskRequestDefinition).
    request: dict[str, Any]
    tags: dict[str, Any]
    user_data: str
    topic: str | None
    behaviour: Behaviour
    start_time: float
    #: Loop time when the task started, for Progress.
    started_at: float
    status: str = "Running"
    code: str = ""
    message: str = ""
    end_time: float | None = None
    outputs: list[str] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    #: ``Notification.RocketMQ``'s ``(InstanceId, TopicName)``, when the request names one.
    rocketmq: tuple[str, str] | None = None

    @property
    def task_type(self) -> str:
        return self.op.task_type

    @property
    def running(self) -> bool:
        return self.status == "Running"

    def progress(self, loop_time: float) -> int:
        if not self.running:
            return 100
        duration = self.behaviour.duration
        if not duration:
            return 0
        return max(0, min(99, int(100 * (loop_time - self.started_at) / duration)))

    def info(self, loop_time: float, *, with_definition: bool) -> dict[str, Any]:
        """The TaskInfo fields GetTask and ListTasks answer."""
        info: dict[str, Any] = {
            "TaskId": self.task_id,
            "TaskType": self.task_type,
            "Status": self.status,
            "Code": self.code,
            "Message": self.message,
            "StartTime": format_time(self.start_time),
            "Progress": self.progress(loop_time),
            "Tags": dict(self.tags),
            "UserData": self.user_data,
        }
        if self.end_time is not None:
            info["EndTime"] = format_time(self.end_time)
        if with_definition:
            definition = {k: MASK if k in SECRET_FIELDS else v for k, v in self.request.items()}
            info["TaskRequestDefinition"] = json.dumps(definition, separators=(",", ":"))
        return info


@dataclass(frozen=True)
class TaskFilter:
    """ListTasks' filters; times are epoch seconds, ranges inclusive, None means unbounded."""

    task_types: frozenset[str] | None = None
    status: str | None = None
    tags: Mapping[str, str | None] | None = None
    start_range: tuple[float | None, float | None] | None = None
    end_range: tuple[float | None, float | None] | None = None

    def matches(self, task: TaskRecord) -> bool:
        if self.task_types is not None and task.task_type not in self.task_types:
            return False
        if self.status is not None and task.status != self.status:
            return False
        if self.tags is not None:
            for key, value in self.tags.items():
                if key not in task.tags or (value is not None and str(task.tags[key]) != value):
                    return False
        if self.start_range is not None and not _within(task.start_time, self.start_range):
            return False
        return self.end_range is None or (
            task.end_time is not None and _within(task.end_time, self.end_range)
        )


def _within(value: float, bounds: tuple[float | None, float | None]) -> bool:
    low, high = bounds
    return (low is None or value >= low) and (high is None or value <= high)


class InvalidPageToken(ValueError):
    """A NextToken this store did not hand out."""


class TaskStore:
    """Tasks by id in creation order, so expired ones are dropped from the front."""

    def __init__(self, clock: EmulatedClock) -> None:
        self._clock = clock
        self._tasks: dict[str, TaskRecord] = {}

    def add(self, task: TaskRecord) -> None:
        self.prune()
        self._tasks[task.task_id] = task

    def get(self, project: str, task_id: str) -> TaskRecord | None:
        self.prune()
        task = self._tasks.get(task_id)
        return task if task is not None and task.project == project else None

    def find(self, task_id: str) -> TaskRecord | None:
        self.prune()
        return self._tasks.get(task_id)

    def all(self) -> list[TaskRecord]:
        self.prune()
        return list(self._tasks.values())

    def remove_project(self, project: str) -> list[TaskRecord]:
        removed = [t for t in self._tasks.values() if t.project == project]
        for task in removed:
            del self._tasks[task.task_id]
        return removed

    def prune(self) -> list[TaskRecord]:
        """Drop tasks older than :data:`RETENTION`; returns them so their timers can be cancelled."""
        horizon = self._clock.time() - RETENTION
        dropped = []
        while self._tasks:
            first = next(iter(self._tasks.values()))
            if first.start_time > horizon:
                break
            dropped.append(self._tasks.pop(first.task_id))
            if first.timer is not None:
                first.timer.cancel()
        return dropped

    def query(
        self,
        project: str,
        flt: TaskFilter,
        *,
        sort: str = "TaskId",
        descending: bool = False,
        max_results: int = 100,
        next_token: str = "",
    ) -> tuple[list[TaskRecord], str]:
        """One page of a project's matching tasks and the token of the next page ("" at the end).

        The token is the sort key of the page's last task, so tasks created while paging do not
        shift later pages.
        """
        matching = [t for t in self.all() if t.project == project and flt.matches(t)]
        keyed = sorted(((_sort_key(t, sort), t) for t in matching), key=lambda kt: kt[0], reverse=descending)
        if next_token:
            after = _decode_token(next_token, sort)
            keyed = [(k, t) for k, t in keyed if (k < after if descending else k > after)]
        page = keyed[:max_results]
        token = _encode_token(page[-1][0], sort) if len(keyed) > max_results else ""
        return [t for _, t in page], token


def _sort_key(task: TaskRecord, sort: str) -> tuple[float, str]:
    if sort == "StartTime":
        return (task.start_time, task.task_id)
    if sort == "EndTime":
        return (task.end_time if task.end_time is not None else float("inf"), task.task_id)
    return (0.0, task.task_id)


def _encode_token(key: tuple[float, str], sort: str) -> str:
    raw = json.dumps([sort, key[0] if key[0] != float("inf") else None, key[1]])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str, sort: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        token_sort, value, task_id = json.loads(raw)
        if token_sort != sort or not isinstance(task_id, str):
            raise ValueError
        return (float("inf") if value is None else float(value), task_id)
    except (ValueError, TypeError):
        raise InvalidPageToken(f"NextToken {token!r} is invalid for Sort={sort}") from None


class TaskExecutor:
    """Starts and ends tasks on the server loop; ``notify`` is called with each task that ends."""

    def __init__(
        self, store: TaskStore, oss: LocalOss, clock: EmulatedClock, notify: Callable[[TaskRecord], None]
    ) -> None:
        self.store = store
        self._oss = oss
        self._clock = clock
        self._notify = notify

    def start(self, task: TaskRecord, loop: asyncio.AbstractEventLoop) -> None:
        self.store.add(task)
        duration = task.behaviour.duration
        if duration is not None:
            task.timer = loop.call_later(duration, self._end, task, task.behaviour)

    def finish(self, task_id: str, behaviour: Behaviour) -> bool:
        """End a running task now as ``behaviour`` says; False if it had ended already."""
        task = self.store.find(task_id)
        if task is None:
            raise KeyError(task_id)
        if not task.running:
            return False
        if task.timer is not None:
            task.timer.cancel()
        self._end(task, behaviour)
        return True

    def _end(self, task: TaskRecord, behaviour: Behaviour) -> None:
        task.timer = None
        ending = behaviour.ending()
        status, code, message = ending.status, ending.code, ending.message
        if status == "Succeeded":
            try:
                check_sources(task.op, task.request, self._oss)
                task.outputs = write_outputs(
                    task.op,
                    task.request,
                    task.tags,
                    datetime.fromtimestamp(task.start_time, tz=timezone.utc),
                    self._oss,
                )
            except TaskFailure as failure:
                status, code, message = "Failed", failure.code, failure.message
            except Exception as err:  # an emulator bug or a full disk must not leave the task Running
                status, code, message = "Failed", "InternalError", f"{type(err).__name__}: {err}"
        task.status, task.code, task.message = status, code, message
        task.end_time = self._clock.time()
        if task.topic or task.rocketmq:
            self._notify(task)

    def shutdown(self) -> None:
        for task in self.store.all():
            if task.timer is not None:
                task.timer.cancel()
                task.timer = None
