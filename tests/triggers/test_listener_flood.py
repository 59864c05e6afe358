"""A flood of messages that are not for this triggerer, ahead of the one it awaits."""

from __future__ import annotations

import dataclasses
import json
import time

from mns.queue import Message

from airflow_provider_imm.triggers.mns_listener import ListenerRegistry
from tests.emulated_imm import QUEUE, Imm
from tests.triggers.conftest import FAST, eventually, start_triggers

FLOOD = 2000
#: Production's grace and hiding cap: nothing here may be dropped, and hiding is as in production.
SETTINGS = dataclasses.replace(FAST, orphan_grace=600.0, orphan_max_hidden=30)
LISTENER_ACTIONS = ("BatchReceiveMessage", "ReceiveMessage", "ChangeMessageVisibility", "BatchDeleteMessage")


def foreign_notification(n: int) -> str:
    """An IMM notification for a task nobody in this triggerer waits for."""
    content = {"TaskId": f"OfficeConversion-elsewhere-{n}", "TaskType": "OfficeConversion"}
    content.update(ProjectName="someone-elses", Status="Succeeded", Code="", Message="")
    return json.dumps({"id": f"e{n}", "source": "acs.imm", "type": "imm:Task:OfficeConversion",
                       "content": json.dumps(content)})  # fmt: skip


def listener_requests(imm: Imm) -> int:
    return sum(imm.emulator.counters.get("mns", action) for action in LISTENER_ACTIONS)


async def test_a_flood_of_foreign_messages_costs_about_one_request_each_and_delays_nobody(
    imm: Imm,
) -> None:
    registry = ListenerRegistry.install(SETTINGS)
    try:
        task_id = await imm.create_task(duration=None)
        (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
        queue = imm.account.get_queue(QUEUE)
        for start in range(0, FLOOD, 16):
            queue.batch_send_message([Message(foreign_notification(n)) for n in range(start, start + 16)])
        imm.finish(task_id)  # its notification comes after the whole flood
        finished = time.monotonic()

        event = await running
        delay = time.monotonic() - finished
        (listener,) = registry.listeners
        await eventually(lambda: not listener.running, timeout=30)
    finally:
        await registry.aclose()

    assert (event["status"], event["source"]) == ("succeeded", "notification")
    assert delay < 10.0, f"the awaited notification took {delay:.1f} s"
    # Given back, never deleted: someone else may want them, and their grace has not passed.
    assert imm.queue_messages() == FLOOD
    assert listener.stats.dropped == 0
    requests = listener_requests(imm)
    assert requests <= 1.5 * FLOOD, f"{requests} MNS requests for {FLOOD} foreign messages"
