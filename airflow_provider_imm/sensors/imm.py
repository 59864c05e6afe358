"""Wait for an IMM task submitted elsewhere (another DAG, an application, ``wait_for_completion=False``).

Deferrable by default, on the same trigger as the operators: the MNS notification when the
connection names a queue, GetTask every ``poke_interval`` otherwise. In poke or reschedule mode it
asks GetTask once per poke. Importing this module imports neither the IMM nor the MNS SDK.

What no retry can change fails at once, without retries: an IMM task that Failed (every retry would
find the same ended task), an ``imm_task_id`` that renders to something other than a TaskId, an
unknown ``imm_task_type``, no project.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_imm.catalog import UnknownActionError, get_operation
from airflow_provider_imm.exceptions import ImmSensorArgumentError, ImmSensorTaskFailedError
from airflow_provider_imm.hooks.connection import DEFAULT_CONN_ID
from airflow_provider_imm.links.imm import ImmConsoleLink
from airflow_provider_imm.operators.deadline import deferral_timeout, task_deadline
from airflow_provider_imm.operators.project import resolve_project
from airflow_provider_imm.outcome import FINAL_STATUSES, ImmTaskOutcome
from airflow_provider_imm.triggers.intervals import DEFAULT_RECONCILE_INTERVAL

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_imm.hooks.imm import ImmHook

__all__ = ["ImmSensorArgumentError", "ImmSensorTaskFailedError", "ImmTaskSensor"]


class ImmTaskSensor(BaseSensorOperator):
    """Succeeds when IMM task ``imm_task_id`` succeeds; fails when it fails.

    :param imm_task_id: the IMM TaskId (templated), e.g. ``{{ ti.xcom_pull('submit') }}``.
    :param imm_task_type: its TaskType (``MediaConvert``) or action (``CreateMediaConvertTask``);
        templated.
    :param project: the IMM project (templated); default: the connection's ``project`` extra.
    :param imm_conn_id: the ``imm`` connection.
    :param deferrable: wait in the triggerer (default True).
    :param reconcile_interval: seconds between GetTask checks while a notification is awaited.

    ``timeout`` is the sensor's, counted from the IMM task's StartTime so that retries and reschedules
    do not extend it: when it passes, the sensor fails without retries; the IMM task keeps running.
    Returns (XCom) ``{"task_id", "task_type", "project", "status", "code", "message", "start_time",
    "end_time", "learned_from"}``. The "IMM console" button opens the console's project list in the
    connection's region.
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
            from airflow_provider_imm.hooks.imm import (
                ImmHook,  # the hook's credentials code: at run time only
            )

            self._hook = ImmHook(self.imm_conn_id, project=self.project, logger_name=self.log.name)
        return self._hook

    def _resolved_type(self) -> str:
        try:
            return get_operation(str(self.imm_task_type)).task_type
        except UnknownActionError as err:
            raise ImmSensorArgumentError(f"imm_task_type: {err}") from None

    def _resolved_project(self) -> str:
        return resolve_project(
            self.project, self.hook.settings, conn_id=self.imm_conn_id, who="ImmTaskSensor"
        )

    def _checked_task_id(self) -> str:
        """The rendered ``imm_task_id``, if it can be a TaskId: not empty, ``None`` or a rendered dict."""
        value = self.imm_task_id
        text = value.strip() if isinstance(value, str) else ""
        if text and text not in ("None", "null") and text[0] not in "{[" and len(text.split()) == 1:
            return text
        hint = ""
        if isinstance(value, Mapping) or (isinstance(value, str) and text.startswith("{")):
            hint = (
                " It looks like the result of an operator that waited for its task: pull its 'task_id' "
                "(\"{{ ti.xcom_pull(task_ids='submit')['task_id'] }}\"), or submit with "
                "wait_for_completion=False, which returns the TaskId."
            )
        elif not text or text in ("None", "null"):
            hint = (
                " Nothing was pulled: check the task_ids in xcom_pull, and that the task upstream ran and "
                "returned the TaskId (an operator with wait_for_completion=False does)."
            )
        shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
        raise ImmSensorArgumentError(f"imm_task_id must render to an IMM TaskId, got {shown}.{hint}")

    def execute(self, context: Context) -> Any:
        self.imm_task_id = self._checked_task_id()
        project, task_type = self._resolved_project(), self._resolved_type()
        ImmConsoleLink.persist(
            context,
            self,
            region=self.hook.settings.region,
            project=project,
            task_type=task_type,
            task_id=self.imm_task_id,
        )
        if not self.deferrable:
            return super().execute(context)
        info = self.hook.get_task(project, task_type, self.imm_task_id)
        try:
            done = self._judge(info, project, task_type)
        except (AirflowSensorTimeout, AirflowFailException) as err:
            # What BaseSensorOperator.execute does with a poke's final errors, for the first check here.
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping: {err}") from err
            raise
        if isinstance(done, PokeReturnValue):
            return done.xcom_value
        self._defer(project, task_type, task_deadline(self.timeout, info, otherwise=time.time()))
        return None

    def poke(self, context: Context) -> bool | PokeReturnValue:
        project, task_type = self._resolved_project(), self._resolved_type()
        return self._judge(self.hook.get_task(project, task_type, self.imm_task_id), project, task_type)

    def _judge(self, info: Mapping[str, Any], project: str, task_type: str) -> bool | PokeReturnValue:
        """Done with the outcome when the task ended; False while it runs; the timeout once it passed."""
        if info.get("Status") in FINAL_STATUSES:
            outcome = ImmTaskOutcome.from_task_info(
                info, task_id=self.imm_task_id, task_type=task_type, project=project
            )
            return PokeReturnValue(True, self._result(outcome))
        deadline = task_deadline(self.timeout, info, otherwise=time.time())
        if deadline is not None and time.time() >= deadline:
            raise self._timeout_error(self.imm_task_id, task_type, project)
        self.log.info("IMM task %s is %s (%s%%)", self.imm_task_id, info.get("Status"), info.get("Progress"))
        return False

    def _defer(self, project: str, task_type: str, deadline: float | None) -> None:
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
        from airflow_provider_imm.triggers.imm import ImmTaskCompletedTrigger  # DAG files parse without it

        self.defer(
            trigger=ImmTaskCompletedTrigger(
                task_id=self.imm_task_id,
                task_type=task_type,
                project=project,
                imm_conn_id=self.imm_conn_id,
                mns_queue=queue,
                deadline=deadline,
                reconcile_interval=self.reconcile_interval,
                poll_interval=float(self.poke_interval),
            ),
            method_name="execute_complete",
            timeout=deferral_timeout(deadline),
        )

    def execute_complete(self, context: Context, event: dict[str, Any], **_: Any) -> Any:
        ImmConsoleLink.recall(context, self)
        return self._result(ImmTaskOutcome.from_event(event))

    def _timeout_error(self, task_id: str, task_type: str, project: str | None) -> AirflowSensorTimeout:
        return AirflowSensorTimeout(
            f"IMM task {task_id} ({task_type}, project {project}) had not finished "
            f"{timedelta(seconds=self.timeout)} after it started (the sensor's timeout). IMM cannot cancel "
            "a task: it keeps running."
        )

    def _result(self, outcome: ImmTaskOutcome) -> dict[str, Any]:
        outcome.raise_unless_succeeded(timed_out=self._timeout_error, failed=ImmSensorTaskFailedError)
        return outcome.to_xcom()
