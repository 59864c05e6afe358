"""What the listener does with messages not for it: odd bodies never disturb it; how orphans go back."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_imm.triggers.mns_listener import ListenerKey, ListenerRegistry
from tests.emulated_imm import Imm
from tests.triggers.conftest import FAST, eventually, start_triggers

LOGGER = "airflow_provider_imm.triggers.mns_listener"
AWAITED = "OfficeConversion-awaited"


@dataclass
class Received:
    message_id: str
    receipt_handle: str
    body: Any
    dequeue_count: int = 1
    enqueue_time: int = field(default_factory=lambda: int(time.time() * 1000))
    first_dequeue_time: int = field(default_factory=lambda: int(time.time() * 1000))
    next_visible_time: int = field(default_factory=lambda: int(time.time() * 1000) + 30_000)


class FakeQueue:
    """MNS as the listener sees it, holding bodies MNS itself would refuse (over 64 KB)."""

    def __init__(self, bodies: Sequence[Any], **received: int) -> None:
        messages = [Received(f"m{n}", f"h{n}", body, **received) for n, body in enumerate(bodies)]
        self.batches = [messages[start : start + 16] for start in range(0, len(messages), 16)]
        self.deleted: list[str] = []
        self.returned: list[str] = []
        self.hidden: list[int] = []

    def receive(self, queue: str | None = None, *, wait_seconds: int, max_messages: int) -> list[Received]:
        if self.batches:
            return self.batches.pop(0)
        time.sleep(min(wait_seconds, 0.05))
        return []

    def delete(self, receipt_handles: Iterable[str], queue: str | None = None) -> list[str]:
        self.deleted.extend(receipt_handles)
        return []

    def change_visibility(
        self, receipt_handle: str, visibility_timeout: int, queue: str | None = None
    ) -> None:
        self.returned.append(receipt_handle)
        self.hidden.append(visibility_timeout)


def notification(task_id: str, **content: str) -> str:
    payload = {"TaskId": task_id, "TaskType": "OfficeConversion", "Status": "Succeeded", **content}
    return json.dumps(
        {"source": "acs.imm", "type": "imm:Task:OfficeConversion", "content": json.dumps(payload)}
    )


async def test_oversized_and_undecodable_bodies_are_given_back_and_the_awaited_one_arrives(
    registry: ListenerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    secret_marker = "do-not-log-this-body"
    bodies = [
        "{" * (1 << 20),  # 1 MB, nested past any recursion limit
        secret_marker + "x" * (1 << 20),  # 1 MB of text
        notification("OfficeConversion-someone-else", Message="m" * (1 << 20)),  # 1 MB, not ours
        b"\xff\xfe\x00garbage",  # bytes that are not UTF-8
        "\udcff\udcfe lone surrogates",  # what a lenient decoder leaves of such bytes
        base64.b64encode(b"\xff\xfe\xfd not utf-8").decode(),  # base64 of non-UTF-8 bytes
        notification(AWAITED),
    ]
    fake = FakeQueue(bodies)
    listener = registry.listener(ListenerKey.build("http://127.0.0.1:1", "q", "k"), lambda: fake)
    registration = listener.register(AWAITED)

    got = await asyncio.wait_for(registration.notifications.get(), 10)
    registration.close(finished=True)
    await eventually(lambda: not listener.running)

    assert got.task_id == AWAITED
    assert fake.deleted == ["h6"]  # the awaited one only: the others are left for their grace
    assert sorted(fake.returned) == [f"h{n}" for n in range(6)]
    assert listener.stats.dropped == 0
    assert secret_marker not in caplog.text
    assert max(len(r.getMessage()) for r in caplog.records) < 1000


async def test_unreadable_bodies_through_mns_disturb_no_trigger(imm: Imm, registry: ListenerRegistry) -> None:
    task_id = await imm.create_task(duration=None)
    (running,) = await start_triggers(imm, registry, imm.trigger(task_id))
    largest = "z" * (64 * 1024 - 1024)  # near MNS's 64 KB limit
    for body in (largest, base64.b64encode(b"\xff\xfe\xfd" * 1000).decode(), "<Notification><Message>"):
        imm.publish(body)
    imm.finish(task_id)

    event = await running

    assert (event["status"], event["source"]) == ("succeeded", "notification")
    stats = registry.listeners[0].stats
    assert stats.unreadable >= 3 and stats.dropped == 0
    # Kept for other consumers until the grace period; only the handed-over notification is deleted.
    await eventually(lambda: imm.queue_messages() == 3, timeout=1.5)


@pytest.mark.parametrize(
    ("dequeue_count", "visibility", "hidden"),
    [
        (1, 30, {0}),  # first receive: visible at once, for whoever wants it
        (5, 60, set(range(8, 16))),  # the queue hides longer than the cap: 15 s, jittered
        (5, 30, set()),  # the queue's own 30 s is within the cap: left to it, no request
    ],
)
async def test_orphans_are_hidden_jittered_or_left_to_the_queue(
    dequeue_count: int, visibility: int, hidden: set[int]
) -> None:
    now = int(time.time() * 1000)
    # On a first receive MNS sets NextVisibleTime = FirstDequeueTime + the queue's VisibilityTimeout.
    probe = Received("probe", "probe", "not IMM", 1, now, now, now + visibility * 1000)
    fake = FakeQueue(
        ["not an IMM notification"] * 160,
        dequeue_count=dequeue_count,
        next_visible_time=now + visibility * 1000,
    )
    fake.batches.insert(0, [probe])
    registry = ListenerRegistry.install(dataclasses.replace(FAST, orphan_max_hidden=30, orphan_grace=600.0))
    try:
        listener = registry.listener(ListenerKey.build("http://127.0.0.1:1", "q", "k"), lambda: fake)
        registration = listener.register(AWAITED)
        await eventually(lambda: not fake.batches)
        await eventually(lambda: listener.stats.returned + listener.stats.left == 161)
        registration.close()
    finally:
        await registry.aclose()

    seen = set(fake.hidden[1:])  # after the probe's
    if len(hidden) > 1:
        assert seen <= hidden and len(seen) > 1  # jittered: two triggerers do not re-poll in lock-step
    else:
        assert seen == hidden
    assert not fake.deleted
