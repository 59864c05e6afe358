"""ImmCreateTaskOperator in real Airflow task runs (``dag.test()``) against the emulator.

Each test writes a DAG file, runs it with the metadata DB, the Task SDK's task runner and the
trigger in-process, then looks at what IMM received (the emulator), what Airflow recorded (task
states, tries, XCom) and what the operator raised.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_imm.hooks.errors import ImmApiError
from airflow_provider_imm.operators.imm import ImmTaskFailedError, ImmTaskTimeoutError
from tests.emulated_imm import TOPIC, Imm
from tests.operators.airflow_env import DS, TaskRun

#: ``import datetime``: options such as ``retry_delay`` reach the DAG file as their repr.
HEADER = """
import datetime
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS
"""
#: A DAG of one ImmCreateTaskOperator; ``__OPTIONS__`` are its further keyword arguments.
ONE_TASK = """
with DAG(__DAG_ID__, schedule=None, default_args=DEFAULT_ARGS) as dag:
    ImmCreateTaskOperator(
        task_id=__TASK_ID__, imm_conn_id=__CONN__, action=__ACTION__, request=__REQUEST__, **__OPTIONS__
    )
"""
DOC = "oss://docs/in/report.docx"


def run_task(
    imm: Imm,
    dag_id: str,
    request: dict[str, Any],
    *,
    action: str = "CreateOfficeConversionTask",
    task_id: str = "convert",
    conn: str | None = None,
    **options: object,
) -> TaskRun:
    """Run :data:`ONE_TASK` (on ``conn``, else the test's connection) and return its task's run."""
    connection = {"conn": conn} if conn else {}
    result = imm.run(
        ONE_TASK,
        header=HEADER,
        dag_id=dag_id,
        task_id=task_id,
        action=action,
        request=request,
        options=options,
        **connection,
    )
    return result[task_id]


def office(source: str = DOC, target: str = "oss://out/{barename}.pdf", **fields: object) -> dict[str, Any]:
    """An OfficeConversion request to PDF."""
    return {"SourceURI": source, "TargetType": "pdf", "TargetURI": target, **fields}


def sent_request(imm: Imm, task_id: str) -> dict[str, Any]:
    """The request IMM received for ``task_id``, as the emulator kept it (GetTask gives no
    TaskRequestDefinition for OfficeConversion)."""
    (info,) = [t for t in imm.emulator.imm.tasks() if t["TaskId"] == task_id]
    return dict(json.loads(info["TaskRequestDefinition"]))


def behaviour(**spec: object) -> str:
    """UserData telling the emulator how the task ends."""
    return json.dumps({"imm-emulator": spec})


def test_templated_target_reaches_imm_rendered_and_outputs_land_there(imm: Imm) -> None:
    imm.put(DOC)
    # Long enough that the first GetTask finds it running, however slow the machine: it is deferred.
    request = office(
        target="oss://out/{{ ds }}/{barename}.{autoext}",
        Tags={"team": "{{ params.team }}"},
        UserData=behaviour(duration=0.5),
    )
    run = run_task(imm, "office_templated", request, params={"team": "media"})
    assert run.state == "success", run.errors
    (task,) = imm.tasks()
    sent = sent_request(imm, task["TaskId"])
    assert sent["TargetURI"] == f"oss://out/{DS}/{{barename}}.{{autoext}}"
    assert sent["Notification"] == {"MNS": {"TopicName": TOPIC}}
    assert sent["Tags"]["team"] == "media"
    assert sent["Tags"]["airflow-dag"] == "office_templated"
    assert sent["Tags"]["airflow-task"] == "convert"
    assert len(sent["Tags"]["airflow-ti"]) == 16
    assert task["Outputs"] == [f"oss://out/{DS}/report.pdf"]
    assert imm.exists(f"oss://out/{DS}/report.pdf")
    assert run.xcom["task_id"] == task["TaskId"]
    assert run.xcom["status"] == "Succeeded"
    assert run.xcom["target_uris"] == [f"oss://out/{DS}/{{barename}}.{{autoext}}"]
    assert run.xcom["output_uris"] == [f"oss://out/{DS}/report.pdf"]
    assert run.xcom["learned_from"] == "notification"
    assert run.xcom["start_time"] and run.xcom["end_time"]
    assert run.xcoms["_link_ImmConsoleLink"] == "https://imm.console.aliyun.com/v2/cn-hangzhou/projects"
    assert imm.creates() == 1


def test_failed_imm_task_fails_the_airflow_task_with_imm_code(imm: Imm) -> None:
    # The source object does not exist: IMM accepts the task, which then fails.
    request = office("oss://docs/missing.docx", "oss://out/{barename}.{autoext}")
    run = run_task(imm, "office_fails", request, action="OfficeConversion")
    assert run.state == "failed"
    (error,) = run.errors
    assert isinstance(error, ImmTaskFailedError)
    (task,) = imm.tasks()
    assert error.code == "ResourceNotFound" == task["Code"]
    assert error.task_id == task["TaskId"]
    assert "ResourceNotFound" in str(error) and task["TaskId"] in str(error)
    assert "does not exist" in str(error)


def test_retry_after_a_timeout_reattaches_instead_of_submitting_again(
    imm: Imm, capfd: pytest.CaptureFixture[str]
) -> None:
    """The timeout runs from the IMM task's start, so the retry comes once the task has succeeded."""
    imm.put(DOC)
    request = office(target="oss://out/{barename}.{autoext}", UserData=behaviour(duration=1.2))
    run = run_task(imm, "office_retry", request, timeout=0.8, retries=1, retry_delay=timedelta(seconds=1))
    assert run.state == "success", run.errors
    assert run.try_number == 2
    (timeout,) = run.errors
    assert isinstance(timeout, ImmTaskTimeoutError)
    assert "IMM cannot cancel a task" in str(timeout)
    (task,) = imm.tasks()
    assert timeout.task_id == task["TaskId"] == run.xcom["task_id"]
    assert str(task["TaskId"]) in str(timeout)
    assert imm.creates() == 1
    # Airflow 3.3's task state store told the retry which task its first try submitted.
    output = capfd.readouterr()
    assert "submitted by an earlier try, found by state store" in output.out + output.err


@pytest.mark.parametrize(
    ("action", "request_fields", "found_by"),
    [
        (
            "CreateOfficeConversionTask",
            office(),
            "tags",
        ),
        (
            "CreateFileCompressionTask",
            {"Sources": [{"URI": DOC}], "TargetURI": "oss://out/a.zip"},
            "user data",
        ),
    ],
)
def test_retry_after_a_lost_create_answer_finds_the_task_imm_created(
    imm: Imm, capfd: pytest.CaptureFixture[str], action: str, request_fields: dict[str, Any], found_by: str
) -> None:
    """The create call times out on the client while IMM still creates the task, so no state store
    record exists: the retry finds the task through the identity it carries (Tags, else UserData)."""
    imm.put(DOC)
    conn = imm.connection(read_timeout=0.4)
    imm.emulator.faults.hang_imm(1, seconds=1.0)
    run = run_task(
        imm,
        f"lost_answer_{action}",
        request_fields,
        action=action,
        task_id="submit",
        conn=conn,
        retries=1,
        retry_delay=timedelta(seconds=2),
    )
    assert run.state == "success", run.errors
    assert run.try_number == 2
    (lost,) = run.errors
    assert isinstance(lost, ImmApiError) and lost.code == "NetworkError"
    (task,) = imm.tasks()
    assert run.xcom["task_id"] == task["TaskId"]
    assert imm.creates() == 1
    output = capfd.readouterr()
    assert f"submitted by an earlier try, found by {found_by}" in output.out + output.err


def test_retry_after_a_failed_imm_task_submits_a_new_one(imm: Imm) -> None:
    request = office("oss://docs/missing.docx")
    run = run_task(imm, "office_fails_twice", request, retries=1, retry_delay=timedelta(0))
    assert run.state == "failed" and run.try_number == 2
    first, second = run.errors
    assert isinstance(first, ImmTaskFailedError) and isinstance(second, ImmTaskFailedError)
    assert first.task_id != second.task_id
    assert imm.creates() == 2
    assert {t["TaskId"] for t in imm.tasks()} == {first.task_id, second.task_id}


def test_without_waiting_the_task_id_is_returned_at_once(imm: Imm) -> None:
    imm.put(DOC)
    request = office(UserData=behaviour(duration=None))
    run = run_task(imm, "office_no_wait", request, task_id="submit", wait_for_completion=False)
    assert run.state == "success", run.errors
    (task,) = imm.tasks()
    assert run.xcom == task["TaskId"]
    assert task["Status"] == "Running"
    assert imm.emulator.counters.get("imm", "GetTask") == 0
    # Someone may wait for it with a sensor: the notification goes to the connection's topic.
    assert sent_request(imm, task["TaskId"])["Notification"] == {"MNS": {"TopicName": TOPIC}}


def test_not_deferrable_polls_on_the_worker(imm: Imm) -> None:
    imm.put(DOC)
    request = office(UserData=behaviour(duration=0.6))
    run = run_task(imm, "office_polling", request, deferrable=False, poll_interval=0.2)
    assert run.state == "success", run.errors
    assert run.xcom["learned_from"] == "get_task"
    assert imm.emulator.counters.get("imm", "GetTask") >= 3
    assert imm.emulator.counters.total("mns") == 0
    (task,) = imm.tasks()
    assert "Notification" not in sent_request(imm, task["TaskId"])


def test_without_an_mns_queue_the_trigger_polls_with_one_warning(
    imm: Imm, capfd: pytest.CaptureFixture[str]
) -> None:
    imm.put(DOC)
    request = office(UserData=behaviour(duration=0.5))
    run = run_task(imm, "office_no_queue", request, conn=imm.connection(mns=False), poll_interval=0.2)
    assert run.state == "success", run.errors
    assert run.xcom["learned_from"] == "get_task"
    assert imm.emulator.counters.total("mns") == 0
    output = capfd.readouterr()
    lines = (output.out + output.err).splitlines()
    assert len([line for line in lines if "warning" in line and "GetTask every" in line]) == 1
    assert any(
        "has no mns_topic and mns_queue, so the trigger polls GetTask every 0.2 s" in line for line in lines
    )


def test_a_task_finished_at_the_first_get_task_completes_without_deferring(imm: Imm) -> None:
    imm.put(DOC)
    imm.emulator.imm.task_duration = 0.0
    run = run_task(imm, "office_instant", office())
    assert run.state == "success", run.errors
    assert run.xcom["learned_from"] == "get_task"
    # No trigger ran: nobody read the MNS queue.
    counters = imm.emulator.counters
    assert counters.get("mns", "ReceiveMessage") + counters.get("mns", "BatchReceiveMessage") == 0
    assert imm.emulator.counters.get("imm", "GetTask") == 1


def test_mapping_over_sources_runs_one_task_per_source(imm: Imm) -> None:
    sources = [f"oss://docs/in/{name}.docx" for name in ("a", "b", "c")]
    for uri in sources:
        imm.put(uri)
    result = imm.run(
        """
        from airflow.sdk import DAG
        from airflow_provider_imm.operators.imm import ImmOfficeConversionOperator
        from tests.operators.dag_support import DEFAULT_ARGS

        with DAG("office_mapped", schedule=None, default_args=DEFAULT_ARGS) as dag:
            ImmOfficeConversionOperator.partial(
                task_id="convert",
                imm_conn_id=__CONN__,
                target_type="pdf",
                target_uri="oss://out/{{ ds }}/{barename}.{autoext}",
            ).expand(source_uri=__SOURCES__)
        """,
        header=HEADER,
        sources=sources,
    )
    assert {key: run.state for key, run in result.tasks.items()} == {
        "convert[0]": "success",
        "convert[1]": "success",
        "convert[2]": "success",
    }
    for index, name in enumerate(("a", "b", "c")):
        assert result[f"convert[{index}]"].xcom["output_uris"] == [f"oss://out/{DS}/{name}.pdf"]
        assert imm.exists(f"oss://out/{DS}/{name}.pdf")
    tasks = imm.tasks()
    assert len(tasks) == 3
    assert len({t["Tags"]["airflow-ti"] for t in tasks}) == 3
    assert sorted(t["Tags"]["airflow-map-index"] for t in tasks) == ["0", "1", "2"]
