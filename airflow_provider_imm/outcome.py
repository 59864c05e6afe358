"""How the wait for an IMM task ended: one record from the trigger's event to the XCom.

The trigger builds an :class:`ImmTaskOutcome` (from the notification or GetTask) and fires it as its
event (:meth:`~ImmTaskOutcome.to_event`); the operator or sensor reads it back
(:meth:`~ImmTaskOutcome.from_event`), or builds it from its own GetTask
(:meth:`~ImmTaskOutcome.from_task_info`), and returns :meth:`~ImmTaskOutcome.to_xcom`. Times are
normalised once, here, to ISO-8601 in UTC, so ``start_time`` does not depend on the path that
learned the end.

The event keeps the keys the trigger has always fired (``status`` is how the wait ended,
``imm_status`` IMM's status, ``source`` what told the trigger): a task deferred before an upgrade
resumes from the event stored then, and :meth:`~ImmTaskOutcome.from_event` renormalises its times.
Importing this module imports neither the IMM nor the MNS SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_provider_imm.exceptions import ImmTaskError, ImmTaskFailedError
from airflow_provider_imm.utils.timestamps import parse_timestamp

__all__ = ["FINAL_STATUSES", "MAX_TEXT", "ImmTaskOutcome", "LearnedFrom", "WaitResult", "iso_utc"]

#: How the wait ended: IMM ended the task (``succeeded``, ``failed``), the deadline passed
#: (``timeout``), or the task could not be looked up (``error``).
WaitResult = Literal["succeeded", "failed", "timeout", "error"]
#: What told: the notification, GetTask, a ListTasks round of shared reconciliation, the deadline,
#: or the connection (that failed).
LearnedFrom = Literal["notification", "get_task", "list_tasks", "deadline", "connection"]
#: Longest ``code`` and ``message`` kept, however the end was learnt: they reach XCom, trigger events
#: and error messages, and a notification or an answer may carry any length.
MAX_TEXT = 1000
#: IMM's final statuses, and the wait result each one is.
FINAL_STATUSES: Mapping[str, WaitResult] = {"Succeeded": "succeeded", "Failed": "failed"}


def iso_utc(value: object) -> str | None:
    """An IMM time (ISO-8601 text of any offset, or a datetime) as ISO-8601 in UTC; None if unreadable."""
    when = value if isinstance(value, datetime) else parse_timestamp(value)
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat()


#: Record fields whose key in the trigger's event differs (the event's keys predate the record).
_EVENT_KEYS = {"result": "status", "status": "imm_status", "learned_from": "source"}
#: Record fields read from GetTask's answer, and their keys there.
_TASK_INFO_KEYS = {
    "status": "Status", "code": "Code", "message": "Message", "start_time": "StartTime", "end_time": "EndTime"
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ImmTaskOutcome:
    """One IMM task's end as the provider reports it; ``status`` is IMM's, when the task ended.

    Every way in is normalised alike: ``code`` and ``message`` as text, times as ISO-8601 in UTC (a
    datetime or IMM's text of any offset), ``result`` from IMM's status when not given.
    """

    task_id: str
    task_type: str
    project: str | None
    status: str | None = None
    code: str = ""
    message: str = ""
    start_time: str | None = None
    end_time: str | None = None
    learned_from: str = ""
    result: WaitResult | None = None

    def __post_init__(self) -> None:
        normalised = {
            "code": str(self.code or "")[:MAX_TEXT],
            "message": str(self.message or "")[:MAX_TEXT],
            "start_time": iso_utc(self.start_time),
            "end_time": iso_utc(self.end_time),
            "learned_from": str(self.learned_from or ""),
        }
        if self.result not in ("succeeded", "failed", "timeout", "error"):
            normalised["result"] = FINAL_STATUSES.get(str(self.status), "error")
        if self.status is None and self.result in ("succeeded", "failed"):
            normalised["status"] = self.result.capitalize()
        for name, value in normalised.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_task_info(
        cls,
        info: Mapping[str, Any],
        *,
        task_id: str,
        task_type: str,
        project: str | None,
        learned_from: LearnedFrom = "get_task",
    ) -> ImmTaskOutcome:
        """GetTask's answer for a task that ended."""
        end: dict[str, Any] = {name: info.get(key) for name, key in _TASK_INFO_KEYS.items()}
        project = str(info.get("ProjectName") or project)
        return cls(task_id=task_id, task_type=task_type, project=project, learned_from=learned_from, **end)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ImmTaskOutcome:
        """The trigger's event, as this version or the previous one fired it."""
        values: dict[str, Any] = {name: event.get(_EVENT_KEYS.get(name, name)) for name in _FIELDS}
        return cls(**values)

    def to_event(self) -> dict[str, Any]:
        """The trigger's event payload (keys unchanged across versions: see the module's docstring)."""
        return {_EVENT_KEYS.get(name, name): value for name, value in asdict(self).items()}

    def to_xcom(self) -> dict[str, Any]:
        """What the operator and the sensor return for a task that ended."""
        return {name: value for name, value in asdict(self).items() if name != "result"}

    def raise_unless_succeeded(
        self,
        *,
        timed_out: Callable[[str, str, str | None], BaseException],
        failed: type[ImmTaskFailedError] = ImmTaskFailedError,
    ) -> ImmTaskOutcome:
        """This outcome if the task succeeded; else the error saying why not.

        ``failed`` is raised for a task IMM ended Failed, what ``timed_out(task_id, task_type,
        project)`` returns at the deadline (the operator and the sensor word and classify a timeout
        differently), :class:`~.exceptions.ImmTaskError` when the task could not be waited for.
        """
        if self.result == "succeeded":
            return self
        if self.result == "failed":
            raise failed(
                task_id=self.task_id,
                task_type=self.task_type,
                project=self.project,
                code=self.code,
                message=self.message,
            )
        if self.result == "timeout":
            raise timed_out(self.task_id, self.task_type, self.project)
        raise ImmTaskError(
            f"Waiting for IMM task {self.task_id} ({self.task_type}, project {self.project}) failed: "
            f"{self.code or 'Error'}: {self.message or 'no message'}",
            task_id=self.task_id,
            task_type=self.task_type,
            project=self.project,
        )


_FIELDS = tuple(field.name for field in fields(ImmTaskOutcome))
