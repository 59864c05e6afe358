"""The shared listener under MNS flow control: ``QpsLimitExceeded`` is backed off like any MNS error,
and the notification still wakes its trigger."""

from __future__ import annotations

from airflow_provider_imm.triggers.mns_listener import ListenerRegistry
from tests.emulated_imm import Imm
from tests.triggers.conftest import eventually, start_triggers


async def test_a_throttled_receive_is_backed_off_and_the_notification_still_arrives(
    imm: Imm, registry: ListenerRegistry
) -> None:
    # One receive every 3 s, where the listener asks again after each 1 s long poll.
    imm.emulator.set_rates("mns", {"ReceiveMessage": 1 / 3, "BatchReceiveMessage": 1 / 3})
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    throttled = imm.emulator.counters.snapshot

    await eventually(lambda: throttled().get("mns-throttled:BatchReceiveMessage", 0) >= 2)
    imm.finish(task_id)
    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "notification")
    assert registry.listeners[0].stats.errors >= 2
