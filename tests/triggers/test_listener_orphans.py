"""A foreign message on a queue with a short visibility timeout, received again and again."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from mns.mns_exception import MNSServerException
from mns.queue import Message, Queue, QueueMeta

from airflow_provider_imm.triggers.mns_listener import LEAVE, ListenerRegistry, orphan_hiding
from tests.emulated_imm import QUEUE, Imm
from tests.triggers.conftest import FAST, eventually, start_triggers
from tests.triggers.test_listener_flood import foreign_notification

#: Production's grace and hiding cap.
LISTENER_SETTINGS = dataclasses.replace(FAST, orphan_grace=600.0, orphan_max_hidden=30)
RECEIVES = 80


def wake(queue: Queue) -> None:
    """A peek makes the emulator apply the clock's jump and hand what is due to the waiting poll."""
    with contextlib.suppress(MNSServerException):  # MessageNotExist: the poll has it already
        queue.peek_message()


def seconds_hidden(imm: Imm) -> list[float]:
    """How long each message of the queue stays hidden from now (on the emulator's loop)."""
    now = imm.emulator.clock.time()
    return [m.next_visible_time - now for m in imm.emulator.mns.store.queue(QUEUE).messages()]


async def test_a_foreign_message_is_kept_until_its_grace_however_often_it_is_received(imm: Imm) -> None:
    """VisibilityTimeout=2: each time the emulated clock jumps past any hiding, the message comes back
    and is received again; after 80 receives, within seconds of real time, it must still be there."""
    queue = imm.account.get_queue(QUEUE)
    meta = QueueMeta()
    meta.set_visibilitytimeout(2)
    queue.set_attributes(meta)
    registry = ListenerRegistry.install(LISTENER_SETTINGS)
    try:
        task_id = await imm.create_task(duration=None)
        (running,) = await start_triggers(imm, registry, imm.trigger(task_id), timeout=120)
        (listener,) = registry.listeners
        stats = listener.stats
        queue.send_message(Message(foreign_notification(0)))

        def handled() -> bool:
            return stats.received > before and stats.left + stats.returned + stats.dropped >= stats.received

        # Given back at once the first time, received again and left hidden (2 s) the second.
        before = 0
        await eventually(lambda: stats.received >= 2 and handled())
        while stats.received < RECEIVES and not stats.dropped:
            before = stats.received
            imm.emulator.clock.advance(31)  # past the longest hiding (orphan_max_hidden=30)
            await asyncio.to_thread(wake, queue)
            try:
                await eventually(handled, timeout=10)
            except AssertionError:
                raise AssertionError(f"{stats} {before}") from None
        hidden_for = await asyncio.to_thread(imm.emulator.call, seconds_hidden, imm)

        imm.finish(task_id)
        event = await running
    finally:
        await registry.aclose()

    assert stats.dropped == 0, f"deleted after {stats.received} receives, long before its 600 s grace"
    assert imm.queue_messages() == 1
    # Backed off to the cap (jittered down to half of it), not back every 2 s.
    assert hidden_for and hidden_for[0] >= 14, hidden_for
    assert event["source"] == "notification"


@settings(max_examples=300, deadline=None)
@given(
    dequeue_count=st.integers(1, 10_000),
    visibility=st.none() | st.floats(0.5, 43200),
    cap=st.integers(0, 3600),
    low=st.booleans(),
)
def test_orphan_hiding_backs_off_and_leaves_only_to_a_timeout_as_long_as_the_backoff(
    dequeue_count: int, visibility: float | None, cap: int, low: bool
) -> None:
    backoff = min(cap, 2 ** min(dequeue_count - 1, 16) - 1)
    hidden = orphan_hiding(dequeue_count, visibility, cap, lambda a, b: a if low else b)
    if hidden == LEAVE:
        assert visibility is not None and backoff <= visibility <= cap and dequeue_count > 1
    else:
        assert backoff - backoff // 2 <= hidden <= backoff
    assert (hidden == 0) == (dequeue_count == 1 or cap == 0)
