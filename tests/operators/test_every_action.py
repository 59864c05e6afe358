"""The generic operator runs each of the 18 Create*Task actions of the catalog from a minimal request."""

from __future__ import annotations

import json

from airflow_provider_imm.catalog import OPERATIONS
from tests.emulated_imm import Imm
from tests.minimal_requests import MINIMAL, put_sources

DAG_FILE = """
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS

with DAG("every_action", schedule=None, default_args=DEFAULT_ARGS) as dag:
    for action, request in __REQUESTS__.items():
        ImmCreateTaskOperator(task_id=action, imm_conn_id=__CONN__, action=action, request=request)
"""


def test_every_action_runs_from_a_minimal_request(imm: Imm) -> None:
    assert set(MINIMAL) == set(OPERATIONS)
    put_sources(imm.emulator)
    imm.emulator.imm.task_duration = 0.0

    result = imm.run(DAG_FILE, requests={action: minimal.request for action, minimal in MINIMAL.items()})

    assert {key: run.state for key, run in result.tasks.items()} == dict.fromkeys(MINIMAL, "success")
    tasks = {task["TaskId"]: task for task in imm.tasks()}
    assert len(tasks) == len(MINIMAL) == imm.creates()
    for action, minimal in MINIMAL.items():
        operation = OPERATIONS[action]
        xcom = result[action].xcom
        task = tasks[xcom["task_id"]]
        assert task["TaskType"] == xcom["task_type"] == operation.task_type
        assert task["Status"] == xcom["status"] == "Succeeded"
        assert xcom["output_uris"] == minimal.named
        assert all(imm.exists(uri) for uri in minimal.written)
        # The task instance's identity travels in Tags, else in UserData (DecodeBlindWatermark has
        # neither: the task state store alone records it).
        if operation.has_tags:
            assert task["Tags"]["airflow-task"] == action
        elif action != "CreateDecodeBlindWatermarkTask":
            assert len(json.loads(task["UserData"])["airflow-ti"]) == 16
