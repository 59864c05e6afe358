"""MNS queue management through the unchanged ``mns`` SDK over HTTP."""

from __future__ import annotations

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta

from airflow_provider_imm.emulator import ImmEmulator


def test_create_returns_the_queue_url_and_attributes_round_trip(
    emulator: ImmEmulator, mns_account: Account
) -> None:
    queue = mns_account.get_queue("jobs")
    url = queue.create(
        QueueMeta(vis_timeout=45, max_msg_size=2048, msg_ttl=120, delay_sec=3, polling_wait_sec=7)
    )

    assert url == f"{emulator.url}/queues/jobs"
    meta = queue.get_attributes()
    assert (meta.queue_name, meta.visibility_timeout, meta.maximum_message_size) == ("jobs", 45, 2048)
    assert (meta.message_retention_period, meta.delay_seconds, meta.polling_wait_seconds) == (120, 3, 7)
    assert meta.logging_enabled is False
    assert abs(meta.create_time - emulator.clock.time()) < 5


def test_defaults_are_those_of_mns(mns_account: Account) -> None:
    queue = mns_account.get_queue("plain")
    queue.create(QueueMeta())

    meta = queue.get_attributes()
    assert (meta.visibility_timeout, meta.maximum_message_size, meta.message_retention_period) == (
        30,
        65536,
        345600,
    )
    assert (meta.delay_seconds, meta.polling_wait_seconds) == (0, 0)


def test_create_is_idempotent_with_same_attributes_and_conflicts_otherwise(mns_account: Account) -> None:
    queue = mns_account.get_queue("jobs")
    queue.create(QueueMeta(vis_timeout=10))
    queue.create(QueueMeta(vis_timeout=10))

    with pytest.raises(MNSServerException) as err:
        queue.create(QueueMeta(vis_timeout=11))
    assert err.value.type == "QueueAlreadyExist"
    assert queue.get_attributes().visibility_timeout == 10


def test_set_attributes_changes_only_what_is_given(mns_account: Account) -> None:
    queue = mns_account.get_queue("jobs")
    queue.create(QueueMeta(vis_timeout=10, polling_wait_sec=2))

    queue.set_attributes(QueueMeta(polling_wait_sec=20, logging_enabled=True))

    meta = queue.get_attributes()
    assert (meta.visibility_timeout, meta.polling_wait_seconds, meta.logging_enabled) == (10, 20, True)


@pytest.mark.parametrize(
    "meta",
    [
        QueueMeta(vis_timeout=43201),
        QueueMeta(max_msg_size=100),
        QueueMeta(msg_ttl=59),
        QueueMeta(polling_wait_sec=31),
    ],
)
def test_out_of_range_attributes_are_refused(mns_account: Account, meta: QueueMeta) -> None:
    with pytest.raises(MNSServerException) as err:
        mns_account.get_queue("jobs").create(meta)
    assert err.value.type == "InvalidArgument"
    assert mns_account.list_queue()[0] == []


def test_invalid_queue_name_is_refused(mns_account: Account) -> None:
    with pytest.raises(MNSServerException) as err:
        mns_account.get_queue("9-starts-with-a-digit").create(QueueMeta())
    assert err.value.type == "InvalidQueueName"


def test_missing_queue_answers_queue_not_exist(mns_account: Account) -> None:
    queue = mns_account.get_queue("nowhere")
    for call in (queue.get_attributes, lambda: queue.receive_message(0), queue.peek_message):
        with pytest.raises(MNSServerException) as err:
            call()
        assert err.value.type == "QueueNotExist"


def test_delete_removes_the_queue(mns_account: Account) -> None:
    queue = mns_account.get_queue("jobs")
    queue.create(QueueMeta())
    queue.delete()

    with pytest.raises(MNSServerException) as err:
        queue.get_attributes()
    assert err.value.type == "QueueNotExist"
    queue.delete()  # deleting again is not an error


def test_list_filters_by_prefix_and_pages_with_a_marker(emulator: ImmEmulator, mns_account: Account) -> None:
    for name in ("imm-a", "imm-b", "imm-c", "other"):
        mns_account.get_queue(name).create(QueueMeta())

    urls, marker = mns_account.list_queue(prefix="imm-", ret_number=2)
    assert urls == [f"{emulator.url}/queues/imm-a", f"{emulator.url}/queues/imm-b"]
    assert marker

    urls, marker = mns_account.list_queue(prefix="imm-", ret_number=2, marker=marker)
    assert urls == [f"{emulator.url}/queues/imm-c"]
    assert marker == ""

    all_urls, _ = mns_account.list_queue()
    assert [url.rsplit("/", 1)[1] for url in all_urls] == ["imm-a", "imm-b", "imm-c", "other"]


@pytest.mark.filterwarnings(
    "ignore::DeprecationWarning"
)  # the SDK deprecates the counters, MNS still sends them
def test_attributes_count_active_inflight_and_delayed_messages(mns_account: Account) -> None:
    queue = mns_account.get_queue("jobs")
    queue.create(QueueMeta())
    queue.set_encoding(False)
    for body in ("a", "b", "c"):
        queue.send_message(Message(body))
    queue.send_message(Message("later", delay_seconds=60))
    queue.receive_message(0)

    meta = queue.get_attributes()
    assert (meta.active_messages, meta.inactive_messages, meta.delay_messages) == (2, 1, 1)
