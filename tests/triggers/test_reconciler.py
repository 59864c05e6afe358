"""Shared reconciliation against the emulator: triggers run as the triggerer runs them, through the
official SDK and the hook; the emulator drops, delays or throttles what a test asks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_imm.triggers.mns_listener import ListenerRegistry
from airflow_provider_imm.triggers.reconciler import Reconciler, ReconcilerRegistry, ReconcileSettings
from tests.emulated_imm import Imm, run_trigger
from tests.triggers.conftest import eventually, start_triggers

#: Rounds every second: "within one round" is then a second or two.
INTERVAL = 1.0


def list_calls(imm: Imm) -> int:
    return imm.emulator.counters.get("imm", "ListTasks")


def reconciler() -> Reconciler:
    (only,) = ReconcilerRegistry.current().reconcilers
    return only


async def wait_without_notification(
    imm: Imm, registry: ListenerRegistry
) -> tuple[str, asyncio.Future[dict[str, Any]]]:
    """A trigger waiting, past its first check, for a task whose notification will be dropped."""
    imm.emulator.faults.drop_notifications(1)
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id, reconcile_interval=INTERVAL))
    return task_id, running


async def test_a_task_whose_notification_was_dropped_settles_within_one_round(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id, running = await wait_without_notification(imm, registry)
    imm.finish(task_id)
    finished = time.monotonic()

    event = await running

    assert (event["status"], event["source"], event["task_id"]) == ("succeeded", "list_tasks", task_id)
    assert event["end_time"] is not None
    assert time.monotonic() - finished < INTERVAL + 1.5
    assert imm.get_task_calls() == 1  # the first check; the end came from a listing


@pytest.mark.parametrize("skew", [300.0, -300.0], ids=["imm-5-min-ahead", "imm-5-min-behind"])
async def test_clock_skew_of_five_minutes_loses_no_task(
    imm: Imm, registry: ListenerRegistry, skew: float
) -> None:
    imm.emulator.clock.advance(skew)  # IMM's clock (EndTime, EndTimeRange) is off from this machine's
    imm.emulator.faults.drop_notifications(3)
    task_ids = [await imm.create_task(duration=None) for _ in range(3)]
    running = await start_triggers(
        imm, registry, *(imm.trigger(t, reconcile_interval=INTERVAL) for t in task_ids)
    )
    for task_id in task_ids:
        imm.finish(task_id)
    finished = time.monotonic()

    events = await asyncio.gather(*running)

    assert [(e["status"], e["source"]) for e in events] == [("succeeded", "list_tasks")] * 3
    assert time.monotonic() - finished < INTERVAL + 1.5
    assert imm.get_task_calls() == 3


async def test_pages_changing_between_calls_lose_no_task(imm: Imm, registry: ListenerRegistry) -> None:
    # 250 tasks of someone else ended lately: every round pages through three pages of 100.
    others = [await imm.create_task(duration=None) for _ in range(250)]
    for task_id in others:
        imm.finish(task_id)
    imm.emulator.faults.drop_notifications(1000)
    waited = [await imm.create_task(duration=None) for _ in range(12)]
    running = await start_triggers(
        imm, registry, *(imm.trigger(t, reconcile_interval=INTERVAL) for t in waited)
    )
    # Each page answers late: tasks end while a round is between its pages, shifting the later ones.
    imm.emulator.faults.imm_latency = 0.15
    for task_id in waited:
        imm.finish(task_id)
        await asyncio.sleep(0.1)
    finished = time.monotonic()

    events = await asyncio.gather(*running)

    assert sorted(e["task_id"] for e in events) == sorted(waited)
    assert {(e["status"], e["source"]) for e in events} == {("succeeded", "list_tasks")}
    assert time.monotonic() - finished < 2 * INTERVAL + 3.0
    assert reconciler().waiting == 0


async def test_a_notification_arriving_during_the_round_gives_one_event_per_trigger(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id = await imm.create_task(duration=None)
    triggers = [imm.trigger(task_id, reconcile_interval=INTERVAL) for _ in range(2)]
    running = await start_triggers(imm, registry, *triggers)
    imm.emulator.faults.imm_latency = 0.6  # the round's ListTasks is answered after the notification
    calls = list_calls(imm)
    await eventually(lambda: list_calls(imm) > calls, timeout=5)  # a round is under way
    imm.finish(task_id)  # its notification is delivered while IMM holds the listing

    # run_trigger asserts each trigger yielded exactly one event.
    events = await asyncio.gather(*running)
    await asyncio.sleep(1.0)  # the listing's answer arrives, after the waits ended

    assert [e["status"] for e in events] == ["succeeded", "succeeded"]
    assert {e["source"] for e in events} <= {"notification", "list_tasks"}
    assert reconciler().waiting == 0
    await eventually(lambda: imm.queue_messages() == 0)


async def test_a_task_that_ended_before_the_wait_started(imm: Imm, registry: ListenerRegistry) -> None:
    imm.emulator.faults.drop_notifications(1)
    task_id = await imm.create_task(duration=0.0)
    await eventually(lambda: any(t["TaskId"] == task_id and t["Status"] == "Succeeded" for t in imm.tasks()))
    imm.emulator.counters.reset()

    event = await run_trigger(imm.trigger(task_id, reconcile_interval=60.0))

    assert (event["status"], event["source"]) == ("succeeded", "get_task")
    assert imm.emulator.counters.total("imm") == 1  # one GetTask: the first check


async def test_a_restart_checks_many_waits_with_a_few_listings(imm: Imm, registry: ListenerRegistry) -> None:
    """Waits re-created after a triggerer restart: most tasks still run, some ended meanwhile."""
    imm.emulator.faults.drop_notifications(5)
    ended = [await imm.create_task(duration=None) for _ in range(5)]
    for task_id in ended:
        imm.finish(task_id)
    still_running = [await imm.create_task(duration=None) for _ in range(25)]
    imm.emulator.counters.reset()

    running = [
        asyncio.ensure_future(run_trigger(imm.trigger(t, reconcile_interval=60.0), timeout=20))
        for t in ended + still_running
    ]
    done = await asyncio.gather(*running[:5])
    await eventually(lambda: reconciler().untried == 0 and not reconciler().busy)

    assert [(e["status"], e["source"]) for e in done] == [("succeeded", "list_tasks")] * 5
    assert imm.get_task_calls() == 0
    assert list_calls(imm) <= 3  # running tasks, ended tasks: a page each
    assert reconciler().waiting == 25
    for task in running[5:]:
        task.cancel()
    await asyncio.gather(*running[5:], return_exceptions=True)


async def test_throttled_rounds_back_off_without_failing_any_trigger(
    imm: Imm, registry: ListenerRegistry
) -> None:
    imm.emulator.faults.drop_notifications(2)
    task_ids = [await imm.create_task(duration=None) for _ in range(2)]
    running = await start_triggers(imm, registry, *(imm.trigger(t, reconcile_interval=0.5) for t in task_ids))
    calls = list_calls(imm)
    # Two rounds' worth of attempts (the hook tries five times per call): both rounds fail.
    imm.emulator.faults.throttle_imm(10)
    for task_id in task_ids:
        imm.finish(task_id)

    events = await asyncio.gather(*running)

    assert [(e["status"], e["source"]) for e in events] == [("succeeded", "list_tasks")] * 2
    assert reconciler().stats.failed_rounds == 2
    # Backed off: the two failed rounds and the good one, not a call per trigger or a tight loop.
    assert list_calls(imm) - calls == 11


async def test_where_listing_is_refused_each_trigger_checks_alone(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id, running = await wait_without_notification(imm, registry)
    # The credentials may not list tasks: the next call, the round's ListTasks, is refused for good.
    imm.emulator.faults.fail_imm(1, status=403, code="Forbidden.RAM")
    await eventually(lambda: reconciler().stats.failed_rounds == 0 and list_calls(imm) >= 1, timeout=5)
    imm.finish(task_id)

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "get_task")
    assert imm.get_task_calls() >= 2  # the first check, then its own


async def test_a_service_refusing_the_sort_by_end_time_is_listed_unsorted(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id, running = await wait_without_notification(imm, registry)
    imm.emulator.faults.fail_imm(1, status=400, code="InvalidParameter.Sort")  # the round's first listing
    imm.finish(task_id)

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "list_tasks")
    assert reconciler().stats.failed_rounds == 0


async def test_a_round_costs_calls_for_tasks_that_ended_not_for_tasks_that_wait(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_ids = [await imm.create_task(duration=None) for _ in range(40)]
    running = await start_triggers(imm, registry, *(imm.trigger(t, reconcile_interval=0.3) for t in task_ids))
    first = list_calls(imm)
    rounds = reconciler().stats.rounds
    await asyncio.sleep(2.0)  # several rounds; nothing ends

    rounds = reconciler().stats.rounds - rounds
    assert rounds >= 3
    assert list_calls(imm) - first == rounds  # one page each: nothing ended in its window
    assert imm.get_task_calls() == 0  # 40 first checks made by one listing, none since
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


async def test_a_wait_its_rounds_cannot_see_is_checked_again_after_recheck_after(
    imm: Imm, registry: ListenerRegistry
) -> None:
    # IMM's clock is 5 minutes behind and the margin is none: no round's window holds the task's end.
    reconcilers = ReconcilerRegistry.install(
        ReconcileSettings(margin=0.0, recheck_after=2.0, first_check_delay=0.05)
    )
    try:
        imm.emulator.clock.advance(-300.0)
        task_id, running = await wait_without_notification(imm, registry)
        imm.finish(task_id)

        event = await running
    finally:
        await reconcilers.aclose()

    assert (event["status"], event["source"]) == ("succeeded", "get_task")
    assert imm.get_task_calls() == 2  # the first check, then the one after recheck_after
