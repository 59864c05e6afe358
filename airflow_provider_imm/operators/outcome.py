"""How an IMM task ended, in one shape for the operators and the sensor, and the errors they raise.

Whether the end was learned from GetTask (:func:`outcome_of_task_info`) or from the trigger's event
(:func:`outcome_of_event`), the result is the same dict: ``task_id``, ``task_type``, ``project``,
``status`` (IMM's), ``code``, ``message``, ``start_time``, ``end_time`` (ISO-8601 or None) and
``learned_from``. Importing this module imports neither the IMM nor the MNS SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timezone
from typing import Any

from airflow.sdk.exceptions import AirflowException

__all__ = [
    "ImmTaskError",
    "ImmTaskFailedError",
    "ImmTaskTimeoutError",
    "outcome_of_event",
    "outcome_of_task_info",
]


class ImmTaskError(AirflowException):
    """An IMM task could not be waited for, or ended badly. Names the task; never a secret."""

    def __init__(self, message: str, *, task_id: str, task_type: str, project: str | None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.task_type = task_type
        self.project = project


class ImmTaskFailedError(ImmTaskError):
    """IMM says the task Failed; ``code`` and ``message`` are IMM's."""

    def __init__(self, *, task_id: str, task_type: str, project: str | None, code: str, message: str) -> None:
        super().__init__(
            f"IMM task {task_id} ({task_type}, project {project}) failed: {code or 'no code'}: "
            f"{message or 'no message'}",
            task_id=task_id,
            task_type=task_type,
            project=project,
        )
        self.code = code
        self.imm_message = message


class ImmTaskTimeoutError(ImmTaskError):
    """The task had not ended by the deadline; it keeps running in IMM, which cannot cancel it."""


def outcome_of_task_info(info: Mapping[str, Any], project: str, learned_from: str) -> dict[str, Any]:
    """GetTask's answer in the shape of the trigger's event (ISO times, IMM's status)."""
    from airflow_provider_imm.utils.notification_parsing import parse_timestamp

    def iso(value: object) -> str | None:
        parsed = parse_timestamp(value)
        return parsed.astimezone(timezone.utc).isoformat() if parsed is not None else None

    return {
        "task_id": str(info.get("TaskId")),
        "task_type": str(info.get("TaskType")),
        "project": str(info.get("ProjectName") or project),
        "status": str(info.get("Status")),
        "code": str(info.get("Code") or ""),
        "message": str(info.get("Message") or ""),
        "start_time": iso(info.get("StartTime")),
        "end_time": iso(info.get("EndTime")),
        "learned_from": learned_from,
    }


def outcome_of_event(
    event: Mapping[str, Any], *, timed_out: Callable[[str, str, str | None], BaseException]
) -> dict[str, Any]:
    """The trigger's event as an outcome when the task ended (Succeeded or Failed alike).

    A deadline raises what ``timed_out(task_id, task_type, project)`` returns (the operator and the
    sensor word, and classify, a timeout differently); a failure to wait raises :class:`ImmTaskError`.
    """
    status = event.get("status")
    task_id, task_type = str(event.get("task_id")), str(event.get("task_type"))
    project = event.get("project")
    if status in ("succeeded", "failed"):
        return {
            "task_id": task_id,
            "task_type": task_type,
            "project": project,
            "status": event.get("imm_status") or str(status).capitalize(),
            "code": event.get("code") or "",
            "message": event.get("message") or "",
            "start_time": event.get("start_time"),
            "end_time": event.get("end_time"),
            "learned_from": event.get("source"),
        }
    if status == "timeout":
        raise timed_out(task_id, task_type, project)
    raise ImmTaskError(
        f"Waiting for IMM task {task_id} ({task_type}, project {project}) failed: "
        f"{event.get('code') or 'Error'}: {event.get('message') or 'no message'}",
        task_id=task_id,
        task_type=task_type,
        project=project,
    )
