"""The "IMM console" button of IMM operators and sensors.

The operator records the task it submitted or waits for in XCom (:data:`IMM_TASK_XCOM_KEY`); the
link reads it back, so it works for a deferred task resumed on another worker too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["CONSOLE_URL", "IMM_TASK_XCOM_KEY", "ImmConsoleLink", "console_url"]

#: XCom key of ``{"project", "task_type", "task_id", "region"}``.
IMM_TASK_XCOM_KEY = "imm_task"
#: The IMM console. Its page addresses are not a documented interface: the link opens the project
#: in its region and carries the task as query parameters.
CONSOLE_URL = "https://imm.console.aliyun.com"


def console_url(task: Mapping[str, Any]) -> str:
    """The console page of an IMM task record; empty when the region or project is unknown."""
    region, project = task.get("region"), task.get("project")
    if not region or not project:
        return ""
    query = urlencode({"taskType": task.get("task_type") or "", "taskId": task.get("task_id") or ""})
    return f"{CONSOLE_URL}/{quote(str(region))}/project/{quote(str(project))}/tasks?{query}"


class ImmConsoleLink(BaseOperatorLink):
    """Opens the IMM console on the project of the task this Airflow task submitted."""

    name = "IMM console"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        task = XCom.get_value(ti_key=ti_key, key=IMM_TASK_XCOM_KEY)
        return console_url(task) if isinstance(task, Mapping) else ""
