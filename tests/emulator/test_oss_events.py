"""OSS event notifications: a rule publishes OSS's event message to its MNS topic exactly once per
matching write or delete, whatever made it, and the official MNS SDK receives it in each
subscription format (SIMPLIFIED, JSON, XML)."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import alibabacloud_oss_v2 as oss
import pytest
from alibabacloud_imm20200930.client import Client
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Queue, QueueMeta
from mns.subscription import SubscriptionMeta

from airflow_provider_imm.emulator import ImmEmulator
from airflow_provider_imm.emulator.oss_events import MAX_RULES, OssEventRuleError
from airflow_provider_imm.utils.timestamps import parse_timestamp
from tests.emulator.test_imm_tasks import create, wait
from tests.minimal_requests import put_sources
from tests.sdk_clients import oss_client_for

FORMATS = ("SIMPLIFIED", "JSON", "XML")
TOPIC = "oss-events"
MNS_NS = "{http://mns.aliyuncs.com/doc/v1/}"


def _parsed(text: str) -> datetime:
    """OSS's eventTime ("...Z"), which Python 3.10's fromisoformat does not read."""
    parsed = parse_timestamp(text)
    assert parsed is not None, text
    return parsed


@dataclass
class Watcher:
    """A queue subscribed to :data:`TOPIC` in one content format, read through the MNS SDK."""

    queue: Queue
    content_format: str
    emulator: ImmEmulator

    def events(self) -> list[dict[str, Any]]:
        """Every OSS event in the queue (deleted once read), checked against the documented shape."""
        events: list[dict[str, Any]] = []
        while True:
            try:
                messages = self.queue.batch_receive_message(16, 0)
            except MNSServerException as err:
                assert err.type == "MessageNotExist", err
                return events
            for message in messages:
                body = self._published(message.message_body)
                document = json.loads(base64.b64decode(body, validate=True))
                (event,) = document["events"]
                check_shape(event, self.emulator)
                events.append(event)
                self.queue.delete_message(message.receipt_handle)

    def keys(self) -> list[tuple[str, str]]:
        return [(e["eventName"], e["oss"]["object"]["key"]) for e in self.events()]

    def _published(self, body: str) -> str:
        """The body the rule published, out of the subscription's envelope (whose every field
        ``test_mns_topics`` checks)."""
        if self.content_format == "SIMPLIFIED":
            return body
        if self.content_format == "JSON":
            envelope = json.loads(body)
        else:
            root = ElementTree.fromstring(body)
            assert root.tag == f"{MNS_NS}Notification"
            envelope = {child.tag.removeprefix(MNS_NS): child.text or "" for child in root}
        assert envelope["TopicName"] == TOPIC
        assert envelope["MessageMD5"] == hashlib.md5(envelope["Message"].encode()).hexdigest().upper()
        return str(envelope["Message"])


def check_shape(event: dict[str, Any], emulator: ImmEmulator) -> None:
    """The documented OSS event (``../shared/reference/oss.md``), with this emulator's region and account."""
    region, uid = emulator.region, emulator.account_id
    bucket = event["oss"]["bucket"]["name"]
    assert set(event) == {
        "eventName",
        "eventSource",
        "eventTime",
        "eventVersion",
        "oss",
        "region",
        "requestParameters",
        "responseElements",
        "userIdentity",
    }
    assert (event["eventSource"], event["eventVersion"], event["region"]) == ("acs:oss", "1.0", region)
    assert event["oss"]["bucket"] == {
        "arn": f"acs:oss:{region}:{uid}:{bucket}",
        "name": bucket,
        "ownerIdentity": uid,
    }
    assert set(event["oss"]["object"]) == {"key", "size", "eTag", "deltaSize"}
    assert event["oss"]["ossSchemaVersion"] == "1.0" and event["oss"]["ruleId"]
    assert event["userIdentity"] == {"principalId": uid}
    assert event["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    assert event["responseElements"]["requestId"]
    assert abs(_parsed(event["eventTime"]).timestamp() - emulator.clock.time()) < 60


@pytest.fixture(params=FORMATS)
def content_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def watch(emulator: ImmEmulator, mns_account: Account, content_format: str) -> Callable[..., Watcher]:
    """``watch(**rule)``: add the rule ``name="watched"`` publishing to :data:`TOPIC`, and a queue
    subscribed to that topic in ``content_format``."""

    def make(**rule: Any) -> Watcher:
        emulator.add_oss_event_rule(rule.pop("name", "watched"), topic=TOPIC, **rule)
        queue = mns_account.get_queue("oss-watch")
        queue.create(QueueMeta())
        queue.set_encoding(False)
        subscription = mns_account.get_topic(TOPIC).get_subscription("watch")
        endpoint = emulator.mns.queue_endpoint("oss-watch")
        subscription.subscribe(SubscriptionMeta(endpoint, notify_content_format=content_format))
        return Watcher(queue, content_format, emulator)

    return make


def admin(emulator: ImmEmulator, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"{emulator.url}/_emulator/{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def upload(emulator: ImmEmulator, bucket: str, key: str, data: bytes) -> None:
    assert admin(emulator, "PUT", f"oss/{bucket}/{key}", data)[0] == 201


def remove(emulator: ImmEmulator, bucket: str, key: str) -> None:
    assert admin(emulator, "DELETE", f"oss/{bucket}/{key}")[0] == 200


# Writes through the admin API
def test_admin_uploads_fire_once_per_matching_write_and_never_outside_the_rule(
    emulator: ImmEmulator, watch: Callable[..., Watcher]
) -> None:
    watcher = watch(bucket="docs", prefix="inbox/", suffix=".docx")

    upload(emulator, "docs", "inbox/a.docx", b"first")
    upload(emulator, "docs", "inbox/sub/b.docx", b"second")
    upload(emulator, "docs", "inbox/a.docx", b"overwritten")  # a second write: a second event
    upload(emulator, "docs", "inbox/a.pdf", b"suffix outside")
    upload(emulator, "docs", "outbox/a.docx", b"prefix outside")
    upload(emulator, "docs", "inbox.docx", b"prefix outside")
    upload(emulator, "other-bucket", "inbox/a.docx", b"bucket outside")

    events = watcher.events()
    assert [(e["eventName"], e["oss"]["object"]["key"]) for e in events] == [
        ("ObjectCreated:PutObject", "inbox/a.docx"),
        ("ObjectCreated:PutObject", "inbox/sub/b.docx"),
        ("ObjectCreated:PutObject", "inbox/a.docx"),
    ]
    last = events[-1]["oss"]
    assert last["object"]["size"] == last["object"]["deltaSize"] == len(b"overwritten")
    assert last["object"]["eTag"] == hashlib.md5(b"overwritten").hexdigest().upper()
    assert last["ruleId"] == "watched"


def test_deletes_fire_for_a_rule_naming_them_and_not_for_one_naming_creations_only(
    emulator: ImmEmulator, watch: Callable[..., Watcher]
) -> None:
    watcher = watch(bucket="docs", prefix="inbox/", events=["ObjectRemoved:DeleteObject"])
    emulator.add_oss_event_rule("creations", topic="other-topic", bucket="docs", events=["ObjectCreated:*"])

    upload(emulator, "docs", "inbox/a.docx", b"x")  # a creation: not named by the watched rule
    upload(emulator, "docs", "outbox/a.docx", b"x")
    remove(emulator, "docs", "inbox/a.docx")
    remove(emulator, "docs", "inbox/a.docx")  # gone already: nothing changes, nothing is published
    remove(emulator, "docs", "outbox/a.docx")

    events = watcher.events()
    assert [(e["eventName"], e["oss"]["object"]["key"]) for e in events] == [
        ("ObjectRemoved:DeleteObject", "inbox/a.docx")
    ]
    assert events[0]["oss"]["object"] == {"key": "inbox/a.docx", "size": 0, "eTag": "", "deltaSize": 0}
    assert not emulator.oss.exists("docs", "inbox/a.docx")


# Writes by IMM tasks
def test_imm_task_outputs_fire_once_per_output_in_the_rule(
    emulator: ImmEmulator, imm_client: Client, watch: Callable[..., Watcher]
) -> None:
    put_sources(emulator)
    emulator.oss.put("in-bucket", "set/a.txt", b"alpha")
    emulator.oss.put("in-bucket", "set/inner.zip", b"not really a zip")
    watcher = watch(bucket="out-bucket", prefix="archives/", suffix=".zip")

    compress = {
        "Sources": [{"URI": "oss://in-bucket/set/"}],
        "TargetURI": "oss://out-bucket/archives/set.zip",
    }
    assert wait(imm_client, create(imm_client, "CreateFileCompressionTask", compress)).status == "Succeeded"
    archive = emulator.oss.get("out-bucket", "archives/set.zip")
    # Two outputs, one within the rule; then two outside its prefix.
    within = {"SourceURI": "oss://out-bucket/archives/set.zip", "TargetURI": "oss://out-bucket/archives/x/"}
    outside = {"SourceURI": "oss://out-bucket/archives/set.zip", "TargetURI": "oss://out-bucket/restored/"}
    for fields in (within, outside):
        assert (
            wait(imm_client, create(imm_client, "CreateFileUncompressionTask", fields)).status == "Succeeded"
        )
    assert emulator.oss.list("out-bucket", "archives/x/") == ["archives/x/a.txt", "archives/x/inner.zip"]
    assert emulator.oss.list("out-bucket", "restored/") == ["restored/a.txt", "restored/inner.zip"]

    events = watcher.events()
    assert [(e["eventName"], e["oss"]["object"]["key"]) for e in events] == [
        ("ObjectCreated:PutObject", "archives/set.zip"),
        ("ObjectCreated:PutObject", "archives/x/inner.zip"),
    ]
    assert events[0]["oss"]["object"]["size"] == len(archive)
    assert events[0]["oss"]["object"]["eTag"] == hashlib.md5(archive).hexdigest().upper()


def test_event_time_is_the_emulators_clock(emulator: ImmEmulator, watch: Callable[..., Watcher]) -> None:
    watcher = watch(bucket="docs")
    emulator.clock.advance(3 * 86400)

    upload(emulator, "docs", "a.txt", b"x")

    (event,) = watcher.events()  # check_shape compares eventTime with the advanced clock
    assert _parsed(event["eventTime"]).timestamp() > emulator.clock.time() - 60


def test_a_rule_without_base64_publishes_the_json_as_is(
    emulator: ImmEmulator, mns_account: Account, content_format: str
) -> None:
    emulator.add_oss_event_rule("raw", topic=TOPIC, bucket="docs", base64=False)
    queue = mns_account.get_queue("raw")
    queue.create(QueueMeta())
    queue.set_encoding(False)
    subscription = mns_account.get_topic(TOPIC).get_subscription("raw")
    subscription.subscribe(
        SubscriptionMeta(emulator.mns.queue_endpoint("raw"), notify_content_format=content_format)
    )

    upload(emulator, "docs", "a.txt", b"x")

    body = queue.receive_message(0).message_body
    published = Watcher(queue, content_format, emulator)._published(body)
    (event,) = json.loads(published)["events"]
    check_shape(event, emulator)
    assert event["oss"]["object"]["key"] == "a.txt"


# Writes through OSS's REST API (the unchanged alibabacloud-oss-v2 client)
PROCESS_STATUS_HEADER = "x-oss-process-status"


def processed(result: Any) -> bool:
    """Whether OSS said the request matched a rule (the documented header, decoded)."""
    value = result.headers.get(PROCESS_STATUS_HEADER)
    if value is None:
        return False
    assert json.loads(base64.b64decode(value)) == {
        "code": "Success",
        "message": "NotificationSucceed",
        "type": "EventNotification",
        "version": "1.0",
    }
    return True


def test_oss_api_puts_copies_multipart_completes_and_deletes_fire_once_each(
    emulator: ImmEmulator, watch: Callable[..., Watcher]
) -> None:
    client = oss_client_for(emulator)
    client.put_bucket(oss.PutBucketRequest(bucket="docs"))
    watcher = watch(
        bucket="docs", prefix="inbox/", suffix=".docx", events=["ObjectCreated:*", "ObjectRemoved:*"]
    )

    def put(key: str, data: bytes) -> bool:
        return processed(client.put_object(oss.PutObjectRequest(bucket="docs", key=key, body=data)))

    def copy(source: str, key: str) -> bool:
        request = oss.CopyObjectRequest(bucket="docs", key=key, source_bucket="docs", source_key=source)
        return processed(client.copy_object(request))

    def multipart(key: str, parts: list[bytes]) -> bool:
        upload_id = client.initiate_multipart_upload(
            oss.InitiateMultipartUploadRequest(bucket="docs", key=key)
        ).upload_id
        uploaded = []
        for number, data in enumerate(parts, 1):
            result = client.upload_part(
                oss.UploadPartRequest(
                    bucket="docs", key=key, upload_id=upload_id, part_number=number, body=data
                )
            )
            uploaded.append(oss.UploadPart(part_number=number, etag=result.etag))
        completed = client.complete_multipart_upload(
            oss.CompleteMultipartUploadRequest(
                bucket="docs",
                key=key,
                upload_id=upload_id,
                complete_multipart_upload=oss.CompleteMultipartUpload(parts=uploaded),
            )
        )
        return processed(completed)

    assert put("inbox/a.docx", b"alpha") is True
    assert put("outbox/a.docx", b"outside") is False
    assert put("inbox/a.pdf", b"outside") is False
    assert copy("inbox/a.docx", "inbox/b.docx") is True
    assert copy("inbox/a.docx", "outbox/b.docx") is False
    assert multipart("inbox/big.docx", [b"p" * (100 * 1024), b"q" * 10]) is True
    assert multipart("outbox/big.docx", [b"p" * 10]) is False
    assert processed(client.delete_object(oss.DeleteObjectRequest(bucket="docs", key="inbox/a.docx"))) is True
    assert (
        processed(client.delete_object(oss.DeleteObjectRequest(bucket="docs", key="outbox/a.docx"))) is False
    )
    keys = ["inbox/b.docx", "inbox/big.docx", "outbox/b.docx"]
    deleted = client.delete_multiple_objects(
        oss.DeleteMultipleObjectsRequest(
            bucket="docs", delete=oss.Delete(objects=[oss.ObjectIdentifier(key=k) for k in keys])
        )
    )
    assert processed(deleted) is True

    events = watcher.events()
    assert [(e["eventName"], e["oss"]["object"]["key"]) for e in events] == [
        ("ObjectCreated:PutObject", "inbox/a.docx"),
        ("ObjectCreated:CopyObject", "inbox/b.docx"),
        ("ObjectCreated:CompleteMultipartUpload", "inbox/big.docx"),
        ("ObjectRemoved:DeleteObject", "inbox/a.docx"),
        ("ObjectRemoved:DeleteObjects", "inbox/b.docx"),
        ("ObjectRemoved:DeleteObjects", "inbox/big.docx"),
    ]
    big = events[2]["oss"]["object"]
    assert big["size"] == 100 * 1024 + 10


def test_oss_api_writes_outside_a_rules_event_names_fire_nothing(
    emulator: ImmEmulator, watch: Callable[..., Watcher]
) -> None:
    client = oss_client_for(emulator)
    client.put_bucket(oss.PutBucketRequest(bucket="docs"))
    watcher = watch(bucket="docs", events=["ObjectCreated:CopyObject"])

    put = client.put_object(oss.PutObjectRequest(bucket="docs", key="a.docx", body=b"x"))
    deleted = client.delete_object(oss.DeleteObjectRequest(bucket="docs", key="a.docx"))

    assert not processed(put) and not processed(deleted)
    assert watcher.events() == []


# Rules from the Python API
def test_python_api_adds_lists_and_removes_rules(emulator: ImmEmulator) -> None:
    rule = emulator.add_oss_event_rule("r1", topic="t1", bucket="docs", events=["ObjectCreated:*"])

    assert emulator.oss_event_rules() == [rule]
    assert "t1" in emulator.mns.store.topics  # made for the rule, as MNS does
    assert emulator.oss.put("docs", "a", b"x") is True  # matched: the OSS API says so in a header
    assert emulator.remove_oss_event_rule("r1") is True
    assert emulator.remove_oss_event_rule("r1") is False
    assert emulator.oss.put("docs", "a", b"x") is False
    assert emulator.oss_event_rules() == []


def test_a_rule_whose_topic_was_deleted_still_matches_and_the_write_succeeds(
    emulator: ImmEmulator, mns_account: Account
) -> None:
    emulator.add_oss_event_rule("r1", topic="gone", bucket="docs")
    mns_account.get_topic("gone").delete()

    upload(emulator, "docs", "a.txt", b"x")

    assert emulator.oss.get("docs", "a.txt") == b"x"
    assert emulator.oss.put("docs", "b.txt", b"y") is True


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"topic": "-t"}, "topic"),
        ({"bucket": "Docs"}, "bucket"),
        ({"events": ["ObjectCreated"]}, "events"),
        ({"events": "ObjectCreated:*"}, "events"),
        ({"prefix": None}, "prefix"),
    ],
)
def test_python_api_names_the_bad_field(emulator: ImmEmulator, fields: dict[str, Any], field: str) -> None:
    rule: dict[str, Any] = {"name": "r1", "topic": "t1", "bucket": "docs", **fields}
    with pytest.raises(OssEventRuleError, match=f"^{field}: ") as raised:
        emulator.add_oss_event_rule(rule.pop("name"), **rule)
    assert raised.value.field == field
    assert emulator.oss_event_rules() == []


def test_a_rule_name_is_taken_once_and_a_region_holds_ten_rules(emulator: ImmEmulator) -> None:
    for n in range(MAX_RULES):
        emulator.add_oss_event_rule(f"r{n}", topic="t", bucket="docs")

    with pytest.raises(OssEventRuleError, match="exists; remove it first"):
        emulator.add_oss_event_rule("r0", topic="t", bucket="docs")
    with pytest.raises(OssEventRuleError, match=f"{MAX_RULES} rules"):
        emulator.add_oss_event_rule("r10", topic="t", bucket="docs")


# Rules from the admin API
def test_admin_api_adds_lists_and_removes_rules(emulator: ImmEmulator) -> None:
    rule = {"name": "r1", "topic": "t1", "bucket": "docs", "prefix": "inbox/", "events": ["ObjectCreated:*"]}

    status, created = admin(emulator, "POST", "oss-event-rules", json.dumps(rule).encode())

    assert status == 201
    assert created == {"rule": {**rule, "suffix": "", "base64": True}}
    assert admin(emulator, "GET", "oss-event-rules") == (200, {"rules": [created["rule"]]})
    assert emulator.oss.put("docs", "inbox/a", b"x") is True
    assert admin(emulator, "DELETE", "oss-event-rules/r1") == (200, {"removed": "r1"})
    assert admin(emulator, "DELETE", "oss-event-rules/r1") == (404, {"error": "no OSS event rule named 'r1'"})
    assert admin(emulator, "GET", "oss-event-rules") == (200, {"rules": []})


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "the body is not JSON"),
        (b"[1]", "must be a JSON object"),
        (b"{}", "name: is required"),
        (b'{"name": "r", "topic": "t"}', "bucket: is required"),
        (b'{"name": "r", "topic": "t", "bucket": "docs", "bukket": 1}', "'bukket': unknown field"),
        (b'{"name": "r", "topic": "t", "bucket": "docs", "events": ["Put"]}', "events: 'Put' is not"),
        (b'{"name": "r", "topic": "t", "bucket": "docs", "base64": "no"}', "base64: 'no' is not true"),
        (b'{"name": 5, "topic": "t", "bucket": "docs"}', "name: 5 is not valid"),
    ],
)
def test_admin_api_refuses_a_bad_rule_naming_the_field(emulator: ImmEmulator, body: bytes, says: str) -> None:
    status, answer = admin(emulator, "POST", "oss-event-rules", body)

    assert status == 400
    assert says in answer["error"]
    assert emulator.oss_event_rules() == []


# Rules from the command line
def test_the_command_takes_rules_and_refuses_a_bad_one_naming_the_field(tmp_path: Any) -> None:
    spec = (
        "name=uploads,topic=oss-events,bucket=docs,prefix=inbox/,"
        "events=ObjectCreated:*,events=ObjectRemoved:*"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_imm.emulator",
            "--root",
            str(tmp_path),
            "--oss-event-rule",
            spec,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = json.loads(process.stdout.readline())["url"]
        with urllib.request.urlopen(f"{url}/_emulator/oss-event-rules", timeout=10) as response:
            rules = json.load(response)["rules"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert rules == [
        {
            "name": "uploads",
            "topic": "oss-events",
            "bucket": "docs",
            "prefix": "inbox/",
            "suffix": "",
            "events": ["ObjectCreated:*", "ObjectRemoved:*"],
            "base64": True,
        }
    ]

    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_imm.emulator",
            "--oss-event-rule",
            "name=u,topic=t,bucket=docs,evnts=x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "--oss-event-rule 'evnts': unknown field" in bad.stderr
    assert "e.g. name=uploads,topic=oss-events" in bad.stderr
