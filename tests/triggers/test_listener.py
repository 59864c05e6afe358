"""The shared MNS listener: one loop per queue, and what it does with every kind of message."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import random
import threading
import time
from typing import Any

import pytest

from airflow_provider_imm.triggers.mns_listener import ListenerKey, ListenerRegistry
from tests.emulated_imm import Imm
from tests.triggers.conftest import FAST, eventually, start_triggers

LISTENER_THREAD = "imm-mns-listener"


def listener_threads() -> int:
    return sum(t.name.startswith(LISTENER_THREAD) for t in threading.enumerate())


async def test_many_triggers_share_one_receive_loop_and_thread(imm: Imm, registry: ListenerRegistry) -> None:
    task_ids = [await imm.create_task(duration=None) for _ in range(40)]
    threads_seen: list[int] = []

    async def sample_threads() -> None:
        while True:
            threads_seen.append(listener_threads())
            await asyncio.sleep(0.05)

    sampler = asyncio.ensure_future(sample_threads())
    running = await start_triggers(imm, registry, *(imm.trigger(t) for t in task_ids))
    for task_id in random.sample(task_ids, len(task_ids)):  # they end in any order, over about a second
        imm.finish(task_id)
        await asyncio.sleep(random.uniform(0.0, 0.05))
    events = await asyncio.gather(*running)
    sampler.cancel()

    assert {e["status"] for e in events} == {"succeeded"}
    assert {e["source"] for e in events} == {"notification"}
    assert sorted(e["task_id"] for e in events) == sorted(task_ids)
    (listener,) = registry.listeners
    assert listener.stats.loops_started == 1
    assert max(threads_seen) == 1
    # Their first checks were batched by the shared reconciler: far fewer IMM calls than triggers.
    assert imm.emulator.counters.total("imm") - imm.creates() < len(task_ids) / 4
    # Batched: far fewer MNS requests than one receive and one delete per notification.
    assert imm.emulator.counters.total("mns") < len(task_ids)
    await eventually(lambda: imm.queue_messages() == 0)


async def test_the_loop_stops_when_nobody_waits_and_starts_again(
    imm: Imm, registry: ListenerRegistry
) -> None:
    async def one_task() -> dict[str, Any]:
        task_id = await imm.create_task(duration=None)
        (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
        imm.finish(task_id)
        return await running

    first = await one_task()
    (listener,) = registry.listeners
    await eventually(lambda: not listener.running and listener_threads() == 0, timeout=3)
    receives = imm.emulator.counters.get("mns", "BatchReceiveMessage")
    await asyncio.sleep(1.5)
    assert imm.emulator.counters.get("mns", "BatchReceiveMessage") == receives  # idle: no polling

    second = await one_task()

    assert (first["source"], second["source"]) == ("notification", "notification")
    assert registry.listeners == [listener]
    assert listener.stats.loops_started == 2


async def test_duplicate_notifications_are_deleted_at_once(imm: Imm, registry: ListenerRegistry) -> None:
    other = await imm.create_task(duration=None)  # someone else keeps the loop running meanwhile
    (other_running,) = await start_triggers(imm, registry, imm.trigger(other))
    imm.emulator.faults.duplicate_notifications(1)
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    imm.finish(task_id)

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "notification")
    stats = registry.listeners[0].stats
    await eventually(lambda: stats.delivered + stats.duplicates == 2, timeout=1.5)
    await eventually(lambda: imm.queue_messages() == 0, timeout=1.5)
    assert stats.dropped == 0 and stats.returned == 0  # not left to the grace period
    imm.finish(other)
    assert (await other_running)["source"] == "notification"


async def test_foreign_and_unreadable_messages_go_back_then_expire_without_disturbing_anyone(
    imm: Imm, registry: ListenerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_imm.triggers.mns_listener")
    waiting = await imm.create_task(duration=None)  # keeps the loop running until the end
    other = {"TaskId": "OfficeConversion-someone-else", "Status": "Succeeded", "ProjectName": "p"}
    foreign = [
        "hello, not JSON",
        json.dumps({"event": "order-shipped", "id": 7}),
        '{"id": "x", "source": "acs.imm", "content": "{\\"TaskId\\": ',  # truncated
        json.dumps(other),  # an IMM notification nobody here waits for
    ]
    (running,) = await start_triggers(imm, registry, imm.trigger(waiting))
    for body in foreign:
        imm.publish(body)
    stats = registry.listeners[0].stats
    await eventually(lambda: stats.returned >= len(foreign))  # all seen once before ours ends
    ours = await imm.create_task(duration=None)
    (ours_running,) = await start_triggers(imm, registry, imm.trigger(ours))
    imm.finish(ours)

    event = await ours_running

    assert (event["status"], event["source"]) == ("succeeded", "notification")
    assert imm.queue_messages() >= len(foreign) - 1  # given back, not deleted on sight
    assert stats.returned >= len(foreign)
    # Past the grace period they are deleted; the unreadable ones were logged once each.
    await eventually(lambda: stats.dropped == len(foreign), timeout=FAST.orphan_grace + 3)
    imm.finish(waiting)
    assert (await running)["source"] == "notification"
    await eventually(lambda: imm.queue_messages() == 0, timeout=1.5)
    unreadable = [r for r in caplog.records if "is not an IMM task notification" in r.getMessage()]
    assert len(unreadable) == 3
    assert stats.unreadable > 3  # received more than once each, logged once each


async def test_a_damaged_notification_is_made_up_for_by_reconciliation(
    imm: Imm, registry: ListenerRegistry
) -> None:
    imm.emulator.faults.corrupt_notifications(1)
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id, reconcile_interval=1.0))
    imm.finish(task_id)

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "list_tasks")
    assert registry.listeners[0].stats.unreadable >= 1


async def test_a_base64_notification_is_understood(imm: Imm, registry: ListenerRegistry) -> None:
    imm.emulator.faults.base64_notifications(1)
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    imm.finish(task_id)

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "notification")


async def test_mns_failing_for_a_while_is_backed_off_and_logged_once(
    imm: Imm, registry: ListenerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="airflow_provider_imm.triggers.mns_listener")
    imm.emulator.faults.fail_mns(5)
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    imm.finish(task_id)

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "notification")
    assert registry.listeners[0].stats.errors == 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("receive failed" in m for m in warnings) == 1
    assert sum("receiving again after 5 failures" in m for m in warnings) == 1


async def test_while_mns_is_down_triggers_finish_through_reconciliation(
    imm: Imm, registry: ListenerRegistry
) -> None:
    imm.emulator.faults.fail_mns(10_000)
    task_ids = [await imm.create_task(duration=None) for _ in range(3)]
    running = await start_triggers(imm, registry, *(imm.trigger(t, reconcile_interval=0.6) for t in task_ids))
    for task_id in task_ids:
        imm.finish(task_id)

    events = await asyncio.gather(*running)

    assert [(e["status"], e["source"]) for e in events] == [("succeeded", "list_tasks")] * 3
    imm.emulator.faults.clear()


def test_two_triggerer_processes_on_one_queue_lose_nothing(imm: Imm) -> None:
    """Two event loops in two threads stand for two triggerers (an HA deployment)."""
    # A notification meant for the other triggerer goes back visible at once. Hidden for FAST's second,
    # both loops would return their wrong message and poll again in step, and the emulator, handing a
    # message to the receiver that has waited longest, would give each the same one until the grace.
    settings = dataclasses.replace(FAST, orphan_max_hidden=0)
    results: dict[str, list[dict[str, Any]]] = {}
    stats: dict[str, Any] = {}
    count = 12

    async def triggerer(name: str) -> None:
        registry = ListenerRegistry.install(settings)
        try:
            task_ids = [await imm.create_task(duration=None) for _ in range(count)]
            triggers = [imm.trigger(t) for t in task_ids]
            # Both triggerers wait for all their tasks before any ends.
            running = await start_triggers(imm, registry, *triggers, timeout=20)
            for task_id in random.sample(task_ids, count):
                imm.finish(task_id)
                await asyncio.sleep(random.uniform(0.0, 0.1))
            results[name] = list(await asyncio.gather(*running))
            (listener,) = registry.listeners
            stats[name] = listener.stats
        finally:
            await registry.aclose()

    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="triggerer") as pool:
        done = [pool.submit(asyncio.run, triggerer(name)) for name in ("a", "b")]
        for future in done:
            future.result(timeout=40)  # raises what failed in that triggerer

    assert set(results) == {"a", "b"}
    for events in results.values():
        assert len(events) == 12
        # Every task ended through its own notification: none was lost to the other triggerer.
        assert {(e["status"], e["source"]) for e in events} == {("succeeded", "notification")}
    assert stats["a"].delivered + stats["b"].delivered == 24
    assert imm.queue_messages() == 0


def test_the_listener_key_names_the_queue_whatever_the_endpoint_s_trailing_slash() -> None:
    a = ListenerKey.build("http://127.0.0.1:1/", "q", "identity")
    b = ListenerKey.build("http://127.0.0.1:1", "q", "identity")

    assert a == b and a != ListenerKey.build("http://127.0.0.1:1", "q", "other identity")
    assert str(a) == "http://127.0.0.1:1/queues/q"


def test_time_is_spent_waiting_not_spinning(imm: Imm) -> None:
    """An idle listener long-polls: a handful of receives over seconds, not a busy loop."""

    async def main() -> int:
        registry = ListenerRegistry.install(FAST)
        try:
            task_id = await imm.create_task(duration=None)
            started = time.monotonic()
            (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
            await asyncio.sleep(2.5)  # the time spent waiting, measured
            imm.finish(task_id)
            event = await running
            assert event["source"] == "notification"
            assert time.monotonic() - started >= 2.0
            return registry.listeners[0].stats.receives
        finally:
            await registry.aclose()

    receives = asyncio.run(main())

    assert receives <= 5  # one per wait_seconds (1 s) plus the one that got the notification
