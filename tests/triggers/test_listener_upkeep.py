"""The listener's deletes failing (e.g. a RAM policy without mns:BatchDeleteMessage) are visible."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_imm.triggers.mns_listener import ListenerRegistry
from tests.emulated_imm import Imm
from tests.triggers.conftest import eventually, start_triggers

LOGGER = "airflow_provider_imm.triggers.mns_listener"


async def test_a_failing_delete_warns_once_and_keeps_the_message(
    imm: Imm, registry: ListenerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    imm.emulator.faults.fail_mns(1, action="BatchDeleteMessage", status=403, code="AccessDenied")
    first, second = await imm.create_task(duration=None), await imm.create_task(duration=None)
    running = await start_triggers(imm, registry, imm.trigger(first), imm.trigger(second))

    imm.finish(first)
    first_event = await running[0]
    await eventually(lambda: imm.emulator.counters.get("mns", "BatchDeleteMessage") == 1)
    imm.finish(second)
    second_event = await running[1]
    await eventually(lambda: imm.emulator.counters.get("mns", "BatchDeleteMessage") == 2)

    assert [(e["task_id"], e["status"], e["source"]) for e in (first_event, second_event)] == [
        (first, "succeeded", "notification"),
        (second, "succeeded", "notification"),
    ]
    # The refused delete left the first notification in the queue (in flight, it comes back when
    # its visibility timeout ends and is then deleted as a duplicate); the second one is gone.
    assert imm.queue_messages() == 1
    records = [r for r in caplog.records if r.name == LOGGER]
    failed = [r.getMessage() for r in records if r.levelno == logging.WARNING and "failed" in r.getMessage()]
    assert len(failed) == 1
    assert "BatchDeleteMessage failed (AccessDenied" in failed[0]
    assert any("BatchDeleteMessage works again" in r.getMessage() for r in records)
