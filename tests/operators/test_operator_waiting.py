"""How long the operator waits, and what does not end the wait: real task runs against the emulator.

``timeout`` is counted from the IMM task's StartTime, so neither a retry nor a reattach starts it
again. A GetTask that fails for a passing reason right after the submit does not fail the try (a
retry could submit a second, paid task): the wait starts all the same.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airflow_provider_imm.operators.imm import ImmTaskTimeoutError
from tests.emulated_imm import Imm
from tests.operators.airflow_env import TaskRun

DOC = "oss://docs/in/report.docx"
DAG_FILE = """
import datetime
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS

with DAG(__DAG_ID__, schedule=None, default_args=DEFAULT_ARGS) as dag:
    ImmCreateTaskOperator(
        task_id="convert", imm_conn_id=__CONN__, action="CreateOfficeConversionTask", request=__REQUEST__,
        **__OPTIONS__
    )
"""
#: How long the emulator says a task has already run when it starts: the emulated clock is set back
#: this much while the DAG runs (requests stay within the signature's 15-minute window).
STARTED_AGO = 600.0


def office(**emulator: object) -> dict[str, str]:
    fields = {"SourceURI": DOC, "TargetType": "pdf", "TargetURI": "oss://out/{barename}.pdf"}
    if emulator:
        fields["UserData"] = json.dumps({"imm-emulator": emulator})
    return fields


def run(
    imm: Imm, dag_id: str, request: dict[str, str], conn: str | None = None, **options: object
) -> TaskRun:
    values = {"conn": conn} if conn else {}
    return imm.run(DAG_FILE, dag_id=dag_id, request=request, options=options, **values)["convert"]


def test_timeout_counts_from_the_imm_tasks_start_on_every_try(imm: Imm) -> None:
    """The task started (by IMM's clock) ten minutes ago and may take five: every try, the first
    and the retry that reattaches, times out at once instead of granting five more minutes; the
    task would have succeeded 20 s later."""
    imm.put(DOC)
    imm.emulator.clock.advance(-STARTED_AGO)
    try:
        result = run(
            imm,
            "office_deadline_from_start",
            office(duration=20),
            timeout=STARTED_AGO / 2,
            retries=1,
            retry_delay=timedelta(0),
        )
    finally:
        imm.emulator.clock.advance(STARTED_AGO)
    assert result.state == "failed"
    assert result.try_number == 2
    first, second = result.errors
    assert isinstance(first, ImmTaskTimeoutError) and isinstance(second, ImmTaskTimeoutError)
    (task,) = imm.tasks()
    assert first.task_id == second.task_id == task["TaskId"]
    assert task["Status"] == "Running"
    assert imm.creates() == 1
    assert "had not finished 0:05:00 after it started" in str(second)


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "polling"])
def test_a_get_task_failing_right_after_the_submit_does_not_fail_the_try(imm: Imm, deferrable: bool) -> None:
    imm.put(DOC)
    conn = imm.connection(retry_max_attempts=2)
    # The create passes (a stall of no time takes the first fault slot); both attempts of the
    # GetTask after it answer 503.
    imm.emulator.faults.hang_imm(1, seconds=0.0)
    imm.emulator.faults.fail_imm(2)
    result = run(
        imm,
        f"office_get_task_503_{'deferred' if deferrable else 'polling'}",
        office(duration=0.3),
        conn=conn,
        deferrable=deferrable,
        poll_interval=0.2,
    )
    assert result.state == "success", result.errors
    assert result.try_number == 1
    (task,) = imm.tasks()
    assert result.xcom["task_id"] == task["TaskId"]
    assert imm.creates() == 1
    # Both failed GetTask attempts, then the end: from the notification (when it reaches the
    # trigger before its first check, no later look is needed), or from a later look, the
    # trigger's (GetTask or the shared reconciler's ListTasks) or the poll's.
    assert imm.emulator.counters.get("imm", "GetTask") >= 2
    if result.xcom["learned_from"] != "notification":
        looks = imm.emulator.counters.get("imm", "GetTask") + imm.emulator.counters.get("imm", "ListTasks")
        assert looks >= 3
