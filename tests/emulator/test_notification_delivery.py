"""End to end through both SDKs: an IMM task's notification reaches queues in all three formats.

One topic fans out to three queues, one subscription per NotifyContentFormat. Each queue's
message must have the shape reference/notifications.md describes, carry the section-1 body, and
agree with what GetTask says about the task.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from alibabacloud_imm20200930 import models
from alibabacloud_imm20200930.client import Client
from mns.account import Account
from mns.mns_common import TopicHelper
from mns.queue import QueueMeta
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMeta

from airflow_provider_imm.emulator import DEFAULT_PROJECT, ImmEmulator
from airflow_provider_imm.utils.notification_parsing import NotificationStatus, parse_notification

TOPIC = "imm-events"
FORMATS = ("SIMPLIFIED", "JSON", "XML")
MNS_NS = "{http://mns.aliyuncs.com/doc/v1/}"


@pytest.fixture
def account(emulator: ImmEmulator, mns_account: Account) -> Account:
    topic = mns_account.get_topic(TOPIC)
    topic.create(TopicMeta())
    for fmt in FORMATS:
        queue = f"q-{fmt.lower()}"
        mns_account.get_queue(queue).create(QueueMeta())
        endpoint = TopicHelper.generate_queue_endpoint(emulator.region, emulator.account_id, queue)
        topic.get_subscription(f"sub-{fmt.lower()}").subscribe(
            SubscriptionMeta(endpoint, notify_content_format=fmt)
        )
    return mns_account


def _receive(account: Account, fmt: str) -> str:
    queue = account.get_queue(f"q-{fmt.lower()}")
    queue.set_encoding(False)
    message = queue.receive_message(wait_seconds=10)
    queue.delete_message(message.receipt_handle)
    body = message.message_body
    return body.decode() if isinstance(body, bytes) else body


@pytest.mark.parametrize("status", ["Succeeded", "Failed"])
def test_notification_arrives_in_every_format_and_agrees_with_get_task(
    emulator: ImmEmulator, account: Account, imm_client: Client, status: str
) -> None:
    emulator.oss.put("media", "in/clip.mp4", b"video bytes")
    override = {"duration": 0.1, "status": status}
    if status == "Failed":
        override |= {"code": "InvalidMedia", "message": "the media cannot be decoded"}
    created = imm_client.create_video_label_classification_task(
        models.CreateVideoLabelClassificationTaskRequest(
            project_name=DEFAULT_PROJECT,
            source_uri="oss://media/in/clip.mp4",
            tags={"team": "media"},
            user_data=json.dumps({"imm-emulator": override}),
            notification=models.Notification(mns=models.MNS(topic_name=TOPIC)),
        )
    ).body

    bodies = {fmt: _receive(account, fmt) for fmt in FORMATS}

    # SIMPLIFIED: exactly the body IMM published, the section-1 envelope.
    published = bodies["SIMPLIFIED"]
    envelope = json.loads(published)
    assert envelope["source"] == "acs.imm"
    assert envelope["type"] == "imm:Task:VideoLabelClassification"
    assert envelope["subject"] == (
        f"acs:imm:{emulator.region}:{emulator.account_id}:{DEFAULT_PROJECT}/imm:Task:VideoLabelClassification"
    )
    assert envelope["time"].isdigit()
    content = json.loads(envelope["content"])  # a JSON document serialised into a string

    # JSON: the MNS wrapper with the published body as a string in Message.
    wrapper = json.loads(bodies["JSON"])
    assert set(wrapper) >= {
        "TopicOwner", "TopicName", "Subscriber", "SubscriptionName", "MessageId", "Message",
        "MessageMD5", "MessageTag", "PublishTime",
    }  # fmt: skip
    assert wrapper["TopicName"] == TOPIC and wrapper["SubscriptionName"] == "sub-json"
    assert wrapper["Message"] == published

    # XML: <Notification> with the same fields.
    root = ET.fromstring(bodies["XML"])
    assert root.tag == f"{MNS_NS}Notification"
    assert root.findtext(f"{MNS_NS}TopicName") == TOPIC
    assert root.findtext(f"{MNS_NS}Message") == published

    info = imm_client.get_task(
        models.GetTaskRequest(
            project_name=DEFAULT_PROJECT, task_type="VideoLabelClassification", task_id=created.task_id
        )
    ).body
    assert info.status == status
    assert content["TaskId"] == info.task_id == created.task_id
    assert content["ProjectName"] == DEFAULT_PROJECT and content["TaskType"] == info.task_type
    assert (content["Status"], content["Code"], content["Message"]) == (info.status, info.code, info.message)
    assert content["StartTime"] == info.start_time and content["EndTime"] == info.end_time

    # The provider's parser reads all three the same way.
    parsed = {fmt: parse_notification(body) for fmt, body in bodies.items()}
    for notification in parsed.values():
        assert notification is not None
        assert notification.task_id == created.task_id
        assert notification.project == DEFAULT_PROJECT
        assert notification.task_type == "VideoLabelClassification"
        assert notification.status == NotificationStatus(status)
        assert notification.code == info.code
    assert len({(n.task_id, n.status, n.end_time) for n in parsed.values() if n}) == 1
