"""Notifications are matched by TaskId: their ``type`` and even their TaskType may differ from GetTask's."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from alibabacloud_imm20200930 import models

from airflow_provider_imm.catalog import OPERATIONS
from airflow_provider_imm.emulator import DEFAULT_PROJECT
from airflow_provider_imm.triggers.mns_listener import ListenerRegistry
from tests.emulated_imm import Imm
from tests.minimal_requests import MINIMAL, put_sources
from tests.triggers.conftest import start_triggers


async def create_running(imm: Imm, action: str) -> str:
    """A task of ``action`` that runs until ended by hand (it never is here)."""
    op = OPERATIONS[action]
    fields: dict[str, Any] = {"ProjectName": DEFAULT_PROJECT, **MINIMAL[action].request}
    fields["UserData"] = json.dumps({"imm-emulator": {"duration": None}})
    request = getattr(models, op.request_model)().from_map(fields)
    response = await getattr(imm.client, f"{op.sdk_method}_async")(request)
    return str(response.body.task_id)


def notification(task_id: str, event_type: str, task_type: str, **content: str) -> str:
    payload = {
        "ProjectName": DEFAULT_PROJECT,
        "TaskType": task_type,
        "TaskId": task_id,
        "Status": "Succeeded",
    }
    payload.update(content)
    return json.dumps({"id": "e-1", "source": "acs.imm", "type": event_type, "content": json.dumps(payload)})


@pytest.mark.parametrize(
    ("action", "event_type", "notified_type"),
    [
        ("CreateFigureClusteringTask", "imm:Task:FigureClustering", "FaceClustering"),
        ("CreateCompressPointCloudTask", "imm:Task:PointCloudCompression", "PointCloudCompress"),
        # Its TaskType is unconfirmed: whatever IMM calls it, the TaskId decides.
        ("CreateFigureClustersMergingTask", "imm:Task:MergeFigureClusters", "MergeFigureClusters"),
    ],
)
async def test_a_notification_is_matched_by_task_id_whatever_its_type(
    imm: Imm,
    registry: ListenerRegistry,
    caplog: pytest.LogCaptureFixture,
    action: str,
    event_type: str,
    notified_type: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    put_sources(imm.emulator)
    task_id = await create_running(imm, action)
    task_type = OPERATIONS[action].task_type
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id, task_type=task_type))

    imm.publish(notification(task_id, event_type, notified_type))
    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "notification")
    assert (event["task_id"], event["task_type"]) == (task_id, task_type)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and task_id in r.getMessage()]


async def test_a_notification_from_another_project_is_still_ignored(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id, reconcile_interval=1.0))

    imm.publish(
        notification(task_id, "imm:Task:OfficeConversion", "OfficeConversion", ProjectName="p" * 5000)
    )
    imm.finish(task_id, status="Failed")
    event = await running

    # The other project's "Succeeded" did not count; the task's own end, "Failed", did.
    assert event["status"] == "failed"


async def test_a_huge_message_in_a_notification_is_cut_short_in_the_event(
    imm: Imm, registry: ListenerRegistry
) -> None:
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))

    imm.publish(notification(task_id, "imm:Task:OfficeConversion", "OfficeConversion", Message="m" * 60_000))
    event = await running

    assert event["source"] == "notification"
    assert 0 < len(event["message"]) <= 1000
