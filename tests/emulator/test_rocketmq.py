"""The emulator's RocketMQ 5 service through the unchanged ``rocketmq-python-client``: send,
receive, ack, redelivery after the invisible duration, credentials, and IMM's notifications."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator

import pytest
from alibabacloud_imm20200930 import models
from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from airflow_provider_imm.emulator.rocketmq_store import MessageState
from tests.sdk_clients import imm_client_for

TOPIC, GROUP = "imm-events", "airflow-imm"


@pytest.fixture
def rmq(tmp_path) -> Iterator[ImmEmulator]:  # type: ignore[no-untyped-def]
    with ImmEmulator(tmp_path / "oss", rocketmq_min_invisible=1) as emu:
        emu.call(emu.rocketmq.create_topic, TOPIC)
        emu.call(emu.rocketmq.create_group, GROUP)
        yield emu


def config(emu: ImmEmulator, user: str | None = None, secret: str | None = None) -> ClientConfiguration:
    assert emu.rocketmq_endpoint is not None
    return ClientConfiguration(
        emu.rocketmq_endpoint,
        Credentials(user or emu.rocketmq_username, secret or emu.rocketmq_password),
        request_timeout=5,
    )


@pytest.fixture
def producer(rmq: ImmEmulator) -> Iterator[Producer]:
    client = Producer(config(rmq), (TOPIC,))
    client.startup()
    yield client
    client.shutdown()


@pytest.fixture
def consumer(rmq: ImmEmulator) -> Iterator[SimpleConsumer]:
    client = SimpleConsumer(config(rmq), GROUP, {TOPIC: FilterExpression()}, await_duration=1)
    client.startup()
    yield client
    client.shutdown()


def message(body: bytes, topic: str = TOPIC) -> Message:
    msg = Message()
    msg.topic = topic
    msg.body = body
    return msg


def test_info_announces_the_endpoint_and_instance(rmq: ImmEmulator) -> None:
    info = rmq.info()
    assert info["rocketmq_endpoint"] == f"127.0.0.1:{rmq.rocketmq_port}" and rmq.rocketmq_port > 0
    assert info["rocketmq_instance_id"] == rmq.rocketmq.instance_id


def test_sent_message_is_received_once_and_gone_after_ack(
    rmq: ImmEmulator, producer: Producer, consumer: SimpleConsumer
) -> None:
    receipt = producer.send(message(b"hello"))

    received = consumer.receive(16, 10)
    assert [(m.body, m.message_id, m.delivery_attempt) for m in received] == [
        (b"hello", receipt.message_id, 1)
    ]
    consumer.ack(received[0])
    assert consumer.receive(16, 10) == []
    counted = rmq.counters.snapshot()
    assert counted["rocketmq:SendMessage"] == 1 and counted["rocketmq:AckMessage"] == 1
    assert counted["rocketmq:ReceiveMessage"] == 2


def test_unacked_message_comes_back_after_its_invisible_duration(
    rmq: ImmEmulator, producer: Producer, consumer: SimpleConsumer
) -> None:
    receipt = producer.send(message(b"again"))
    first = consumer.receive(16, 1)
    started = time.monotonic()
    second = consumer.receive(16, 1)

    assert [m.body for m in second] == [b"again"] and second[0].delivery_attempt == 2
    assert 0.5 < time.monotonic() - started < 1.9
    with pytest.raises(Exception, match="receipt handle"):
        consumer.ack(first[0])  # the first delivery's handle lapsed with its invisible duration
    states = rmq.call(rmq.rocketmq.message_states, GROUP)
    assert states == {receipt.message_id: MessageState(attempts=2, acked=False)}
    consumer.ack(second[0])
    # The store tells a test what was acked, and at which delivery.
    states = rmq.call(rmq.rocketmq.message_states, GROUP)
    assert states == {receipt.message_id: MessageState(attempts=2, acked=True)}


def test_change_invisible_duration_zero_makes_it_visible_at_once(
    producer: Producer, consumer: SimpleConsumer
) -> None:
    producer.send(message(b"back"))
    first = consumer.receive(16, 30)
    consumer.change_invisible_duration(first[0], 0)
    started = time.monotonic()
    again = consumer.receive(16, 30)
    assert [m.body for m in again] == [b"back"] and time.monotonic() - started < 0.5


def test_a_long_poll_gets_a_message_hidden_after_it_began_when_that_message_comes_back(
    rmq: ImmEmulator, producer: Producer, consumer: SimpleConsumer
) -> None:
    """As the service's long polling is told of a message's return: a consumer that gives a message
    back for a second must not keep it from another consumer's poll until that poll times out."""
    waiting = SimpleConsumer(config(rmq), GROUP, {TOPIC: FilterExpression()}, await_duration=10)
    waiting.startup()
    try:
        producer.send(message(b"handed on"))
        (taken,) = consumer.receive(16, 10)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            polled = pool.submit(waiting.receive, 16, 10)  # long polls: nothing visible for 10 s
            time.sleep(0.5)
            consumer.change_invisible_duration(taken, 1)  # back in 1 s instead
            started = time.monotonic()
            received = polled.result(timeout=15)
        assert [m.body for m in received] == [b"handed on"]
        assert time.monotonic() - started < 3
    finally:
        waiting.shutdown()


def test_each_group_gets_every_message(rmq: ImmEmulator, producer: Producer) -> None:
    rmq.call(rmq.rocketmq.create_group, "other-group")
    other = SimpleConsumer(config(rmq), "other-group", {TOPIC: FilterExpression()}, await_duration=1)
    other.startup()
    try:
        producer.send(message(b"fan-out"))
        assert [m.body for m in other.receive(16, 10)] == [b"fan-out"]
    finally:
        other.shutdown()


@pytest.mark.parametrize("use", ["wrong password", "unknown user"])
def test_wrong_credentials_are_refused(rmq: ImmEmulator, use: str) -> None:
    user, secret = (None, "not-the-password") if use == "wrong password" else ("nobody", "x")
    client = Producer(config(rmq, user, secret), (TOPIC,))
    client.startup()
    try:
        with pytest.raises(Exception, match="route"):
            client.send(message(b"refused"))
    finally:
        client.shutdown()
    assert rmq.call(lambda: rmq.rocketmq.receive(GROUP, TOPIC, 16, 10)) == []


def test_an_accesskey_pair_of_the_account_is_accepted(rmq: ImmEmulator) -> None:
    client = Producer(config(rmq, rmq.access_key_id, rmq.access_key_secret), (TOPIC,))
    client.startup()
    try:
        assert client.send(message(b"by key")).message_id
    finally:
        client.shutdown()


def test_imm_task_with_notification_rocketmq_publishes_its_end(
    rmq: ImmEmulator, consumer: SimpleConsumer
) -> None:
    client = imm_client_for(rmq)
    notification = models.Notification(
        rocket_mq=models.RocketMQ(instance_id=rmq.rocketmq.instance_id, topic_name=TOPIC)
    )
    created = client.create_image_moderation_task(
        models.CreateImageModerationTaskRequest(
            project_name=DEFAULT_PROJECT, source_uri="oss://in-bucket/photo.jpg", notification=notification
        )
    ).body

    deadline = time.monotonic() + 10
    received: list[Message] = []
    while not received and time.monotonic() < deadline:
        received = consumer.receive(16, 10)
    body = json.loads(received[0].body)
    content = json.loads(body["content"])
    assert body["id"] == created.event_id
    assert content["TaskId"] == created.task_id and content["Status"] in {"Succeeded", "Failed"}


def test_the_command_announces_the_rocketmq_endpoint_on_the_port_asked_for() -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_imm.emulator", "--rocketmq-port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = json.loads(process.stdout.readline())
        assert address["rocketmq_endpoint"] == f"127.0.0.1:{port}"
        assert address["rocketmq_instance_id"] and address["rocketmq_username"]
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
