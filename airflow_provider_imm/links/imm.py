"""The "IMM console" button of IMM operators and sensors.

IMM documents no page per task, so the link opens the page known to exist: the console's project
list in the task's region (``https://imm.console.aliyun.com/v2/<region>/projects``).

Airflow asks every link for its address when the task instance ends (deferred, failed or done) and
stores the answer. The operator records the task it submitted or waits for once, with
:meth:`ImmConsoleLink.persist`: in XCom (:data:`IMM_TASK_XCOM_KEY`), read back by
:meth:`ImmConsoleLink.recall` when a deferred task resumes on another worker, and on the operator,
where :meth:`ImmConsoleLink.get_link` finds it. A task that failed before it reached IMM has nothing
to show: the link is empty, without reading an XCom that was never written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["CONSOLE_URL", "IMM_TASK_XCOM_KEY", "ImmConsoleLink", "console_url"]

#: XCom key of ``{"project", "task_type", "task_id", "region"}``.
IMM_TASK_XCOM_KEY = "imm_task"
#: The IMM console's project list of a region: the one page address known to exist.
CONSOLE_URL = "https://imm.console.aliyun.com/v2/{region}/projects"
#: Where an operator keeps the record of its IMM task for the link, in the process that runs it.
_RECORD_ATTRIBUTE = "_imm_console_task"


def console_url(region: str | None) -> str:
    """The console's project list in ``region``; empty when the region is unknown."""
    return CONSOLE_URL.format(region=quote(region, safe="")) if region else ""


class ImmConsoleLink(BaseOperatorLink):
    """Opens the IMM console's project list in the region of the task this Airflow task ran."""

    name = "IMM console"

    @classmethod
    def persist(
        cls,
        context: Context,
        operator: BaseOperator,
        *,
        region: str | None,
        project: str,
        task_type: str,
        task_id: str,
    ) -> None:
        """Record the IMM task for the link: in XCom for a resumed try, and on the operator."""
        record = {"project": project, "task_type": task_type, "task_id": task_id, "region": region}
        context["ti"].xcom_push(key=IMM_TASK_XCOM_KEY, value=record)
        setattr(operator, _RECORD_ATTRIBUTE, record)

    @classmethod
    def recall(cls, context: Context, operator: BaseOperator) -> None:
        """In a try resumed from deferral: the record :meth:`persist` wrote before deferring."""
        ti = context["ti"]
        record = ti.xcom_pull(task_ids=ti.task_id, key=IMM_TASK_XCOM_KEY, map_indexes=ti.map_index)
        if isinstance(record, Mapping):
            setattr(operator, _RECORD_ATTRIBUTE, dict(record))

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        record: Any = getattr(operator, _RECORD_ATTRIBUTE, None)
        return console_url(record.get("region")) if isinstance(record, Mapping) else ""
