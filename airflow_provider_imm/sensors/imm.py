"""Wait for an IMM task submitted elsewhere (another DAG, an application, ``wait_for_completion=False``).

Deferrable by default, on the same trigger as the operators: the MNS notification when the
connection names a queue, GetTask every ``poke_interval`` otherwise. In poke or reschedule mode it
asks GetTask once per poke. Importing this module imports neither the IMM nor the MNS SDK.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_imm.catalog import get_operation
from airflow_provider_imm.hooks.connection import DEFAULT_CONN_ID
from airflow_provider_imm.links.imm import IMM_TASK_XCOM_KEY, ImmConsoleLink
from airflow_provider_imm.operators.imm import (
    DEFAULT_RECONCILE_INTERVAL,
    ImmTaskError,
    ImmTaskFailedError,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_imm.hooks.imm import ImmHook

__all__ = ["ImmTaskSensor"]

_DEFERRAL_GRACE = timedelta(minutes=5)


class ImmTaskSensor(BaseSensorOperator):
    """Succeeds when IMM task ``imm_task_id`` succeeds; fails when it fails.

    :param imm_task_id: the IMM TaskId (templated), e.g. ``{{ ti.xcom_pull('submit') }}``.
    :param imm_task_type: its TaskType (``MediaConvert``) or action (``CreateMediaConvertTask``);
        templated.
    :param project: the IMM project (templated); default: the connection's ``project`` extra.
    :param imm_conn_id: the ``imm`` connection.
    :param deferrable: wait in the triggerer (default True).
    :param reconcile_interval: seconds between GetTask checks while a notification is awaited.

    ``timeout`` is the sensor's: when it passes, the sensor fails; the IMM task keeps running.
    Returns (XCom) ``{"task_id", "task_type", "project", "status", "code", "message", "start_time",
    "end_time", "learned_from"}``.
    """

    template_fields: Sequence[str] = ("imm_task_id", "imm_task_type", "project")
    operator_extra_links = (ImmConsoleLink(),)
    ui_color = "#ffd8b8"

    def __init__(
        self,
        *,
        imm_task_id: str,
        imm_task_type: str,
        project: str | None = None,
        imm_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = True,
        reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.imm_task_id = imm_task_id
        self.imm_task_type = imm_task_type
        self.project = project
        self.imm_conn_id = imm_conn_id
        self.deferrable = deferrable
        if reconcile_interval <= 0:
            raise ValueError("reconcile_interval must be positive")
        self.reconcile_interval = float(reconcile_interval)
        self._hook: ImmHook | None = None

    @property
    def hook(self) -> ImmHook:
        if self._hook is None:
            from airflow_provider_imm.hooks.imm import ImmHook

            self._hook = ImmHook(self.imm_conn_id, project=self.project, logger_name=self.log.name)
        return self._hook

    def _resolved_type(self) -> str:
        return get_operation(self.imm_task_type).task_type

    def _resolved_project(self) -> str:
        project = self.project or self.hook.settings.project
        if not project:
            raise ValueError(
                f"No IMM project: pass project=... or set extra 'project' on connection {self.imm_conn_id!r}"
            )
        return project

    def execute(self, context: Context) -> Any:
        project, task_type = self._resolved_project(), self._resolved_type()
        context["ti"].xcom_push(
            key=IMM_TASK_XCOM_KEY,
            value={
                "project": project,
                "task_type": task_type,
                "task_id": self.imm_task_id,
                "region": self.hook.settings.region,
            },
        )
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        self._defer(project, task_type)
        return None

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_provider_imm.operators.imm import outcome_of_task_info

        project, task_type = self._resolved_project(), self._resolved_type()
        info = self.hook.get_task(project, task_type, self.imm_task_id)
        if info.get("Status") not in ("Succeeded", "Failed"):
            self.log.info(
                "IMM task %s is %s (%s%%)", self.imm_task_id, info.get("Status"), info.get("Progress")
            )
            return False
        return PokeReturnValue(True, self._result(outcome_of_task_info(info, project, "get_task")))

    def _defer(self, project: str, task_type: str) -> None:
        from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger

        settings = self.hook.settings
        queue = settings.mns_queue if settings.mns_topic and settings.mns_queue else None
        if queue is None:
            # The trigger warns that it polls; this says how to make it wait for the notification.
            self.log.info(
                "IMM task %s: connection %r has no mns_topic and mns_queue, so the trigger polls GetTask "
                "every %g s",
                self.imm_task_id,
                self.imm_conn_id,
                self.poke_interval,
            )
        self.defer(
            trigger=ImmTaskCompletedTrigger(
                task_id=self.imm_task_id,
                task_type=task_type,
                project=project,
                imm_conn_id=self.imm_conn_id,
                mns_queue=queue,
                deadline=time.time() + self.timeout,
                reconcile_interval=self.reconcile_interval,
                poll_interval=float(self.poke_interval),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + _DEFERRAL_GRACE,
        )

    def execute_complete(self, context: Context, event: dict[str, Any], **_: Any) -> Any:
        status = event.get("status")
        task_id, task_type, project = (
            str(event.get("task_id")),
            str(event.get("task_type")),
            event.get("project"),
        )
        if status in ("succeeded", "failed"):
            return self._result(
                {
                    "task_id": task_id,
                    "task_type": task_type,
                    "project": project,
                    "status": event.get("imm_status") or status.capitalize(),
                    "code": event.get("code") or "",
                    "message": event.get("message") or "",
                    "start_time": event.get("start_time"),
                    "end_time": event.get("end_time"),
                    "learned_from": event.get("source"),
                }
            )
        if status == "timeout":
            raise AirflowSensorTimeout(
                f"IMM task {task_id} ({task_type}, project {project}) had not finished after "
                f"{timedelta(seconds=self.timeout)} (the sensor's timeout). IMM cannot cancel a task: it "
                "keeps running."
            )
        raise ImmTaskError(
            f"Waiting for IMM task {task_id} ({task_type}, project {project}) failed: "
            f"{event.get('code') or 'Error'}: {event.get('message') or 'no message'}",
            task_id=task_id,
            task_type=task_type,
            project=project,
        )

    @staticmethod
    def _result(outcome: dict[str, Any]) -> dict[str, Any]:
        if outcome["status"] != "Succeeded":
            raise ImmTaskFailedError(
                task_id=outcome["task_id"],
                task_type=outcome["task_type"],
                project=outcome["project"],
                code=outcome["code"],
                message=outcome["message"],
            )
        return outcome
