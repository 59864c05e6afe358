"""A cleared task instance submits anew; a retry within a cycle of tries still reattaches.

The task runs to success, is cleared as the UI's Clear does (Airflow raises ``max_tries``, so the
next try starts a new cycle), and runs again in the same DAG run. With ``[state_store]
clear_on_success`` nothing in Airflow remembers that the first IMM task was reported, so only the
cycle's first try number keeps the operator from taking the old result.
"""

from __future__ import annotations

import pytest

from airflow_provider_imm.operators.imm import ImmTaskTimeoutError
from tests.emulated_imm import Imm
from tests.operators.airflow_env import run_dag_file_then_clear

DOC = "oss://docs/in/report.docx"
DAG_FILE = """
import datetime
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS

with DAG("office_cleared", schedule=None, default_args=DEFAULT_ARGS) as dag:
    ImmCreateTaskOperator(
        task_id="convert",
        imm_conn_id=__CONN__,
        action="CreateOfficeConversionTask",
        request={"SourceURI": __DOC__, "TargetType": "pdf", "TargetURI": "oss://out/{barename}.pdf"},
        timeout=0.8,
        retries=1,
        retry_delay=datetime.timedelta(seconds=1),
    )
"""


def test_a_cleared_task_submits_again_and_its_retry_reattaches(
    imm: Imm, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", "True")
    imm.put(DOC)

    def slower_tasks() -> None:
        # After the clear, IMM takes longer than the timeout: the new cycle's first try times out
        # and its retry reattaches to the task that try submitted.
        imm.emulator.imm.set_behaviour("OfficeConversion", duration=1.2)
        capfd.readouterr()

    before, after = run_dag_file_then_clear(
        imm.home,
        DAG_FILE.replace("__CONN__", repr(imm.conn_id)).replace("__DOC__", repr(DOC)),
        clear="convert",
        between=slower_tasks,
    )
    first = before["convert"]
    assert first.state == "success" and first.try_number == 1, first.errors
    old_task = first.xcom["task_id"]

    cleared = after["convert"]
    assert cleared.state == "success", cleared.errors
    assert cleared.try_number == 3
    assert imm.creates() == 2
    new_task = cleared.xcom["task_id"]
    assert new_task != old_task
    assert {t["TaskId"]: t["Status"] for t in imm.tasks()} == {old_task: "Succeeded", new_task: "Succeeded"}
    # Try 2 (the new cycle's first) submitted and timed out; try 3 took its task, not the old one.
    (timeout,) = cleared.errors
    assert isinstance(timeout, ImmTaskTimeoutError)
    assert timeout.task_id == new_task
    output = capfd.readouterr()
    assert f"Reattaching to IMM task {new_task}" in output.out + output.err
    assert f"Reattaching to IMM task {old_task}" not in output.out + output.err
