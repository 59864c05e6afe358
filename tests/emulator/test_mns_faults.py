"""Injected MNS faults and per-action call counters, seen through the unchanged SDK."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from mns.account import Account
from mns.mns_common import TopicHelper
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMessage, TopicMeta

from airflow_provider_imm.emulator import ImmEmulator
from tests.sdk_clients import mns_account_for


def test_failed_calls_answer_the_armed_error_then_recover(
    emulator: ImmEmulator, mns_account: Account
) -> None:
    queue = mns_account.get_queue("jobs")
    emulator.faults.fail_mns(2)

    for _ in range(2):
        with pytest.raises(MNSServerException) as err:
            queue.create(QueueMeta())
        assert err.value.type == "ServiceUnavailable"
        assert err.value.request_id
    queue.create(QueueMeta())

    assert emulator.counters.get("mns", "CreateQueue") == 3
    assert emulator.mns.queue_messages("jobs") == []


def test_fault_status_and_code_are_configurable(emulator: ImmEmulator, mns_account: Account) -> None:
    emulator.mns.create_queue("jobs")
    emulator.faults.fail_mns(status=500, code="InternalError")

    with pytest.raises(MNSServerException) as err:
        mns_account.get_queue("jobs").receive_message(0)

    assert err.value.type == "InternalError"


def test_a_failed_send_stores_nothing(emulator: ImmEmulator, mns_account: Account) -> None:
    emulator.mns.create_queue("jobs")
    queue = mns_account.get_queue("jobs")
    emulator.faults.fail_mns()

    with pytest.raises(MNSServerException):
        queue.send_message(Message("lost"))

    assert emulator.mns.queue_messages("jobs") == []


def test_hung_call_is_served_normally_after_the_delay(emulator: ImmEmulator, mns_account: Account) -> None:
    emulator.mns.create_queue("jobs")
    emulator.mns.send_message("jobs", "eventually")
    queue = mns_account.get_queue("jobs")
    queue.set_encoding(False)
    emulator.faults.hang_mns(seconds=0.6)

    started = time.monotonic()
    message = queue.receive_message(0)

    assert message.message_body == "eventually"
    assert 0.6 <= time.monotonic() - started < 3
    started = time.monotonic()
    queue.delete_message(message.receipt_handle)  # only one call was armed
    assert time.monotonic() - started < 0.5


def test_latency_applies_to_every_call_until_cleared(emulator: ImmEmulator, mns_account: Account) -> None:
    emulator.mns.create_queue("jobs")
    queue = mns_account.get_queue("jobs")
    emulator.faults.mns_latency = 0.3

    started = time.monotonic()
    queue.get_attributes()
    queue.get_attributes()
    assert time.monotonic() - started >= 0.6

    emulator.faults.clear()
    started = time.monotonic()
    queue.get_attributes()
    assert time.monotonic() - started < 0.3


def test_faults_armed_over_the_admin_endpoint_reach_mns(emulator: ImmEmulator, mns_account: Account) -> None:
    request = urllib.request.Request(
        f"{emulator.url}/_emulator/faults",
        data=json.dumps({"kind": "fail_mns", "n": 1, "status": 503, "code": "ServiceUnavailable"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    with pytest.raises(MNSServerException) as err:
        mns_account.list_queue()
    assert err.value.type == "ServiceUnavailable"
    assert mns_account.list_queue() == ([], "")


def test_every_call_is_counted_by_action(emulator: ImmEmulator, mns_account: Account) -> None:
    queue = mns_account.get_queue("jobs")
    queue.set_encoding(False)
    queue.create(QueueMeta(vis_timeout=30))
    queue.set_attributes(QueueMeta(polling_wait_sec=0))
    queue.get_attributes()
    mns_account.list_queue()
    queue.send_message(Message("one"))
    queue.batch_send_message([Message("two"), Message("three"), Message("four")])
    queue.peek_message()
    queue.batch_peek_message(2)
    one = queue.receive_message(0)
    two, three = queue.batch_receive_message(2, 0)
    changed = queue.change_message_visibility(one.receipt_handle, 60)
    queue.delete_message(changed.receipt_handle)
    queue.batch_delete_message([two.receipt_handle, three.receipt_handle])
    topic = mns_account.get_topic("imm")
    topic.create(TopicMeta())
    topic.set_attributes(TopicMeta(maximum_message_size=4096))
    topic.get_attributes()
    mns_account.list_topic()
    subscription = topic.get_subscription("airflow")
    subscription.subscribe(
        SubscriptionMeta(TopicHelper.generate_queue_endpoint(emulator.region, emulator.account_id, "jobs"))
    )
    subscription.set_attributes(SubscriptionMeta(notify_strategy="BACKOFF_RETRY"))
    subscription.get_attributes()
    topic.list_subscription()
    topic.publish_message(TopicMessage("published"))
    subscription.unsubscribe()
    topic.delete()
    queue.delete()
    with pytest.raises(MNSServerException):
        mns_account_for(emulator, access_key_secret="wrong").list_queue()  # refused calls count too

    assert emulator.counters.snapshot() == {
        "mns:CreateQueue": 1,
        "mns:SetQueueAttributes": 1,
        "mns:GetQueueAttributes": 1,
        "mns:ListQueue": 2,
        "mns:SendMessage": 1,
        "mns:BatchSendMessage": 1,
        "mns:PeekMessage": 1,
        "mns:BatchPeekMessage": 1,
        "mns:ReceiveMessage": 1,
        "mns:BatchReceiveMessage": 1,
        "mns:ChangeMessageVisibility": 1,
        "mns:DeleteMessage": 1,
        "mns:BatchDeleteMessage": 1,
        "mns:CreateTopic": 1,
        "mns:SetTopicAttributes": 1,
        "mns:GetTopicAttributes": 1,
        "mns:ListTopic": 1,
        "mns:Subscribe": 1,
        "mns:SetSubscriptionAttributes": 1,
        "mns:GetSubscriptionAttributes": 1,
        "mns:ListSubscriptionByTopic": 1,
        "mns:PublishMessage": 1,
        "mns:Unsubscribe": 1,
        "mns:DeleteTopic": 1,
        "mns:DeleteQueue": 1,
    }
    assert emulator.counters.total("mns") == 26


def test_python_api_calls_are_not_counted_as_api_calls(emulator: ImmEmulator) -> None:
    emulator.mns.create_queue("jobs")
    emulator.mns.create_topic("imm")
    emulator.mns.subscribe("imm", "s", "jobs")
    emulator.mns.publish("imm", "x")
    emulator.mns.send_message("jobs", "y")
    emulator.mns.queue_messages("jobs")

    assert emulator.counters.total("mns") == 0
