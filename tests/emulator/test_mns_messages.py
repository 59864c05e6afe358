"""Sending, receiving, peeking, deleting and hiding MNS messages through the unchanged SDK."""

from __future__ import annotations

import hashlib
import time

import pytest
from mns.mns_exception import MNSServerException
from mns.queue import Message, Queue, QueueMeta

from airflow_provider_imm.emulator import ImmEmulator
from tests.sdk_clients import mns_account_for


@pytest.fixture
def queue(emulator: ImmEmulator) -> Queue:
    """A queue with a 2 s visibility timeout, raw (not base64) bodies."""
    account = mns_account_for(emulator)
    queue = account.get_queue("jobs")
    queue.create(QueueMeta(vis_timeout=2))
    queue.set_encoding(False)
    return queue


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()


def test_send_then_receive_returns_every_field(emulator: ImmEmulator, queue: Queue) -> None:
    body = '{"TaskId": "t-1", "note": "<a & b>"}'
    sent = queue.send_message(Message(body))
    assert sent.message_body_md5 == md5(body)

    before = emulator.clock.time()
    got = queue.receive_message(0)

    assert (got.message_id, got.message_body, got.message_body_md5) == (sent.message_id, body, md5(body))
    assert got.dequeue_count == 1
    assert got.priority == 8
    assert got.receipt_handle
    assert abs(got.enqueue_time / 1000 - before) < 5
    assert abs(got.first_dequeue_time / 1000 - before) < 5
    assert got.next_visible_time / 1000 == pytest.approx(got.first_dequeue_time / 1000 + 2, abs=0.01)


def test_encoding_true_base64_encodes_on_send_and_decodes_on_receive(queue: Queue) -> None:
    queue.set_encoding(True)
    queue.send_message(Message("héllo"))

    got = queue.receive_message(0)

    assert got.message_body == "héllo".encode()


def test_receiving_from_an_empty_queue_answers_message_not_exist_after_the_wait(queue: Queue) -> None:
    started = time.monotonic()
    with pytest.raises(MNSServerException) as err:
        queue.receive_message(1)
    assert err.value.type == "MessageNotExist"
    assert 0.9 < time.monotonic() - started < 3


def test_without_waitseconds_the_queue_polling_wait_applies(emulator: ImmEmulator) -> None:
    account = mns_account_for(emulator)
    queue = account.get_queue("patient")
    queue.create(QueueMeta(polling_wait_sec=1))

    started = time.monotonic()
    with pytest.raises(MNSServerException):
        queue.receive_message()
    assert 0.9 < time.monotonic() - started < 3


@pytest.mark.parametrize(("size", "wait"), [(17, 0), (16, 31)])
def test_batch_size_and_wait_limits_are_enforced(queue: Queue, size: int, wait: int) -> None:
    with pytest.raises(MNSServerException) as err:
        queue.batch_receive_message(size, wait)
    assert err.value.type == "InvalidArgument"


def test_message_reappears_after_its_visibility_timeout(queue: Queue) -> None:
    queue.send_message(Message("again"))
    first = queue.receive_message(0)

    with pytest.raises(MNSServerException):
        queue.receive_message(0)  # in flight: invisible

    second = queue.receive_message(3)  # long poll until it is visible again
    assert second.message_id == first.message_id
    assert second.dequeue_count == 2
    assert second.first_dequeue_time == first.first_dequeue_time
    assert second.receipt_handle != first.receipt_handle

    with pytest.raises(MNSServerException) as err:
        queue.delete_message(first.receipt_handle)
    assert err.value.type == "MessageNotExist"
    queue.delete_message(second.receipt_handle)


def test_handle_expires_once_the_message_is_visible_again(emulator: ImmEmulator, queue: Queue) -> None:
    queue.send_message(Message("late delete"))
    got = queue.receive_message(0)

    emulator.clock.advance(3)

    with pytest.raises(MNSServerException) as err:
        queue.delete_message(got.receipt_handle)
    assert err.value.type == "MessageNotExist"
    assert [m.state for m in emulator.mns.queue_messages("jobs")] == ["active"]


def test_change_visibility_returns_a_new_handle_and_invalidates_the_old(
    emulator: ImmEmulator, queue: Queue
) -> None:
    queue.send_message(Message("hold"))
    got = queue.receive_message(0)

    changed = queue.change_message_visibility(got.receipt_handle, 60)

    assert changed.receipt_handle != got.receipt_handle
    assert int(changed.next_visible_time) / 1000 == pytest.approx(emulator.clock.time() + 60, abs=2)
    with pytest.raises(MNSServerException) as err:
        queue.change_message_visibility(got.receipt_handle, 10)
    assert err.value.type == "MessageNotExist"
    with pytest.raises(MNSServerException) as err:
        queue.delete_message(got.receipt_handle)
    assert err.value.type == "MessageNotExist"

    emulator.clock.advance(10)  # past the original timeout, well before the new one
    with pytest.raises(MNSServerException):
        queue.receive_message(0)
    queue.delete_message(changed.receipt_handle)
    assert emulator.mns.queue_messages("jobs") == []


def test_change_visibility_to_zero_returns_the_message_at_once(queue: Queue) -> None:
    queue.send_message(Message("give back"))
    got = queue.receive_message(0)

    queue.change_message_visibility(got.receipt_handle, 0)

    again = queue.receive_message(0)
    assert (again.message_id, again.dequeue_count) == (got.message_id, 2)


def test_change_visibility_with_a_malformed_handle_answers_receipt_handle_error(queue: Queue) -> None:
    with pytest.raises(MNSServerException) as err:
        queue.change_message_visibility("not-a-handle", 5)
    assert err.value.type == "ReceiptHandleError"


def test_batch_receive_and_batch_peek(queue: Queue) -> None:
    bodies = [f"m{i}" for i in range(5)]
    for body in bodies:
        queue.send_message(Message(body))

    peeked = queue.batch_peek_message(16)
    assert [m.message_body for m in peeked] == bodies
    assert all(m.dequeue_count == 0 for m in peeked)

    first = queue.batch_receive_message(3, 0)
    rest = queue.batch_receive_message(16, 0)
    assert [m.message_body for m in first + rest] == bodies
    assert len({m.receipt_handle for m in first + rest}) == 5

    with pytest.raises(MNSServerException) as err:
        queue.batch_peek_message(16)
    assert err.value.type == "MessageNotExist"


def test_peek_does_not_receive(queue: Queue) -> None:
    queue.send_message(Message("look"))

    peeked = queue.peek_message()
    got = queue.receive_message(0)

    assert (peeked.message_body, peeked.message_id) == ("look", got.message_id)
    assert got.dequeue_count == 1


def test_priority_orders_delivery(queue: Queue) -> None:
    queue.send_message(Message("low", priority=16))
    queue.send_message(Message("normal"))
    queue.send_message(Message("high", priority=1))

    got = queue.batch_receive_message(16, 0)

    assert [(m.message_body, m.priority) for m in got] == [("high", 1), ("normal", 8), ("low", 16)]


def test_delayed_message_is_invisible_until_its_delay_ends(queue: Queue) -> None:
    queue.send_message(Message("soon", delay_seconds=1))

    with pytest.raises(MNSServerException):
        queue.peek_message()
    started = time.monotonic()
    got = queue.receive_message(3)

    assert got.message_body == "soon"
    assert 0.7 < time.monotonic() - started < 2.5


def test_delete_and_batch_delete_with_partial_errors(emulator: ImmEmulator, queue: Queue) -> None:
    for body in ("a", "b", "c"):
        queue.send_message(Message(body))
    a, b, c = queue.batch_receive_message(3, 0)

    queue.delete_message(a.receipt_handle)
    with pytest.raises(MNSServerException) as err:
        queue.batch_delete_message([a.receipt_handle, b.receipt_handle, "garbage", c.receipt_handle])

    assert err.value.type == "MessageNotExist"
    assert err.value.sub_errors == [
        {
            "ErrorCode": "MessageNotExist",
            "ErrorMessage": "Message not exist.",
            "ReceiptHandle": a.receipt_handle,
        },
        {
            "ErrorCode": "ReceiptHandleError",
            "ErrorMessage": "The receipt handle you provided is not valid.",
            "ReceiptHandle": "garbage",
        },
    ]
    assert emulator.mns.queue_messages("jobs") == []  # b and c were deleted all the same

    queue.send_message(Message("d"))
    d = queue.receive_message(0)
    queue.batch_delete_message([d.receipt_handle])  # all succeed: no error
    assert emulator.mns.queue_messages("jobs") == []


def test_handle_of_another_queue_is_not_valid_here(emulator: ImmEmulator, queue: Queue) -> None:
    account = mns_account_for(emulator)
    other = account.get_queue("other")
    other.create(QueueMeta())
    other.send_message(Message("x"))
    got = other.receive_message(0)

    with pytest.raises(MNSServerException) as err:
        queue.delete_message(got.receipt_handle)
    assert err.value.type == "ReceiptHandleError"


def test_retention_period_expires_messages(emulator: ImmEmulator) -> None:
    account = mns_account_for(emulator)
    queue = account.get_queue("short-lived")
    queue.create(QueueMeta(msg_ttl=60))
    queue.set_encoding(False)
    queue.send_message(Message("old"))
    emulator.clock.advance(30)
    queue.send_message(Message("young"))
    emulator.clock.advance(31)

    assert [m.body for m in emulator.mns.queue_messages("short-lived")] == ["young"]
    assert queue.receive_message(0).message_body == "young"


def test_message_larger_than_the_queue_maximum_is_refused(emulator: ImmEmulator) -> None:
    account = mns_account_for(emulator)
    queue = account.get_queue("small")
    queue.create(QueueMeta(max_msg_size=1024))
    queue.set_encoding(False)

    with pytest.raises(MNSServerException) as err:
        queue.send_message(Message("x" * 1025))
    assert err.value.type == "InvalidArgument"
    queue.send_message(Message("x" * 1024))


def test_python_api_lists_visible_and_inflight_messages(emulator: ImmEmulator, queue: Queue) -> None:
    queue.send_message(Message("first"))
    second_id = emulator.mns.send_message("jobs", "second", priority=1)
    got = queue.receive_message(0)

    listed = emulator.mns.queue_messages("jobs")

    assert got.message_id == second_id
    assert [(m.body, m.state, m.dequeue_count) for m in listed] == [
        ("first", "active", 0),
        ("second", "inflight", 1),
    ]
    assert listed[1].receipt_handle is None  # listing never hands out a handle
