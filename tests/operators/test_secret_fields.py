"""A password reaches IMM, but nothing derived from it goes into the Tags or UserData IMM shows to
anyone who may call GetTask or ListTasks: real task runs against the emulator."""

from __future__ import annotations

import json

from tests.emulated_imm import Imm

DOC = "oss://docs/in/report.docx"
ARCHIVE = "oss://docs/in/bundle.zip"
DAG_FILE = """
from airflow.sdk import DAG
from airflow_provider_imm.operators.imm import ImmCreateTaskOperator
from tests.operators.dag_support import DEFAULT_ARGS

OFFICE = {"SourceURI": __DOC__, "TargetType": "pdf", "TargetURI": "oss://out/{barename}.pdf"}
UNZIP = {"SourceURI": __ARCHIVE__, "TargetURI": "oss://out/unpacked/"}

with DAG("secret_fields", schedule=None, default_args=DEFAULT_ARGS) as dag:
    for name, password in (("one", "correct-horse-1"), ("two", "battery-staple-2")):
        ImmCreateTaskOperator(
            task_id=f"office_{name}", imm_conn_id=__CONN__, action="CreateOfficeConversionTask",
            request={**OFFICE, "Password": password}, wait_for_completion=False,
        )
        ImmCreateTaskOperator(
            task_id=f"unzip_{name}", imm_conn_id=__CONN__, action="CreateFileUncompressionTask",
            request={**UNZIP, "Password": password}, wait_for_completion=False,
        )
"""


def test_the_request_hash_imm_shows_does_not_depend_on_the_password(imm: Imm) -> None:
    imm.put(DOC)
    imm.put(ARCHIVE)
    result = imm.run(DAG_FILE, doc=DOC, archive=ARCHIVE)
    tasks = {t["TaskId"]: t for t in imm.tasks()}
    assert len(tasks) == 4

    def shown(task_id: str) -> dict[str, str]:
        """What IMM shows of the task: its Tags, and its UserData when that is a JSON object."""
        task = tasks[result[task_id].xcom]
        user_data = json.loads(task["UserData"]) if task.get("UserData", "").startswith("{") else {}
        return {**task.get("Tags", {}), **user_data}

    office_one, office_two = shown("office_one"), shown("office_two")
    unzip_one, unzip_two = shown("unzip_one"), shown("unzip_two")
    # Two task instances, so two identities; the same request but for the password, so one hash.
    assert office_one["airflow-ti"] != office_two["airflow-ti"]
    assert office_one["airflow-request"] == office_two["airflow-request"]
    assert unzip_one["airflow-ti"] != unzip_two["airflow-ti"]
    assert unzip_one["airflow-request"] == unzip_two["airflow-request"]
    for password in ("correct-horse-1", "battery-staple-2"):
        assert all(password not in json.dumps(t) for t in tasks.values())
