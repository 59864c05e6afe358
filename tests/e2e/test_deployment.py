"""End to end: the example DAGs on a real Airflow 3 deployment (api-server, scheduler, dag-processor,
triggerers as separate processes) against the emulator, everything on loopback; once on SQLite with
LocalExecutor, once on PostgreSQL with CeleryExecutor, a Redis broker and two Celery workers.

The emulator holds every IMM task Running until the test has seen its Airflow task deferred and
its trigger started by a triggerer process; only then does the IMM task end. So a run that
succeeds went through deferral, the trigger in a triggerer, the MNS notification and the resume.
The DAGs find their inputs and read their outputs back through the emulator's OSS REST API with the
Alibaba provider's ``OSSHook`` (connection ``oss_default`` from ``ImmEmulator.airflow_connections``).
The second test runs two triggerers, 40 waiting conversions, and kills one triggerer meanwhile.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections import Counter
from typing import Any

import pytest
from alibabacloud_imm20200930 import models as imm_models

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from tests.e2e.conftest import TRIGGERER_CAPACITY, Stack
from tests.e2e.deployment import EXAMPLE_DAG_IDS, MNS_TOPIC
from tests.e2e.emulator_admin import EmulatorAdmin
from tests.e2e.observe import (
    fired_events,
    imm_task_of,
    release_when_deferred,
    task_log,
    wait_for_new_triggerer,
    wait_for_runs,
    wait_until_waiting,
)
from tests.sdk_clients import imm_client_for

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
    # Nothing waits under backlog/ in this test: its batch task skips, with no IMM call.
    "imm_nightly_backlog_batch": set(),
}
HELD_ACTIONS = ("CreateOfficeConversionTask", "CreateMediaConvertTask", "CreateFileCompressionTask")
DOCS_BUCKET, MEDIA_BUCKET = "imm-demo-docs", "imm-demo-media"
#: The example DAGs' param defaults, which the test runs unchanged.
DOCUMENTS = ["quarterly-report.docx", "board-minutes.docx", "price-list.xlsx"]
DRAFTS = ["sales.xlsx", "support.docx"]
VIDEO = "uploads/launch-teaser.mov"
#: Seconds between a trigger's start in the triggerer and the end of its IMM task: time for its
#: first GetTask to see the task Running. The first trigger of a triggerer imports the SDKs first,
#: which took 5.4 s on a loaded 2-core machine with the Celery deployment (the emulator does not
#: tell which task a GetTask asked for, so this cannot wait on the call itself).
SETTLE = 10.0


def _put(emulator: ImmEmulator, bucket: str, keys: list[str], content: bytes = b"document body") -> None:
    for key in keys:
        emulator.oss.put(bucket, key, content)


def _submit_outside_airflow(emulator: ImmEmulator) -> str:
    """An application's MediaConvert task, submitted with the official SDK, notifying the topic."""
    client = imm_client_for(emulator)
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
    airflow.wait_for_dags(EXAMPLE_DAG_IDS)
    tasks_before = {t["TaskId"] for t in admin.tasks()}
    external = _submit_outside_airflow(emulator)

    runs = {}
    for dag_id in sorted(IMM_TASKS):  # the event-driven examples have tests of their own
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

    # The nightly DAG found the inbox's documents in OSS (listing order), read every PDF back
    # through OSS, and moved the documents to processed/.
    inbox = sorted(f"oss://{DOCS_BUCKET}/inbox/{name}" for name in DOCUMENTS)
    assert _xcom(stack, NIGHTLY, runs[NIGHTLY], "find_documents") == inbox
    outbox = [f"oss://{DOCS_BUCKET}/outbox/2026-11-20/finance/{n.rsplit('.', 1)[0]}.pdf" for n in DOCUMENTS]
    checked = _xcom(stack, NIGHTLY, runs[NIGHTLY], "check_outputs")
    assert checked == {
        "imm_tasks": sorted(d.imm_task_id for d in released.values() if d.key[0] == NIGHTLY),
        "outputs": {uri: len(_object(emulator, uri)) for uri in sorted(outbox)},
    }
    assert all(checked["outputs"].values())
    processed = [uri.replace("/inbox/", "/processed/2026-11-20/") for uri in inbox]
    assert _xcom(stack, NIGHTLY, runs[NIGHTLY], "file_documents") == processed
    assert emulator.oss.list(DOCS_BUCKET, "inbox/") == []
    assert [_object(emulator, uri) for uri in processed] == [b"document body"] * len(DOCUMENTS)
    # One conversion per document found, mapped in listing order.
    for index, name in enumerate(sorted(DOCUMENTS)):
        output = outbox[DOCUMENTS.index(name)]
        converted = _xcom(stack, NIGHTLY, runs[NIGHTLY], "convert_to_pdf", index)
        assert converted["output_uris"] == [output]
        assert converted["target_uris"] == [
            f"oss://{DOCS_BUCKET}/outbox/2026-11-20/finance/{{barename}}.{{autoext}}"
        ]
        assert f"Source: oss://{DOCS_BUCKET}/inbox/{name}" in _object(emulator, output).decode()

    renditions = [
        f"oss://{MEDIA_BUCKET}/transcoded/spring-launch/launch-teaser_{p}.mp4" for p in ("360p", "720p")
    ]
    assert _xcom(stack, MEDIA, runs[MEDIA], "publish") == renditions
    for uri in renditions:
        assert emulator.oss.exists(MEDIA_BUCKET, uri.split("/", 3)[3])

    # The compression DAG downloaded its archive through OSS and checked its members.
    pack = next(d for d in released.values() if d.key[:2] == (COMPRESS, "pack"))
    assert _xcom(stack, COMPRESS, runs[COMPRESS], "check_archive") == {
        "archive": f"oss://{DOCS_BUCKET}/archives/reports-2026-11-20.zip",
        "imm_task_id": pack.imm_task_id,
        "members": ["reports-20261120/sales.pdf", "reports-20261120/support.pdf"],
    }
    with zipfile.ZipFile(
        io.BytesIO(emulator.oss.get(DOCS_BUCKET, "archives/reports-2026-11-20.zip"))
    ) as archive:
        assert sorted(archive.namelist()) == ["reports-20261120/sales.pdf", "reports-20261120/support.pdf"]
        assert b"Source: oss://imm-demo-docs/drafts/sales.xlsx" in archive.read("reports-20261120/sales.pdf")

    recorded = _xcom(stack, SENSOR, runs[SENSOR], "record")
    assert recorded["task_id"] == external
    assert recorded["status"] == "Succeeded"
    assert recorded["learned_from"] == "notification"

    # The next night finds the inbox empty: the run skips its conversions, with no IMM call.
    creates = admin.counters().get("imm:CreateOfficeConversionTask", 0)
    next_night = airflow.rest.trigger(NIGHTLY, logical_date="2026-11-21T02:00:00Z")
    assert wait_for_runs(airflow, {NIGHTLY: next_night}, timeout=180) == {NIGHTLY: "success"}
    states = {ti["task_id"]: ti["state"] for ti in airflow.rest.task_instances(NIGHTLY, next_night)}
    assert states == dict.fromkeys(
        ["find_documents", "convert_to_pdf", "check_outputs", "file_documents"], "skipped"
    )
    assert admin.counters().get("imm:CreateOfficeConversionTask", 0) == creates
    assert "inbox/ is empty: nothing to convert" in task_log(
        airflow, next_night, (NIGHTLY, "find_documents", -1)
    )


def _object(emulator: ImmEmulator, uri: str) -> bytes:
    return emulator.oss.get(*uri.removeprefix("oss://").split("/", 1))


def task_logs_of(stack: Stack, dag_id: str, run_id: str) -> str:
    """Failure context: each task instance's state and the tail of its log."""
    lines = []
    for ti in stack.airflow.rest.task_instances(dag_id, run_id):
        key = (dag_id, ti["task_id"], ti["map_index"])
        lines.append(
            f"{key} {ti['state']} try {ti['try_number']}\n{task_log(stack.airflow, run_id, key)[-2000:]}"
        )
    return "\n".join(lines)


#: A night with many documents: more triggers than one triggerer's capacity.
BULK = [f"scan-{index:02d}.docx" for index in range(40)]


def test_two_triggerers_share_forty_waits_and_losing_one_loses_and_repeats_nothing(stack: Stack) -> None:
    emulator, airflow = stack.emulator, stack.airflow
    admin = EmulatorAdmin(emulator.url)
    admin.hold("CreateOfficeConversionTask")
    _put(emulator, DOCS_BUCKET, [f"bulk/{name}" for name in BULK])
    airflow.wait_for_dags({NIGHTLY})
    (first,) = (job["id"] for job in airflow.triggerer_jobs(alive=True))
    airflow.start_triggerer("triggerer-2", capacity=TRIGGERER_CAPACITY)
    second = wait_for_new_triggerer(airflow, known={first})
    creates_before = admin.counters().get("imm:CreateOfficeConversionTask", 0)

    airflow.rest.unpause(NIGHTLY)
    conf = {"inbox": "bulk/", "team": "bulk"}
    run_id = airflow.rest.trigger(NIGHTLY, logical_date="2026-11-19T02:00:00Z", conf=conf)
    waiting = wait_until_waiting(airflow, NIGHTLY, run_id, "convert_to_pdf", count=len(BULK), timeout=300)

    # Both triggerers run a share of the 40 triggers (each can hold at most 24).
    shares = Counter(waiting.values())
    assert set(shares) == {first, second}, shares
    assert max(shares.values()) <= TRIGGERER_CAPACITY
    time.sleep(SETTLE)

    # The first triggerer dies while all 40 IMM tasks still run; then IMM finishes them all.
    airflow.kill("triggerer")
    orphaned = {key for key, job in waiting.items() if job == first}
    for key in waiting:
        admin.finish(imm_task_of(airflow, run_id, key))
    assert wait_for_runs(airflow, {NIGHTLY: run_id}, timeout=300) == {NIGHTLY: "success"}

    # Every wait completed; those of the dead triggerer were taken over by the other one.
    states = Counter(ti["state"] for ti in airflow.rest.task_instances(NIGHTLY, run_id))
    assert states == {"success": len(BULK) + 3}
    for key in waiting:
        fired = fired_events(airflow, run_id, key)
        assert [e.payload["status"] for e in fired[second]] == ["succeeded"], (key, fired)
        if key in orphaned:
            assert not fired.get(first), (key, fired)
    assert first not in {job["id"] for job in airflow.triggerer_jobs(alive=True)}
    # With CeleryExecutor, the 42 task instances were shared by both workers.
    assert airflow.idle_celery_workers() == []

    # Exactly one IMM task per document: nothing resubmitted by a retry or by the takeover.
    ours = [t for t in admin.tasks() if t["Tags"].get("airflow-run") == run_id]
    assert sorted(int(t["Tags"]["airflow-map-index"]) for t in ours) == list(range(len(BULK)))
    assert admin.counters()["imm:CreateOfficeConversionTask"] - creates_before == len(BULK)
    checked = _xcom(stack, NIGHTLY, run_id, "check_outputs")
    assert sorted(checked["imm_tasks"]) == sorted(t["TaskId"] for t in ours)
    written = [f"outbox/2026-11-19/bulk/{name.removesuffix('.docx')}.pdf" for name in BULK]
    assert admin.objects(DOCS_BUCKET, "outbox/2026-11-19/bulk/") == written
    assert sorted(checked["outputs"]) == [f"oss://{DOCS_BUCKET}/{key}" for key in written]
    assert admin.objects(DOCS_BUCKET, "bulk/") == []
    assert admin.objects(DOCS_BUCKET, "processed/2026-11-19/") == [f"processed/2026-11-19/{n}" for n in BULK]
