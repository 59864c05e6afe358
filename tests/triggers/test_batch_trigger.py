"""ImmBatchCompletedTrigger against the emulator: one trigger for many TaskIds, found by the batch's tag."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from airflow_provider_imm.catalog import get_operation
from airflow_provider_imm.emulator import DEFAULT_PROJECT
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.operators.batch_plan import plan_items
from airflow_provider_imm.operators.task_identity import TaskInstanceIdentity
from airflow_provider_imm.triggers.batch import ImmBatchCompletedTrigger
from airflow_provider_imm.triggers.mns_listener import ListenerRegistry
from tests.emulated_imm import QUEUE, TOPIC, Imm, run_trigger

BATCH = "batch-under-test"
N = 40


def submit(imm: Imm, n: int = N, conn_id: str | None = None) -> list[str]:
    """``n`` OfficeConversion tasks of batch :data:`BATCH` that run until finished by hand."""
    imm.emulator.imm.set_behaviour("OfficeConversion", duration=None)
    sources = [f"oss://docs/in/{i}.docx" for i in range(n)]
    for uri in sources:
        imm.put(uri)
    items = plan_items(
        get_operation("OfficeConversion"),
        {"TargetType": "pdf", "TargetURI": "oss://docs/out/{barename}.pdf"},
        sources,
        project=DEFAULT_PROJECT,
        identity=TaskInstanceIdentity("d", "t", "r"),
        batch=BATCH,
        notification={"MNS": {"TopicName": TOPIC}},
    )
    hook = ImmHook(conn_id or imm.conn_id)
    return [
        str(hook.create_task("CreateOfficeConversionTask", i.request, DEFAULT_PROJECT)["TaskId"])
        for i in items
    ]


def trigger(imm: Imm, **kwargs: Any) -> ImmBatchCompletedTrigger:
    params: dict[str, Any] = {
        "batch": BATCH,
        "task_type": "OfficeConversion",
        "expected": N,
        "project": DEFAULT_PROJECT,
        "imm_conn_id": imm.conn_id,
        "mns_queue": QUEUE,
        "reconcile_interval": 60.0,
        "poll_interval": 0.5,
    }
    return ImmBatchCompletedTrigger(**{**params, **kwargs})


def finish_all(imm: Imm, task_ids: list[str], failed_every: int = 4) -> None:
    for n, task_id in enumerate(task_ids):
        imm.finish(task_id, "Failed" if n % failed_every == 0 else "Succeeded")


async def test_one_trigger_waits_for_every_task_on_notifications(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_ids = submit(imm)
    waiting = asyncio.ensure_future(run_trigger(trigger(imm), timeout=30))
    await asyncio.sleep(1.0)  # listed, registered, first checks made
    gets_before = imm.get_task_calls()
    finish_all(imm, task_ids[:-1])
    await asyncio.sleep(0.5)
    assert not waiting.done()  # one task still runs
    imm.finish(task_ids[-1])
    event = await waiting
    assert event == {
        "status": "ended",
        "batch": BATCH,
        "expected": N,
        "found": N,
        "running": 0,
        "code": "",
        "message": "",
    }
    # Ended by notifications, not by a GetTask per task.
    assert imm.get_task_calls() - gets_before < N // 4
    assert len(json.dumps(trigger(imm).serialize()[1])) < 400


async def test_a_restarted_trigger_finds_the_batch_again_and_misses_nothing(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_ids = submit(imm)
    first = asyncio.ensure_future(run_trigger(trigger(imm), timeout=30))
    await asyncio.sleep(1.0)
    finish_all(imm, task_ids[: N // 2])
    await asyncio.sleep(0.3)
    first.cancel()  # the triggerer dies
    await asyncio.gather(first, return_exceptions=True)
    finish_all(imm, task_ids[N // 2 : -1])  # ended while no triggerer ran: notifications wait or are lost
    classpath, kwargs = trigger(imm).serialize()
    assert classpath.endswith("ImmBatchCompletedTrigger")
    restarted = asyncio.ensure_future(run_trigger(ImmBatchCompletedTrigger(**kwargs), timeout=30))
    await asyncio.sleep(1.0)
    assert not restarted.done()
    imm.finish(task_ids[-1])
    event = await restarted
    assert (event["status"], event["found"], event["running"]) == ("ended", N, 0)
    assert imm.creates() == N


async def test_without_a_queue_the_trigger_lists_the_batch_instead_of_get_task(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_ids = submit(imm)
    waiting = asyncio.ensure_future(run_trigger(trigger(imm, mns_queue=None), timeout=30))
    await asyncio.sleep(1.0)
    finish_all(imm, task_ids)
    event = await waiting
    assert event["status"] == "ended"
    assert imm.get_task_calls() == 0
    assert imm.emulator.counters.get("imm", "ListTasks") < 20


async def test_the_deadline_reports_how_many_still_run(imm: Imm, registry: ListenerRegistry) -> None:
    import time

    task_ids = submit(imm)
    finish_all(imm, task_ids[:10])
    event = await run_trigger(trigger(imm, deadline=time.time() + 1.5), timeout=30)
    assert (event["status"], event["found"], event["running"], event["code"]) == (
        "timeout",
        N,
        N - 10,
        "DeadlineExceeded",
    )
