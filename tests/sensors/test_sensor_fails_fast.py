"""ImmTaskSensor fails at once, without retries, on what no retry can change; its timeout is counted
from the IMM task's start. Real task runs (``dag.test()``) against the emulator."""

from __future__ import annotations

import json

from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_imm.emulator import DEFAULT_PROJECT
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.operators.imm import ImmTaskFailedError
from airflow_provider_imm.operators.project import ImmProjectMissingError
from airflow_provider_imm.sensors.imm import ImmSensorArgumentError
from tests.emulated_imm import Imm

DOC = "oss://docs/in/report.docx"
SENSORS = """
import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from airflow_provider_imm.sensors.imm import ImmTaskSensor
from tests.operators.dag_support import DEFAULT_ARGS

RETRIES = {"retries": 2, "retry_delay": datetime.timedelta(0), "poke_interval": 0.2}
OFFICE = "CreateOfficeConversionTask"

with DAG("sensor_fails_fast", schedule=None, default_args=DEFAULT_ARGS) as dag:
    failing = ImmCreateTaskOperator(
        task_id="failing", imm_conn_id=__CONN__, action=OFFICE, request=__MISSING__, wait_for_completion=False
    )
    waited = ImmCreateTaskOperator(task_id="waited", imm_conn_id=__CONN__, action=OFFICE, request=__FOUND__)
    noop = EmptyOperator(task_id="noop")
    sensors = [
        ImmTaskSensor(
            task_id="imm_failed", imm_conn_id=__CONN__, imm_task_type=OFFICE,
            imm_task_id="{{ ti.xcom_pull(task_ids='failing') }}", **RETRIES,
        ),
        ImmTaskSensor(
            task_id="unknown_type", imm_conn_id=__CONN__, imm_task_type="NoSuchThing",
            imm_task_id="{{ ti.xcom_pull(task_ids='failing') }}", **RETRIES,
        ),
        ImmTaskSensor(
            task_id="no_project", imm_conn_id=__NO_PROJECT__, imm_task_type=OFFICE,
            imm_task_id="{{ ti.xcom_pull(task_ids='failing') }}", **RETRIES,
        ),
        ImmTaskSensor(
            task_id="result_dict", imm_conn_id=__CONN__, imm_task_type=OFFICE,
            imm_task_id="{{ ti.xcom_pull(task_ids='waited') }}", **RETRIES,
        ),
        ImmTaskSensor(
            task_id="nothing_pulled", imm_conn_id=__CONN__, imm_task_type=OFFICE,
            imm_task_id="{{ ti.xcom_pull(task_ids='noop') }}", **RETRIES,
        ),
    ]
    for upstream in (failing, waited, noop):
        upstream >> sensors
"""


def office(source: str) -> dict[str, str]:
    return {"SourceURI": source, "TargetType": "pdf", "TargetURI": "oss://out/{barename}.pdf"}


def test_what_no_retry_can_change_fails_the_first_try(imm: Imm) -> None:
    imm.put(DOC)
    no_project = imm.connection(project=None)
    result = imm.run(
        SENSORS,
        missing=office("oss://docs/missing.docx"),
        found=office(DOC),
        no_project=no_project,
    )
    assert result["waited"].state == "success", result["waited"].errors
    failed_task = result["failing"].xcom
    expected = {
        "imm_failed": ImmTaskFailedError,
        "unknown_type": ImmSensorArgumentError,
        "no_project": ImmProjectMissingError,
        "result_dict": ImmSensorArgumentError,
        "nothing_pulled": ImmSensorArgumentError,
    }
    for task_id, error_type in expected.items():
        run = result[task_id]
        assert (run.state, run.try_number) == ("failed", 1), (task_id, run.errors)
        (error,) = run.errors
        assert isinstance(error, error_type) and isinstance(error, AirflowFailException), (task_id, error)

    failure = result["imm_failed"].errors[0]
    assert isinstance(failure, ImmTaskFailedError)
    assert failure.task_id == failed_task and failure.code == "ResourceNotFound"
    assert "NoSuchThing" in str(result["unknown_type"].errors[0])
    assert no_project in str(result["no_project"].errors[0])
    wrong_dict = str(result["result_dict"].errors[0])
    assert "imm_task_id" in wrong_dict
    assert "['task_id']" in wrong_dict and "wait_for_completion=False" in wrong_dict
    nothing = str(result["nothing_pulled"].errors[0])
    assert "imm_task_id" in nothing and "'None'" in nothing and "wait_for_completion=False" in nothing


WAIT_FOR_OLD_TASK = """
from airflow.sdk import DAG
from airflow_provider_imm.sensors.imm import ImmTaskSensor
from tests.operators.dag_support import DEFAULT_ARGS

with DAG("sensor_deadline_from_start", schedule=None, default_args=DEFAULT_ARGS) as dag:
    ImmTaskSensor(
        task_id="deferred", imm_conn_id=__CONN__, imm_task_id=__TASK__,
        imm_task_type="OfficeConversion", timeout=300, poke_interval=0.2,
    )
    ImmTaskSensor(
        task_id="poking", imm_conn_id=__CONN__, imm_task_id=__TASK__,
        imm_task_type="OfficeConversion", timeout=300, poke_interval=0.2, deferrable=False, mode="poke",
    )
    ImmTaskSensor(
        task_id="soft_fail", imm_conn_id=__CONN__, imm_task_id=__TASK__,
        imm_task_type="OfficeConversion", timeout=300, poke_interval=0.2, soft_fail=True,
    )
"""


def test_timeout_counts_from_the_imm_tasks_start(imm: Imm) -> None:
    """A task IMM started ten minutes ago, still running, and a five-minute timeout: the sensor
    times out at once, deferred or poking (skipped with ``soft_fail``), though the task would succeed
    20 s later."""
    imm.put(DOC)
    request = {**office(DOC), "UserData": json.dumps({"imm-emulator": {"duration": 20}})}
    imm.emulator.clock.advance(-600)
    try:
        task_id = str(
            ImmHook(imm.conn_id).create_task("CreateOfficeConversionTask", request, DEFAULT_PROJECT)["TaskId"]
        )
    finally:
        imm.emulator.clock.advance(600)
    result = imm.run(WAIT_FOR_OLD_TASK, task=task_id)
    for sensor in ("deferred", "poking"):
        run = result[sensor]
        assert (run.state, run.try_number) == ("failed", 1), (sensor, run.errors)
        (error,) = run.errors
        assert isinstance(error, AirflowSensorTimeout), (sensor, error)
        assert task_id in str(error) and "0:05:00 after it started" in str(error)
    assert result["soft_fail"].state == "skipped"
    (task,) = imm.tasks()
    assert task["Status"] == "Running"
