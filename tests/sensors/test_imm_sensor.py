"""ImmTaskSensor in real task runs: it waits for a task submitted by another task of the DAG."""

from __future__ import annotations

import json
import threading
import time

from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_imm.operators.imm import ImmTaskFailedError
from tests.emulated_imm import Imm

DOC = "oss://docs/in/report.docx"
DAG_FILE = """
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from airflow_provider_imm.sensors.imm import ImmTaskSensor
from tests.operators.dag_support import DEFAULT_ARGS

with DAG(__DAG_ID__, schedule=None, default_args=DEFAULT_ARGS) as dag:
    submit = ImmCreateTaskOperator(
        task_id="submit",
        imm_conn_id=__CONN__,
        action="CreateOfficeConversionTask",
        request=__REQUEST__,
        wait_for_completion=False,
    )
    wait = ImmTaskSensor(
        task_id="wait",
        imm_conn_id=__CONN__,
        imm_task_id="{{ ti.xcom_pull(task_ids='submit') }}",
        imm_task_type="CreateOfficeConversionTask",
        poke_interval=0.2,
        **__SENSOR__,
    )
    submit >> wait
"""


def request(source: str = DOC, **emulator: object) -> dict[str, str]:
    fields = {"SourceURI": source, "TargetType": "pdf", "TargetURI": "oss://out/{barename}.pdf"}
    if emulator:
        fields["UserData"] = json.dumps({"imm-emulator": emulator})
    return fields


def test_deferred_sensor_succeeds_on_the_notification(imm: Imm) -> None:
    imm.put(DOC)
    result = imm.run(DAG_FILE, dag_id="sensor_deferred", request=request(duration=0.5), sensor={})
    wait = result["wait"]
    assert wait.state == "success", wait.errors
    (task,) = imm.tasks()
    assert wait.xcom["task_id"] == task["TaskId"] == result["submit"].xcom
    assert wait.xcom["status"] == "Succeeded"
    assert wait.xcom["learned_from"] == "notification"
    # Resumed after the deferral, the link still shows: the region's project list.
    assert wait.xcoms["_link_ImmConsoleLink"] == "https://imm.console.aliyun.com/v2/cn-hangzhou/projects"
    assert wait.xcoms["imm_task"]["task_id"] == task["TaskId"]
    assert imm.creates() == 1


def test_sensor_fails_with_imms_code_when_the_task_fails(imm: Imm) -> None:
    result = imm.run(DAG_FILE, dag_id="sensor_failed", request=request("oss://docs/missing.docx"), sensor={})
    wait = result["wait"]
    assert wait.state == "failed"
    error = wait.errors[-1]
    assert isinstance(error, ImmTaskFailedError)
    assert error.code == "ResourceNotFound"
    assert error.task_id == result["submit"].xcom


def test_poke_mode_asks_get_task(imm: Imm) -> None:
    imm.put(DOC)

    def end_after_the_first_poke() -> None:
        # The task ends only once the sensor has seen it running, however slow the machine.
        deadline = time.monotonic() + 120
        while imm.get_task_calls() < 1 or not imm.tasks():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        imm.finish(imm.tasks()[0]["TaskId"])

    ender = threading.Thread(target=end_after_the_first_poke, daemon=True)
    ender.start()
    result = imm.run(
        DAG_FILE,
        dag_id="sensor_poke",
        request=request(duration=None),
        sensor={"deferrable": False, "mode": "poke"},
    )
    ender.join(timeout=5)
    wait = result["wait"]
    assert wait.state == "success", wait.errors
    assert wait.xcom["learned_from"] == "get_task"
    assert imm.emulator.counters.get("imm", "GetTask") >= 2
    assert imm.emulator.counters.total("mns") == 0


def test_sensor_timeout_fails_without_retries_and_says_the_task_runs_on(imm: Imm) -> None:
    imm.put(DOC)
    result = imm.run(
        DAG_FILE, dag_id="sensor_timeout", request=request(duration=None), sensor={"timeout": 1, "retries": 2}
    )
    wait = result["wait"]
    assert wait.state == "failed"
    assert wait.try_number == 1
    (error,) = wait.errors
    assert isinstance(error, AirflowSensorTimeout)
    assert result["submit"].xcom in str(error)
    assert "IMM cannot cancel a task" in str(error)
    (task,) = imm.tasks()
    assert task["Status"] == "Running"
