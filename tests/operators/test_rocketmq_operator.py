"""The operator on a connection that names RocketMQ: IMM is told to notify RocketMQ, and the
deferred task resumes on that notification (``dag.test()``, trigger in-process)."""

from __future__ import annotations

import json

from tests.emulated_imm import Imm
from tests.rocketmq_channel import ROCKETMQ_TOPIC, rocketmq_connection

DOC = "oss://docs/in/report.docx"
DAG_FILE = """
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS

with DAG(__DAG_ID__, schedule=None, default_args=DEFAULT_ARGS) as dag:
    ImmCreateTaskOperator(
        task_id="convert", imm_conn_id=__CONN__, action="CreateOfficeConversionTask", request=__REQUEST__,
        deferrable=True, reconcile_interval=__RECONCILE__,
    )
"""


def request(duration: float) -> dict[str, str]:
    return {
        "SourceURI": DOC,
        "TargetType": "pdf",
        "TargetURI": "oss://out/{barename}.pdf",
        "UserData": json.dumps({"imm-emulator": {"duration": duration}}),
    }


def test_deferred_task_resumes_on_the_rocketmq_notification(imm: Imm) -> None:
    imm.put(DOC)
    conn = rocketmq_connection(imm)
    run = imm.run(DAG_FILE, dag_id="office_rocketmq", conn=conn, request=request(0.5), reconcile=300.0)[
        "convert"
    ]

    assert run.state == "success", run.errors
    (task,) = imm.tasks()
    sent = json.loads(task["TaskRequestDefinition"])  # what IMM was asked
    assert sent["Notification"] == {
        "RocketMQ": {"InstanceId": imm.emulator.rocketmq.instance_id, "TopicName": ROCKETMQ_TOPIC}
    }
    assert run.xcom["learned_from"] == "notification"
    assert run.xcom["task_id"] == task["TaskId"] and run.xcom["status"] == "Succeeded"


def test_a_dropped_rocketmq_notification_is_settled_by_reconciliation(imm: Imm) -> None:
    imm.put(DOC)
    conn = rocketmq_connection(imm)
    imm.emulator.faults.drop_notifications(1)
    run = imm.run(DAG_FILE, dag_id="office_rocketmq_dropped", conn=conn, request=request(0.5), reconcile=1.0)[
        "convert"
    ]

    assert run.state == "success", run.errors
    # Settled by reconciliation: the shared reconciler's listing, or a GetTask where it cannot serve.
    assert run.xcom["learned_from"] in ("list_tasks", "get_task")
