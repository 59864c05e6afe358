"""MnsHook against the emulator's MNS through the official ``mns`` SDK."""

from __future__ import annotations

import json
import threading
import time

import pytest

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.hooks.errors import MnsApiError
from airflow_provider_imm.hooks.imm import ImmHook
from airflow_provider_imm.hooks.mns import MnsHook, NotificationChannel
from tests.emulated_imm import MakeConn


def test_ensure_notification_channel_creates_what_is_missing_once(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    hook = MnsHook(emulator_conn())
    first = hook.ensure_notification_channel()
    assert first == NotificationChannel(
        topic="imm-events",
        queue="airflow-imm",
        subscription="airflow-imm",
        queue_endpoint=f"acs:mns:{emulator.region}:{emulator.account_id}:queues/airflow-imm",
        format="JSON",
        created=("topic", "queue", "subscription"),
    )
    assert emulator.counters.get("mns", "CreateTopic") == 1
    assert emulator.counters.get("mns", "Subscribe") == 1

    second = MnsHook(hook.imm_conn_id).ensure_notification_channel()
    assert second.created == ()
    assert emulator.counters.get("mns", "CreateTopic") == 1
    assert emulator.counters.get("mns", "CreateQueue") == 1
    assert emulator.counters.get("mns", "Subscribe") == 1

    # The channel delivers: a message published to the topic arrives in the queue, JSON-wrapped.
    hook.publish('{"hello": "imm"}')
    [message] = hook.receive(wait_seconds=2)
    envelope = json.loads(message.body)
    assert (envelope["TopicName"], envelope["Message"]) == ("imm-events", '{"hello": "imm"}')


def test_only_the_missing_part_is_created(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    emulator.mns.create_topic("imm-events")
    emulator.mns.create_queue("airflow-imm")
    channel = MnsHook(emulator_conn()).ensure_notification_channel(format="simplified")
    assert (channel.created, channel.format) == (("subscription",), "SIMPLIFIED")


def test_a_subscription_to_another_queue_is_an_error(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = MnsHook(emulator_conn())
    hook.ensure_notification_channel(queue="elsewhere")
    with pytest.raises(
        ValueError, match=r"delivers to 'acs:mns:.*queues/elsewhere', not to queue 'airflow-imm'"
    ):
        hook.ensure_notification_channel()


def test_receive_delete_and_change_visibility(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = MnsHook(emulator_conn())
    hook.ensure_notification_channel()
    started = time.monotonic()
    assert hook.receive(wait_seconds=1) == []  # the empty long poll is not an error
    assert time.monotonic() - started >= 0.9

    for n in range(3):
        hook.send(f"body-{n}")
    received = hook.receive(wait_seconds=1, max_messages=16)
    assert sorted(m.body for m in received) == ["body-0", "body-1", "body-2"]
    assert all(m.dequeue_count == 1 for m in received)

    changed = hook.change_visibility(received[0].receipt_handle, 0)
    assert changed.receipt_handle != received[0].receipt_handle
    [again] = hook.receive(wait_seconds=1, max_messages=1)
    assert (again.body, again.dequeue_count) == (received[0].body, 2)

    failures = hook.delete([again.receipt_handle, received[1].receipt_handle, received[2].receipt_handle])
    assert failures == []
    assert hook.delete([again.receipt_handle])[0].code == "MessageNotExist"
    assert hook.receive(wait_seconds=0) == []


def test_errors_are_mns_api_errors(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = MnsHook(emulator_conn())
    with pytest.raises(MnsApiError) as info:
        hook.receive("no-such-queue", wait_seconds=0)
    assert (info.value.code, info.value.operation, info.value.network) == (
        "QueueNotExist",
        "ReceiveMessage",
        False,
    )
    assert info.value.request_id


def test_sts_token_credentials_work_for_mns(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    emulator.accounts.add_sts("STS.mnsKey", "mns-temporary-secret", "mns-token-value")
    hook = MnsHook(
        emulator_conn(login="STS.mnsKey", password="mns-temporary-secret", security_token="mns-token-value")
    )
    assert hook.ensure_notification_channel().created == ("topic", "queue", "subscription")


def test_ram_role_credentials_work_for_mns(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = MnsHook(
        emulator_conn(role_arn=f"acs:ram::{emulator.account_id}:role/imm-runner", sts_endpoint=emulator.url)
    )
    hook.ensure_notification_channel()
    hook.send("x")
    assert [m.body for m in hook.receive(wait_seconds=1)] == ["x"]
    assert emulator.counters.get("sts", "AssumeRole") == 1


def test_one_account_per_thread(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = MnsHook(emulator_conn())
    hook.ensure_notification_channel()
    accounts: list[object] = []
    bodies: list[str] = []

    def worker(n: int) -> None:
        accounts.append(hook.get_conn())
        hook.send(f"from-{n}")
        bodies.extend(m.body for m in hook.receive(wait_seconds=1, max_messages=1))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len({id(a) for a in accounts}) == 4
    assert hook.get_conn() is hook.get_conn()
    assert sorted(bodies) == [f"from-{n}" for n in range(4)]


async def test_async_construction_for_the_triggerer(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    hook = await MnsHook.afor_connection(emulator_conn())
    assert hook.settings.mns_queue == "airflow-imm"  # no synchronous lookup needed any more


def test_imm_notifications_arrive_through_the_channel(emulator: ImmEmulator, emulator_conn: MakeConn) -> None:
    conn_id = emulator_conn()
    MnsHook(conn_id).ensure_notification_channel()
    emulator.oss.put("bucket", "in/a.zip", b"PK")
    created = ImmHook(conn_id).create_task(
        "CreateArchiveFileInspectionTask",
        {"SourceURI": "oss://bucket/in/a.zip", "Notification": {"MNS": {"TopicName": "imm-events"}}},
    )
    deadline = time.monotonic() + 10
    bodies: list[str] = []
    while not bodies and time.monotonic() < deadline:
        bodies = [m.body for m in MnsHook(conn_id).receive(wait_seconds=1)]
    assert bodies and created["TaskId"] in bodies[0]


def test_bad_names_and_unencodable_bodies_are_refused_before_any_call(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    hook = MnsHook(emulator_conn())
    hook.ensure_notification_channel()
    for bad in ("../x", "a?b=1", "a\x00b"):
        with pytest.raises(ValueError, match="letters, digits and hyphens"):
            hook.receive(bad, wait_seconds=0)
        with pytest.raises(ValueError, match="MNS topic"):
            hook.publish("body", topic=bad)
    with pytest.raises(MnsApiError) as info:
        hook.send("body \ud800")
    assert (info.value.code, info.value.network) == ("InvalidArgument", False)
    assert "UTF-8" in info.value.message


def test_a_wrong_secret_names_the_connection_and_the_field(
    emulator: ImmEmulator, emulator_conn: MakeConn
) -> None:
    conn_id = emulator_conn(password="wrong-secret-value")
    with pytest.raises(MnsApiError) as info:
        MnsHook(conn_id).receive(wait_seconds=0)
    assert (
        str(info.value).endswith(
            f"Check the password field (AccessKey secret) of connection {conn_id!r}. (request id "
            f"{info.value.request_id})"
        )
        or f"Check the password field (AccessKey secret) of connection {conn_id!r}." in info.value.message
    )


@pytest.mark.parametrize("hook_class", [ImmHook, MnsHook])
def test_logger_names_are_not_doubled(hook_class: type) -> None:
    assert hook_class("c").log.name == f"airflow.task.hooks.{hook_class.__module__}.{hook_class.__name__}"
    assert hook_class("c", logger_name="imm").log.name == "airflow.task.hooks.imm"
    operator_logger = (
        "airflow.task.operators.airflow_provider_imm.operators.imm.CreateOfficeConversionTaskOperator"
    )
    assert hook_class("c", logger_name=operator_logger).log.name == operator_logger
