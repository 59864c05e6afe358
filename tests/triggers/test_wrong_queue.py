"""A wrong ``mns_queue``: the triggerer says once what is wrong, how to fix it and how late tasks end."""

from __future__ import annotations

import asyncio
import logging

import pytest

from airflow_provider_imm.triggers.mns_listener import ListenerRegistry
from tests.emulated_imm import Imm
from tests.triggers.conftest import eventually, start_triggers


async def test_a_queue_that_does_not_exist_is_named_once_with_the_fix_and_the_delay(
    imm: Imm, registry: ListenerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    wrong = {"mns_queue": "no-such-queue", "reconcile_interval": 1.0}
    first = [await imm.create_task(duration=None) for _ in range(2)]
    running = await start_triggers(imm, registry, *(imm.trigger(t, **wrong) for t in first))
    for task_id in first:
        imm.finish(task_id)
    events = await asyncio.gather(*running)
    (listener,) = registry.listeners
    await eventually(lambda: not listener.running)
    # A later trigger on the same queue, while the queue still does not exist.
    later = await imm.create_task(duration=None)
    (later_running,) = await start_triggers(imm, registry, imm.trigger(later, **wrong))
    imm.finish(later)
    events.append(await later_running)

    assert [(e["status"], e["source"]) for e in events] == [("succeeded", "list_tasks")] * 3
    assert listener.stats.loops_started == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    about_queue = [m for m in warnings if "no-such-queue" in m]
    assert len(about_queue) == 1, about_queue
    (message,) = about_queue
    assert "does not exist" in message
    assert "'mns_queue'" in message and "imm-setup-notifications" in message
    assert "up to 1 s late" in message
