"""Topics, subscriptions and topic -> queue delivery through the unchanged SDK."""

from __future__ import annotations

import hashlib
import json
from xml.etree import ElementTree

import pytest
from mns.account import Account
from mns.mns_common import TopicHelper
from mns.mns_exception import MNSServerException
from mns.queue import Queue, QueueMeta
from mns.subscription import SubscriptionMeta
from mns.topic import Base64TopicMessage, Topic, TopicMessage, TopicMeta

from airflow_provider_imm.emulator import ImmEmulator

NS = "{http://mns.aliyuncs.com/doc/v1/}"
BODY = '{"content": "<Status>Succeeded & done</Status>", "id": "évènement"}'


@pytest.fixture
def topic(mns_account: Account) -> Topic:
    topic = mns_account.get_topic("imm-events")
    topic.create(TopicMeta())
    return topic


def make_queue(account: Account, name: str) -> Queue:
    queue = account.get_queue(name)
    queue.create(QueueMeta())
    queue.set_encoding(False)
    return queue


def endpoint(emulator: ImmEmulator, queue: str) -> str:
    return TopicHelper.generate_queue_endpoint(emulator.region, emulator.account_id, queue)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()


def test_topic_create_get_list_delete(emulator: ImmEmulator, mns_account: Account) -> None:
    for name in ("imm-a", "imm-b", "other"):
        url = mns_account.get_topic(name).create(TopicMeta(maximum_message_size=4096))
        assert url == f"{emulator.url}/topics/{name}"

    meta = mns_account.get_topic("imm-a").get_attributes()
    assert (meta.topic_name, meta.maximum_message_size, meta.message_retention_period) == (
        "imm-a",
        4096,
        86400,
    )
    assert meta.message_count == 0

    urls, marker = mns_account.list_topic(prefix="imm-", ret_number=1)
    assert (urls, bool(marker)) == ([f"{emulator.url}/topics/imm-a"], True)
    urls, marker = mns_account.list_topic(prefix="imm-", ret_number=1, marker=marker)
    assert (urls, marker) == ([f"{emulator.url}/topics/imm-b"], "")

    mns_account.get_topic("imm-a").delete()
    with pytest.raises(MNSServerException) as err:
        mns_account.get_topic("imm-a").get_attributes()
    assert err.value.type == "TopicNotExist"


def test_topic_create_conflicts_on_different_attributes(mns_account: Account, topic: Topic) -> None:
    topic.create(TopicMeta())  # same attributes: fine
    with pytest.raises(MNSServerException) as err:
        topic.create(TopicMeta(maximum_message_size=2048))
    assert err.value.type == "TopicAlreadyExist"

    topic.set_attributes(TopicMeta(maximum_message_size=2048))
    assert topic.get_attributes().maximum_message_size == 2048


def test_subscribe_get_set_list_unsubscribe(
    emulator: ImmEmulator, mns_account: Account, topic: Topic
) -> None:
    make_queue(mns_account, "events")
    subscription = topic.get_subscription("airflow")

    url = subscription.subscribe(SubscriptionMeta(endpoint(emulator, "events"), notify_content_format="JSON"))

    assert url == f"{emulator.url}/topics/imm-events/subscriptions/airflow"
    meta = subscription.get_attributes()
    assert (meta.topic_owner, meta.topic_name, meta.subscription_name) == (
        emulator.account_id,
        "imm-events",
        "airflow",
    )
    assert (meta.endpoint, meta.notify_content_format) == (endpoint(emulator, "events"), "JSON")
    assert (meta.notify_strategy, meta.filter_tag) == ("BACKOFF_RETRY", "")

    subscription.set_attributes(SubscriptionMeta(notify_strategy="EXPONENTIAL_DECAY_RETRY"))
    assert subscription.get_attributes().notify_strategy == "EXPONENTIAL_DECAY_RETRY"

    topic.get_subscription("second").subscribe(SubscriptionMeta(endpoint(emulator, "events")))
    urls, _ = topic.list_subscription()
    assert [u.rsplit("/", 1)[1] for u in urls] == ["airflow", "second"]
    assert topic.get_subscription("second").get_attributes().notify_content_format == "XML"  # MNS's default

    subscription.unsubscribe()
    with pytest.raises(MNSServerException) as err:
        subscription.get_attributes()
    assert err.value.type == "SubscriptionNotExist"


def test_subscribe_conflict_and_invalid_endpoint(
    emulator: ImmEmulator, mns_account: Account, topic: Topic
) -> None:
    subscription = topic.get_subscription("airflow")
    subscription.subscribe(SubscriptionMeta(endpoint(emulator, "events"), notify_content_format="JSON"))
    subscription.subscribe(SubscriptionMeta(endpoint(emulator, "events"), notify_content_format="JSON"))

    with pytest.raises(MNSServerException) as err:
        subscription.subscribe(SubscriptionMeta(endpoint(emulator, "events"), notify_content_format="XML"))
    assert err.value.type == "SubscriptionAlreadyExist"
    with pytest.raises(MNSServerException) as err:
        topic.get_subscription("mail").subscribe(SubscriptionMeta("mail:directmail:someone@example.com"))
    assert err.value.type == "InvalidArgument"
    with pytest.raises(MNSServerException) as err:
        mns_account.get_topic("missing").get_subscription("s").subscribe(
            SubscriptionMeta(endpoint(emulator, "q"))
        )
    assert err.value.type == "TopicNotExist"


def test_publish_delivers_in_each_subscriptions_format(
    emulator: ImmEmulator, mns_account: Account, topic: Topic
) -> None:
    queues = {fmt: make_queue(mns_account, f"q-{fmt.lower()}") for fmt in ("SIMPLIFIED", "JSON", "XML")}
    for fmt in queues:
        topic.get_subscription(f"s-{fmt.lower()}").subscribe(
            SubscriptionMeta(endpoint(emulator, f"q-{fmt.lower()}"), notify_content_format=fmt)
        )

    published = topic.publish_message(TopicMessage(BODY, "done"))

    assert published.message_body_md5 == md5(BODY)
    assert queues["SIMPLIFIED"].receive_message(0).message_body == BODY

    envelope = json.loads(queues["JSON"].receive_message(0).message_body)
    assert list(envelope) == [
        "TopicOwner",
        "TopicName",
        "Subscriber",
        "SubscriptionName",
        "MessageId",
        "Message",
        "MessageMD5",
        "MessageTag",
        "PublishTime",
    ]
    assert envelope["Message"] == BODY
    assert (envelope["TopicOwner"], envelope["Subscriber"]) == (emulator.account_id, emulator.account_id)
    assert (envelope["TopicName"], envelope["SubscriptionName"]) == ("imm-events", "s-json")
    assert (envelope["MessageId"], envelope["MessageMD5"]) == (published.message_id, md5(BODY))
    assert envelope["MessageTag"] == "done"
    assert abs(int(envelope["PublishTime"]) / 1000 - emulator.clock.time()) < 5

    notification = ElementTree.fromstring(queues["XML"].receive_message(0).message_body)
    assert notification.tag == f"{NS}Notification"
    fields = {child.tag.removeprefix(NS): child.text or "" for child in notification}
    assert fields == {**envelope, "SubscriptionName": "s-xml"}


def test_filter_tag_selects_messages_by_tag(
    emulator: ImmEmulator, mns_account: Account, topic: Topic
) -> None:
    tagged, untagged = make_queue(mns_account, "tagged"), make_queue(mns_account, "everything")
    topic.get_subscription("tagged").subscribe(
        SubscriptionMeta(endpoint(emulator, "tagged"), notify_content_format="SIMPLIFIED", filter_tag="imm")
    )
    topic.get_subscription("all").subscribe(
        SubscriptionMeta(endpoint(emulator, "everything"), notify_content_format="SIMPLIFIED")
    )

    topic.publish_message(TopicMessage("for imm", "imm"))
    topic.publish_message(TopicMessage("for others", "other"))
    topic.publish_message(TopicMessage("no tag"))

    assert [m.body for m in emulator.mns.queue_messages("tagged")] == ["for imm"]
    assert [m.body for m in emulator.mns.queue_messages("everything")] == ["for imm", "for others", "no tag"]
    assert tagged.receive_message(0).message_body == "for imm"
    assert untagged.batch_receive_message(16, 0)[2].message_body == "no tag"


def test_base64_topic_message_is_delivered_as_published(
    emulator: ImmEmulator, mns_account: Account, topic: Topic
) -> None:
    queue = make_queue(mns_account, "events")
    topic.get_subscription("s").subscribe(
        SubscriptionMeta(endpoint(emulator, "events"), notify_content_format="SIMPLIFIED")
    )

    topic.publish_message(Base64TopicMessage(BODY))

    queue.set_encoding(True)  # the consumer decodes, as with any base64 body
    assert queue.receive_message(0).message_body.decode() == BODY


def test_python_publish_delivers_like_http_and_reports_missing_topics(emulator: ImmEmulator) -> None:
    mns = emulator.mns
    mns.create_queue("events")
    mns.create_topic("imm")
    mns.subscribe("imm", "airflow", "events", content_format="JSON")

    assert mns.publish("imm", BODY, tag="t") is True
    assert mns.publish("no-such-topic", BODY) is False

    (message,) = mns.queue_messages("events")
    envelope = json.loads(message.body)
    assert (envelope["Message"], envelope["MessageTag"], envelope["SubscriptionName"]) == (
        BODY,
        "t",
        "airflow",
    )


def test_publish_to_a_missing_topic_or_a_deleted_queue(
    emulator: ImmEmulator, mns_account: Account, topic: Topic
) -> None:
    with pytest.raises(MNSServerException) as err:
        mns_account.get_topic("missing").publish_message(TopicMessage("x"))
    assert err.value.type == "TopicNotExist"

    make_queue(mns_account, "gone").delete()
    topic.get_subscription("orphan").subscribe(SubscriptionMeta(endpoint(emulator, "gone")))
    published = topic.publish_message(TopicMessage("nowhere to go"))  # accepted, delivered to nobody
    assert published.message_id
    assert emulator.call(lambda: list(emulator.mns.store.queues)) == []


def test_publish_larger_than_the_topic_maximum_is_refused(mns_account: Account) -> None:
    topic = mns_account.get_topic("small")
    topic.create(TopicMeta(maximum_message_size=1024))

    with pytest.raises(MNSServerException) as err:
        topic.publish_message(TopicMessage("x" * 1025))
    assert err.value.type == "InvalidArgument"


def test_deleting_a_topic_drops_its_subscriptions(
    emulator: ImmEmulator, mns_account: Account, topic: Topic
) -> None:
    make_queue(mns_account, "events")
    topic.get_subscription("s").subscribe(SubscriptionMeta(endpoint(emulator, "events")))
    topic.delete()
    topic.create(TopicMeta())

    assert topic.list_subscription()[0] == []
