"""The shared RocketMQ consumer against the emulator, through rocketmq-python-client: triggers wake
on their notification, two triggerers sharing a consumer group lose nothing and duplicate nothing."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable

from alibabacloud_imm20200930 import models

from airflow_provider_imm.emulator import DEFAULT_PROJECT
from airflow_provider_imm.hooks.rocketmq import parse_rocketmq, simple_consumer_factory
from airflow_provider_imm.triggers.rocketmq_consumer import (
    ConsumerKey,
    ConsumerRegistry,
    ConsumerSettings,
    RocketMqConsumer,
)
from tests.emulated_imm import Imm, run_trigger
from tests.rocketmq_channel import ROCKETMQ_GROUP, ROCKETMQ_TOPIC, rocketmq_connection, rocketmq_extras

FAST = ConsumerSettings(
    await_seconds=1, invisible_seconds=10, receive_pause=0.05, orphan_max_hidden=1, backoff_initial=0.1
)
DOC = "oss://docs/in/report.docx"


def consumer(imm: Imm) -> RocketMqConsumer:
    settings = parse_rocketmq("t", rocketmq_extras(imm.emulator), (None, None))
    assert settings is not None
    key = ConsumerKey(settings.endpoint, settings.topic, settings.group, settings.identity)
    return RocketMqConsumer(key, simple_consumer_factory(settings, FAST.await_seconds), FAST)


async def create_task(imm: Imm, duration: float) -> str:
    request = models.CreateOfficeConversionTaskRequest(
        project_name=DEFAULT_PROJECT,
        source_uri=DOC,
        target_type="pdf",
        target_uri="oss://docs/out/{barename}.pdf",
        notification=models.Notification(
            rocket_mq=models.RocketMQ(
                instance_id=imm.emulator.rocketmq.instance_id, topic_name=ROCKETMQ_TOPIC
            )
        ),
        user_data=json.dumps({"imm-emulator": {"duration": duration}}),
    )
    response = await imm.client.create_office_conversion_task_async(request)
    return str(response.body.task_id)


def backlog(imm: Imm) -> int:
    store = imm.emulator.rocketmq
    return imm.emulator.call(store.backlog, ROCKETMQ_GROUP)


async def test_two_triggerers_sharing_a_group_lose_nothing_and_duplicate_nothing(imm: Imm) -> None:
    rocketmq_connection(imm)
    imm.put(DOC)
    first, second = consumer(imm), consumer(imm)
    task_ids = [await create_task(imm, 1.0) for _ in range(8)]
    registrations = [
        (first if i % 2 == 0 else second).register(task_id) for i, task_id in enumerate(task_ids)
    ]
    try:
        await until(lambda: not any(r.notifications.empty() for r in registrations), 30)
        await asyncio.sleep(1.5)  # time for a duplicate to show up, were there one
        got = [[n.task_id for n in _drain(r.notifications)] for r in registrations]
        assert got == [[task_id] for task_id in task_ids]
        assert first.stats.delivered + second.stats.delivered == 8
        for registration in registrations:
            registration.close(finished=True)
        await until(lambda: backlog(imm) == 0, 10)
        assert backlog(imm) == 0  # everything handed over was acked; nothing left for anyone
    finally:
        await asyncio.gather(first.aclose(), second.aclose())
    assert not [t.name for t in threading.enumerate() if t.name.startswith("imm-rocketmq")]


async def test_the_trigger_wakes_on_the_rocketmq_notification(imm: Imm) -> None:
    imm.conn_id = rocketmq_connection(imm)
    imm.put(DOC)
    registry = ConsumerRegistry.install(FAST)
    try:
        task_id = await create_task(imm, 0.5)
        event = await run_trigger(
            imm.trigger(task_id, mns_queue=None, rocketmq_topic=ROCKETMQ_TOPIC, reconcile_interval=300.0), 20
        )
        assert event["status"] == "succeeded" and event["source"] == "notification"
        assert [c.key.group for c in registry.consumers] == [ROCKETMQ_GROUP]
    finally:
        await registry.aclose()


async def until(condition: Callable[[], bool], seconds: float) -> None:
    """Return once ``condition`` holds, or after ``seconds`` (the assertion after it then fails)."""
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)


def _drain(queue: asyncio.Queue) -> list:  # type: ignore[type-arg]
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
