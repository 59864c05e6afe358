"""End to end: the example batch DAG converts 1,000 documents in one task instance on a real
deployment, and the triggerer that holds its one trigger is killed in the middle of the wait.

The emulator holds every conversion Running until the test ends it: 400 end while the first
triggerer waits, the triggerer is SIGKILLed, 300 end while no triggerer runs, a new triggerer
starts and takes the trigger over (re-created from its kwargs: it finds the batch's TaskIds by tag),
then the last 300 end. Nothing may be lost (the run succeeds with 1,000 Succeeded items) or done
twice (one IMM task per document, one deferral).

On SQLite with LocalExecutor only: the batch's bookkeeping lives in IMM's tags and the trigger's
kwargs, whatever the executor, and the PostgreSQL + CeleryExecutor deployment e2e
(``test_deployment.py``) already shows deferral and resumption there; a second 1,000-document run
would cost CI some two minutes.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import TRIGGERER_CAPACITY, Stack
from tests.e2e.deployment import SQLITE_LOCAL
from tests.e2e.emulator_admin import EmulatorAdmin
from tests.e2e.observe import deferred_instances, trigger_started, wait_for_runs

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.parametrize("stack", [SQLITE_LOCAL], indirect=True, ids=lambda backend: backend.name),
]

DAG_ID = "imm_nightly_backlog_batch"
BUCKET = "imm-demo-docs"
DOCUMENTS = 1000
DATE = "2026-11-21"


def _wait(check, timeout: float, what: str, stack: Stack):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        stack.airflow.check_alive()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:.0f} s")
        time.sleep(1.0)


def test_a_batch_of_1000_survives_its_triggerer_s_death_in_one_deferral(stack: Stack) -> None:
    emulator, airflow = stack.emulator, stack.airflow
    admin = EmulatorAdmin(emulator.url)
    admin.hold("CreateOfficeConversionTask")
    for i in range(DOCUMENTS):
        emulator.oss.put(BUCKET, f"batch-1000/doc-{i:04d}.docx", b"document body")
    airflow.wait_for_dags({DAG_ID})
    creates_before = admin.counters().get("imm:CreateOfficeConversionTask", 0)

    airflow.rest.unpause(DAG_ID)
    run_id = airflow.rest.trigger(DAG_ID, logical_date=f"{DATE}T01:30:00Z", conf={"backlog": "batch-1000/"})
    key = (DAG_ID, "convert_backlog", -1)

    def waiting() -> int | None:
        job = deferred_instances(airflow, DAG_ID, run_id).get(key)
        return job if job is not None and trigger_started(airflow, run_id, key, job) else None

    first = _wait(waiting, 300, "the batch task not deferred", stack)
    ours = [t for t in admin.tasks() if t["Tags"].get("airflow-run") == run_id]
    assert len(ours) == DOCUMENTS
    task_ids = [t["TaskId"] for t in ours]

    for task_id in task_ids[:400]:
        emulator.imm.finish_task(task_id)
    time.sleep(3)
    victim = airflow.triggerer_services()[first]
    victim.kill()
    for task_id in task_ids[400:700]:
        emulator.imm.finish_task(task_id)
    airflow.start_triggerer("triggerer-batch", capacity=TRIGGERER_CAPACITY)
    second = _wait(
        lambda: next((j for j in deferred_instances(airflow, DAG_ID, run_id).values() if j != first), None),
        240,
        "the trigger not taken over",
        stack,
    )
    assert second != first
    for task_id in task_ids[700:]:
        emulator.imm.finish_task(task_id)

    assert wait_for_runs(airflow, {DAG_ID: run_id}, timeout=300) == {DAG_ID: "success"}
    (ti,) = [t for t in airflow.rest.task_instances(DAG_ID, run_id) if t["task_id"] == "convert_backlog"]
    assert ti["try_number"] == 1  # one try, deferred once, resumed once

    # One IMM task per document, nothing resubmitted by the takeover.
    assert admin.counters()["imm:CreateOfficeConversionTask"] - creates_before == DOCUMENTS
    assert len({t["Tags"]["airflow-item"] for t in ours}) == DOCUMENTS
    summary = airflow.rest.xcom(DAG_ID, run_id, "convert_backlog")
    assert (summary["total"], summary["succeeded"], summary["submitted"]) == (DOCUMENTS, DOCUMENTS, DOCUMENTS)
    manifest_key = f"manifests/{DATE}/backlog.jsonl"
    assert summary["manifest"] == f"oss://{BUCKET}/{manifest_key}"
    lines = [json.loads(line) for line in emulator.oss.get(BUCKET, manifest_key).decode().splitlines()]
    assert sorted(line["source"] for line in lines) == [
        f"oss://{BUCKET}/batch-1000/doc-{i:04d}.docx" for i in range(DOCUMENTS)
    ]
    assert {line["status"] for line in lines} == {"Succeeded"}
    # Bounded rows: the summary XCom is a few kB for 1,000 items.
    assert len(json.dumps(summary)) < 5000
