"""End to end: the example DAGs on a real Airflow 3 deployment (api-server, scheduler, dag-processor,
triggerers as separate processes, LocalExecutor) against the emulator, everything on loopback.

The emulator holds every IMM task Running until the test has seen its Airflow task deferred, with
its trigger assigned to a triggerer job; only then does the IMM task end. So a run that succeeds
went through deferral, the trigger in a triggerer process, the MNS notification and the resume.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from alibabacloud_imm20200930 import models as imm_models
from alibabacloud_imm20200930.client import Client as ImmClient
from alibabacloud_tea_openapi.models import Config

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.e2e.conftest import Stack
from tests.e2e.deployment import MNS_TOPIC
from tests.e2e.emulator_admin import EmulatorAdmin
from tests.e2e.observe import (
    fired_events,
    release_when_deferred,
    task_log,
)
from tests.e2e.test_example_dags_parse import EXPECTED_DAG_IDS

pytestmark = pytest.mark.timeout(480)

NIGHTLY = "imm_nightly_document_conversion"
MEDIA = "imm_media_transcoding"
COMPRESS = "imm_compress_run_outputs"
SENSOR = "imm_wait_for_external_task"
#: Per DAG, the tasks that submit or wait for an IMM task.
IMM_TASKS = {
    NIGHTLY: {"convert_to_pdf"},
    MEDIA: {"transcode"},
    COMPRESS: {"render_pdf", "pack"},
    SENSOR: {"wait_for_imm_task"},
}
HELD_ACTIONS = ("CreateOfficeConversionTask", "CreateMediaConvertTask", "CreateFileCompressionTask")
DOCS_BUCKET, MEDIA_BUCKET = "imm-demo-docs", "imm-demo-media"
#: The example DAGs' param defaults, which the test runs unchanged.
DOCUMENTS = ["quarterly-report.docx", "board-minutes.docx", "price-list.xlsx"]
DRAFTS = ["sales.xlsx", "support.docx"]
VIDEO = "uploads/launch-teaser.mov"
#: Seconds between seeing a task deferred and letting its IMM task end.
SETTLE = 4.0


def _put(emulator: ImmEmulator, bucket: str, keys: list[str], content: bytes = b"document body") -> None:
    for key in keys:
        emulator.oss.put(bucket, key, content)


def _submit_outside_airflow(emulator: ImmEmulator) -> str:
    """An application's MediaConvert task, submitted with the official SDK, notifying the topic."""
    client = ImmClient(
        Config(
            access_key_id=emulator.access_key_id,
            access_key_secret=emulator.access_key_secret,
            endpoint=emulator.endpoint,
            protocol="http",
            region_id=emulator.region,
        )
    )
    request = imm_models.CreateMediaConvertTaskRequest(
        project_name=DEFAULT_PROJECT,
        sources=[
            imm_models.CreateMediaConvertTaskRequestSources(uri=f"oss://{MEDIA_BUCKET}/uploads/app.mov")
        ],
        targets=[
            imm_models.CreateMediaConvertTaskRequestTargets(
                uri=f"oss://{MEDIA_BUCKET}/app/{{barename}}.{{autoext}}", container="mp4"
            )
        ],
        notification=imm_models.Notification(mns=imm_models.MNS(topic_name=MNS_TOPIC)),
    )
    return str(client.create_media_convert_task(request).body.task_id)


def _xcom(stack: Stack, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
    return stack.airflow.rest.xcom(dag_id, run_id, task_id, map_index=map_index)


def test_example_dags_defer_resume_on_notifications_and_write_their_outputs(stack: Stack) -> None:
    emulator, airflow = stack.emulator, stack.airflow
    admin = EmulatorAdmin(emulator.url)
    admin.hold(*HELD_ACTIONS)
    _put(emulator, DOCS_BUCKET, [f"inbox/{name}" for name in DOCUMENTS] + [f"drafts/{n}" for n in DRAFTS])
    _put(emulator, MEDIA_BUCKET, [VIDEO, "uploads/app.mov"], b"video")
    airflow.wait_for_dags(EXPECTED_DAG_IDS)
    tasks_before = {t["TaskId"] for t in admin.tasks()}
    external = _submit_outside_airflow(emulator)

    runs = {}
    for dag_id in sorted(EXPECTED_DAG_IDS):
        airflow.rest.unpause(dag_id)
        conf = {"imm_task_id": external} if dag_id == SENSOR else {}
        runs[dag_id] = airflow.rest.trigger(dag_id, logical_date="2026-11-20T02:00:00Z", conf=conf)
    released = release_when_deferred(airflow, admin, runs, IMM_TASKS, settle=SETTLE, timeout=300)

    # Every run succeeded, and every IMM task instance had been deferred with its trigger on a
    # triggerer before its IMM task ended.
    for dag_id, run_id in runs.items():
        assert airflow.rest.run_state(dag_id, run_id) == "success", task_logs_of(stack, dag_id, run_id)
    imm_instances = {
        (dag_id, ti["task_id"], ti["map_index"])
        for dag_id, run_id in runs.items()
        for ti in airflow.rest.task_instances(dag_id, run_id)
        if ti["task_id"] in IMM_TASKS[dag_id]
    }
    assert len(imm_instances) == 3 + 1 + 3 + 1
    assert set(released) == imm_instances

    # The trigger ran in that triggerer process and fired there on the MNS notification.
    triggerers = {job["id"] for job in airflow.triggerer_jobs()}
    for key, deferral in released.items():
        assert deferral.triggerer_job in triggerers
        fired = fired_events(airflow, deferral.run_id, key)
        (event,) = fired[deferral.triggerer_job]
        assert (event.payload["status"], event.payload["task_id"]) == ("succeeded", deferral.imm_task_id)
        assert "Pausing task as DEFERRED" in task_log(airflow, deferral.run_id, key)
        result = _xcom(stack, key[0], deferral.run_id, key[1], key[2])
        assert result["task_id"] == deferral.imm_task_id
        assert result["status"] == "Succeeded"
        assert result["learned_from"] == "notification", (key, result)

    # One IMM task per task instance (plus the application's), nothing submitted twice.
    created = [t for t in admin.tasks() if t["TaskId"] not in tasks_before]
    assert sorted(t["TaskId"] for t in created) == sorted(d.imm_task_id for d in released.values())
    assert all(t["Status"] == "Succeeded" for t in created)

    # XCom results and the objects IMM wrote.
    outbox = [f"oss://{DOCS_BUCKET}/outbox/2026-11-20/finance/{n.rsplit('.', 1)[0]}.pdf" for n in DOCUMENTS]
    summary = _xcom(stack, NIGHTLY, runs[NIGHTLY], "summarize")
    assert summary == {
        "converted": 3,
        "imm_tasks": sorted(d.imm_task_id for d in released.values() if d.key[0] == NIGHTLY),
        "outputs": sorted(outbox),
    }
    for index, name in enumerate(DOCUMENTS):
        converted = _xcom(stack, NIGHTLY, runs[NIGHTLY], "convert_to_pdf", index)
        assert converted["output_uris"] == [outbox[index]]
        assert converted["target_uris"] == [
            f"oss://{DOCS_BUCKET}/outbox/2026-11-20/finance/{{barename}}.{{autoext}}"
        ]
        assert (
            f"Source: oss://{DOCS_BUCKET}/inbox/{name}"
            in emulator.oss.get(DOCS_BUCKET, outbox[index][len(f"oss://{DOCS_BUCKET}/") :]).decode()
        )

    renditions = [
        f"oss://{MEDIA_BUCKET}/transcoded/spring-launch/launch-teaser_{p}.mp4" for p in ("360p", "720p")
    ]
    assert _xcom(stack, MEDIA, runs[MEDIA], "publish") == renditions
    for uri in renditions:
        assert emulator.oss.exists(MEDIA_BUCKET, uri.split("/", 3)[3])

    pack = next(d for d in released.values() if d.key[:2] == (COMPRESS, "pack"))
    announced = _xcom(stack, COMPRESS, runs[COMPRESS], "announce")
    assert announced["archive"] == f"oss://{DOCS_BUCKET}/archives/reports-2026-11-20.zip"
    assert announced["imm_task_id"] == pack.imm_task_id
    with zipfile.ZipFile(
        io.BytesIO(emulator.oss.get(DOCS_BUCKET, "archives/reports-2026-11-20.zip"))
    ) as archive:
        assert sorted(archive.namelist()) == ["reports-20261120/sales.pdf", "reports-20261120/support.pdf"]
        assert b"Source: oss://imm-demo-docs/drafts/sales.xlsx" in archive.read("reports-20261120/sales.pdf")

    recorded = _xcom(stack, SENSOR, runs[SENSOR], "record")
    assert recorded["task_id"] == external
    assert recorded["status"] == "Succeeded"
    assert recorded["learned_from"] == "notification"


def task_logs_of(stack: Stack, dag_id: str, run_id: str) -> str:
    """Failure context: each task instance's state and the tail of its log."""
    lines = []
    for ti in stack.airflow.rest.task_instances(dag_id, run_id):
        key = (dag_id, ti["task_id"], ti["map_index"])
        lines.append(
            f"{key} {ti['state']} try {ti['try_number']}\n{task_log(stack.airflow, run_id, key)[-2000:]}"
        )
    return "\n".join(lines)
