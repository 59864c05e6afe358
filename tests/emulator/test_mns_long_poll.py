"""Long polling: a waiting receive returns as soon as a message can be handed to it, and only then."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from mns.mns_exception import MNSClientException, MNSServerException
from mns.queue import Message, Queue
from mns.topic import TopicMessage

from airflow_provider_imm.emulator import ImmEmulator
from tests.sdk_clients import mns_account_for


def new_queue(emulator: ImmEmulator, name: str = "jobs") -> Queue:
    """A handle on ``name`` with its own connection: the SDK is one connection per Account."""
    queue = mns_account_for(emulator).get_queue(name)
    queue.set_encoding(False)
    return queue


def waiting(emulator: ImmEmulator, queue: str) -> int:
    return emulator.call(lambda: emulator.mns.store.queue(queue).waiting)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def wait_for_waiters(emulator: ImmEmulator, queue: str, count: int) -> None:
    wait_until(lambda: waiting(emulator, queue) == count)


class Receiver(threading.Thread):
    """One long-polling receive on its own connection; records what it got and when."""

    def __init__(self, emulator: ImmEmulator, queue: str, wait_seconds: int) -> None:
        super().__init__(daemon=True)
        self.queue = new_queue(emulator, queue)
        self.wait_seconds = wait_seconds
        self.body: str | None = None
        self.error: str | None = None
        self.returned_at = 0.0

    def run(self) -> None:
        try:
            self.body = self.queue.receive_message(self.wait_seconds).message_body
        except MNSServerException as err:
            self.error = err.type
        self.returned_at = time.monotonic()


def test_receive_returns_as_soon_as_a_message_is_sent_from_another_thread(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("jobs")
    receiver = Receiver(emulator, "jobs", wait_seconds=10)
    receiver.start()
    wait_for_waiters(emulator, "jobs", 1)

    sent_at = time.monotonic()
    new_queue(emulator).send_message(Message("wake up"))
    receiver.join(timeout=5)

    assert receiver.body == "wake up"
    assert receiver.returned_at - sent_at < 0.5


def test_a_published_notification_wakes_a_waiting_receiver(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("events")
    emulator.mns.create_topic("imm")
    emulator.mns.subscribe("imm", "airflow", "events", content_format="SIMPLIFIED")
    receiver = Receiver(emulator, "events", wait_seconds=10)
    receiver.start()
    wait_for_waiters(emulator, "events", 1)

    sent_at = time.monotonic()
    account = mns_account_for(emulator)
    account.get_topic("imm").publish_message(TopicMessage('{"Status": "Succeeded"}'))
    receiver.join(timeout=5)

    assert receiver.body == '{"Status": "Succeeded"}'
    assert receiver.returned_at - sent_at < 0.5


def test_each_message_wakes_exactly_one_waiter_first_come_first_served(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("jobs")
    receivers = []
    for count in range(1, 13):
        receiver = Receiver(emulator, "jobs", wait_seconds=4)
        receiver.start()
        receivers.append(receiver)
        wait_for_waiters(emulator, "jobs", count)  # one at a time: fixes the arrival order

    for body in ("one", "two", "three"):
        emulator.mns.send_message("jobs", body)
    wait_until(lambda: sum(r.body is not None for r in receivers) == 3)
    time.sleep(0.2)  # a herd would show up here as more returns

    assert [r.body for r in receivers[:3]] == ["one", "two", "three"]
    assert all(r.is_alive() and r.body is None for r in receivers[3:])
    assert waiting(emulator, "jobs") == 9
    assert emulator.counters.get("mns", "ReceiveMessage") == 12  # nobody had to poll again

    for i in range(9):
        emulator.mns.send_message("jobs", f"more {i}")
    for receiver in receivers:
        receiver.join(timeout=5)
    assert sorted(r.body or "" for r in receivers[3:]) == sorted(f"more {i}" for i in range(9))


def test_a_waiter_that_times_out_leaves_no_trace(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("jobs")
    receiver = Receiver(emulator, "jobs", wait_seconds=1)
    receiver.start()
    receiver.join(timeout=5)

    assert receiver.error == "MessageNotExist"
    assert waiting(emulator, "jobs") == 0
    emulator.mns.send_message("jobs", "kept")
    assert [m.state for m in emulator.mns.queue_messages("jobs")] == ["active"]


def test_batch_waiter_gets_what_is_there_when_it_wakes(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("jobs")
    result: list[str] = []

    def batch() -> None:
        result.extend(m.message_body for m in new_queue(emulator).batch_receive_message(16, 5))

    thread = threading.Thread(target=batch, daemon=True)
    thread.start()
    wait_for_waiters(emulator, "jobs", 1)
    emulator.mns.send_message("jobs", "a")
    thread.join(timeout=5)

    assert result == ["a"]
    assert emulator.counters.get("mns", "BatchReceiveMessage") == 1


def test_200_receivers_get_every_notification_exactly_once(emulator: ImmEmulator) -> None:
    """Two queues subscribed to one topic, 100 long-polling receivers each, notifications published
    over HTTP and from the emulator itself: every delivery is received and deleted exactly once.
    (The rate, 300 notifications/s at least, is ``benchmarks/emulator_throughput.py``'s to measure.)"""
    mns = emulator.mns
    mns.create_topic("imm")
    for queue in ("events-a", "events-b"):
        mns.create_queue(queue)
    mns.subscribe("imm", "a", "events-a", content_format="JSON")
    mns.subscribe("imm", "b", "events-b", content_format="SIMPLIFIED")
    publishes = 600  # two deliveries each
    received: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def receive(queue_name: str) -> None:
        queue = new_queue(emulator, queue_name)
        while not stop.is_set():
            try:
                message = queue.receive_message(1)
                queue.delete_message(message.receipt_handle)
            except (MNSServerException, MNSClientException):
                continue
            with lock:
                received.append(message.message_id)

    receivers = [
        threading.Thread(target=receive, args=(f"events-{'ab'[i % 2]}",), daemon=True) for i in range(200)
    ]
    for thread in receivers:
        thread.start()
    wait_until(lambda: waiting(emulator, "events-a") + waiting(emulator, "events-b") >= 150, timeout=15)

    def publish_over_http(count: int) -> None:
        topic = mns_account_for(emulator).get_topic("imm")
        for i in range(count):
            topic.publish_message(TopicMessage(f'{{"n": {i}}}'))

    def publish_in_process(count: int) -> None:
        for i in range(count):
            assert mns.publish("imm", f'{{"n": {i}}}')

    publishers = [threading.Thread(target=publish_over_http, args=(publishes // 4,)) for _ in range(2)]
    publishers += [threading.Thread(target=publish_in_process, args=(publishes // 4,)) for _ in range(2)]
    for thread in publishers:
        thread.start()
    for thread in publishers:
        thread.join()
    wait_until(lambda: len(received) >= 2 * publishes, timeout=60)
    stop.set()
    for thread in receivers:
        thread.join(timeout=5)

    assert len(received) == len(set(received)) == 2 * publishes
    assert mns.queue_messages("events-a") == mns.queue_messages("events-b") == []


def test_stopping_the_emulator_releases_long_polls_at_once(tmp_path: Path) -> None:
    emulator = ImmEmulator(tmp_path / "oss").start()
    try:
        emulator.mns.create_queue("jobs")
        outcome: list[str] = []

        def receive() -> None:
            try:
                new_queue(emulator).receive_message(30)
            except (MNSServerException, MNSClientException) as err:
                outcome.append(err.type)

        thread = threading.Thread(target=receive, daemon=True)
        thread.start()
        wait_for_waiters(emulator, "jobs", 1)
        emulator.faults.hang_mns(seconds=30)
        hung = threading.Thread(target=receive, daemon=True)
        hung.start()
        wait_until(lambda: emulator.counters.get("mns", "ReceiveMessage") == 2)
    finally:
        started = time.monotonic()
        emulator.stop()
    thread.join(timeout=5)
    hung.join(timeout=5)

    assert time.monotonic() - started < 5
    assert len(outcome) == 2
    assert not thread.is_alive() and not hung.is_alive()
