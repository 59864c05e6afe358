"""The notification an IMM task publishes when it ends: its body, its delivery to MNS, and injected faults."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client

from airflow_provider_imm.catalog import OPERATIONS
from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from airflow_provider_imm.emulator.imm_notification import build_notification_body
from airflow_provider_imm.emulator.imm_tasks import Behaviour, TaskRecord

TOPIC, QUEUE = "imm-events", "airflow"
PHOTO = "oss://in-bucket/photo.jpg"


def record(**changes: object) -> TaskRecord:
    fields: dict[str, object] = {
        "task_id": "ImageModeration-6c1d",
        "op": OPERATIONS["CreateImageModerationTask"],
        "project": "test-project",
        "event_id": "25E-1uBJUMOshisffTNk8Nr3GIjAbcd",
        "request_id": "F9F8E0AB-0000-4000-8000-000000000001",
        "request": {"ProjectName": "test-project", "SourceURI": PHOTO},
        "tags": {"k": "v"},
        "user_data": '{"run": 7}',
        "topic": TOPIC,
        "behaviour": Behaviour(0.1),
        "start_time": 1724137387.36,
        "started_at": 0.0,
        "status": "Succeeded",
        "end_time": 1724137388.57,
    }
    fields.update(changes)
    return TaskRecord(**fields)  # type: ignore[arg-type]


def test_body_is_the_2020_envelope_with_content_as_a_string() -> None:
    body = json.loads(build_notification_body(record(), region="cn-beijing", account_id="1234567890"))

    assert body["id"] == "25E-1uBJUMOshisffTNk8Nr3GIjAbcd" and body["source"] == "acs.imm"
    assert body["type"] == "imm:Task:ImageModeration"
    assert body["subject"] == "acs:imm:cn-beijing:1234567890:test-project/imm:Task:ImageModeration"
    assert body["time"] == "1724137388570"
    content = json.loads(body["content"])
    assert content == {
        "ProjectName": "test-project",
        "DatasetName": "",
        "RequestId": "F9F8E0AB-0000-4000-8000-000000000001",
        "StartTime": "2024-08-20T07:03:07.36Z",
        "EndTime": "2024-08-20T07:03:08.57Z",
        "UserData": '{"run": 7}',
        "TaskType": "ImageModeration",
        "TaskId": "ImageModeration-6c1d",
        "Status": "Succeeded",
        "Code": "",
        "Message": "",
        "EventSourceId": "",
        "Sources": [{"URI": PHOTO}],
        "Targets": [],
    }


def test_body_of_a_failed_task_carries_code_message_and_outputs() -> None:
    failed = record(status="Failed", code="InvalidDocument", message="bad page 3", outputs=["oss://o/x.pdf"])

    content = json.loads(json.loads(build_notification_body(failed, region="r", account_id="a"))["content"])

    assert (content["Status"], content["Code"], content["Message"]) == (
        "Failed",
        "InvalidDocument",
        "bad page 3",
    )
    assert content["Targets"] == [{"URI": "oss://o/x.pdf"}]


def test_a_running_task_has_no_notification() -> None:
    with pytest.raises(ValueError, match="has not ended"):
        build_notification_body(record(status="Running", end_time=None), region="r", account_id="a")


@pytest.fixture
def client(emulator: ImmEmulator, imm_client: Client) -> Client:
    emulator.oss.put("in-bucket", "photo.jpg", b"jpeg")
    emulator.mns.create_topic(TOPIC)
    emulator.mns.create_queue(QUEUE)
    emulator.mns.subscribe(TOPIC, "sub", QUEUE, content_format="SIMPLIFIED")
    return imm_client


def submit(client: Client, *, topic: str | None = TOPIC) -> str:
    notification = models.Notification(mns=models.MNS(topic_name=topic)) if topic else None
    request = models.CreateImageModerationTaskRequest(
        project_name=DEFAULT_PROJECT, source_uri=PHOTO, notification=notification, user_data=str(uuid.uuid4())
    )
    return client.create_image_moderation_task(request).body.task_id


def bodies(emulator: ImmEmulator, *, count: int, within: float = 3.0) -> list[str]:
    """The queue's message bodies once ``count`` have arrived (or ``within`` seconds have passed)."""
    deadline = time.monotonic() + within
    while True:
        messages = [m.body for m in emulator.mns.queue_messages(QUEUE)]
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.02)


def ended(emulator: ImmEmulator, task_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 3
    while True:
        task = next(t for t in emulator.imm.tasks() if t["TaskId"] == task_id)
        if task["Status"] != "Running":
            return task
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_an_ended_task_publishes_its_notification_to_the_topic(emulator: ImmEmulator, client: Client) -> None:
    task_id = submit(client)

    (message,) = bodies(emulator, count=1)

    content = json.loads(json.loads(message)["content"])
    assert (content["TaskId"], content["Status"], content["ProjectName"]) == (
        task_id,
        "Succeeded",
        DEFAULT_PROJECT,
    )
    task = ended(emulator, task_id)
    assert json.loads(message)["id"] == task["EventId"] and content["EndTime"] == task["EndTime"]


def test_a_task_without_notification_publishes_nothing(emulator: ImmEmulator, client: Client) -> None:
    ended(emulator, submit(client, topic=None))
    with_topic = submit(client)

    assert [json.loads(json.loads(b)["content"])["TaskId"] for b in bodies(emulator, count=1)] == [with_topic]


def test_dropped_notifications_never_arrive(emulator: ImmEmulator, client: Client) -> None:
    emulator.faults.drop_notifications(1)
    ended(emulator, submit(client))
    kept = submit(client)

    assert [json.loads(json.loads(b)["content"])["TaskId"] for b in bodies(emulator, count=1)] == [kept]


def test_duplicated_notifications_arrive_twice(emulator: ImmEmulator, client: Client) -> None:
    emulator.faults.duplicate_notifications(1)
    submit(client)

    first, second = bodies(emulator, count=2)

    assert first == second


def test_delayed_notifications_arrive_late(emulator: ImmEmulator, client: Client) -> None:
    emulator.faults.delay_notifications(1, seconds=0.5)
    task_id = submit(client)
    ended(emulator, task_id)

    assert bodies(emulator, count=1, within=0.2) == []
    (message,) = bodies(emulator, count=1)
    assert json.loads(json.loads(message)["content"])["TaskId"] == task_id


def test_corrupt_notifications_are_truncated_json(emulator: ImmEmulator, client: Client) -> None:
    emulator.faults.corrupt_notifications(1)
    submit(client)
    submit(client)

    corrupt, intact = bodies(emulator, count=2)

    with pytest.raises(json.JSONDecodeError):
        json.loads(corrupt)
    assert corrupt.startswith('{"id":"') and '"source":"acs.imm"' in corrupt
    assert json.loads(intact)["source"] == "acs.imm" and len(corrupt) < len(intact)


def test_base64_notifications_decode_to_the_body(emulator: ImmEmulator, client: Client) -> None:
    emulator.faults.base64_notifications(1)
    task_id = submit(client)

    (message,) = bodies(emulator, count=1)

    assert json.loads(json.loads(base64.b64decode(message))["content"])["TaskId"] == task_id
