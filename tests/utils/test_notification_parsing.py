"""Notification parsing: every body shape of reference/notifications.md, and nothing else."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_imm.utils.notification_parsing import (
    ImmNotification,
    NotificationStatus,
    parse_notification,
    parse_timestamp,
)

# --- Body builders, one per layer of reference/notifications.md -------------------------------------


def imm_payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "ProjectName": "test-project",
        "DatasetName": "",
        "RequestId": "F9F8-REQ",
        "StartTime": "2024-08-20T07:03:07.36Z",
        "EndTime": "2024-08-20T07:03:08.662060377Z",
        "UserData": '{"run": "r1"}',
        "TaskType": "MediaConvert",
        "TaskId": "MediaConvert-db7faf5a-1111",
        "Status": "Succeeded",
        "Code": "",
        "Message": "",
        "EventSourceId": "",
        "Sources": [{"URI": "oss://in/a.mp4"}],
        "Targets": [{"URI": "oss://out/a.ts"}],
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not _DROP}


_DROP = object()


def envelope(payload: dict[str, Any]) -> str:
    """Section 1: ``content`` is the payload serialised into a string."""
    return json.dumps(
        {
            "id": "25E-1uBJUMOshisffTNk8Nr3GIj****",
            "source": "acs.imm",
            "type": f"imm:Task:{payload.get('TaskType')}",
            "subject": "acs:imm:cn-beijing:1234567890:test-project/imm:Task:MediaConvert",
            "time": "1724133063161",
            "content": json.dumps(payload),
        }
    )


def eventbridge(payload: dict[str, Any]) -> str:
    """The EventBridge variant: ``data`` is an object."""
    return json.dumps(
        {
            "id": "25E-1uBJUMOshisffTNk8Nr3GIj****",
            "source": "acs.imm",
            "specversion": "1.0",
            "type": f"imm:Task:{payload.get('TaskType')}",
            "aliyunaccountid": "1234567890",
            "aliyunregionid": "cn-beijing",
            "data": payload,
        }
    )


def flat(payload: dict[str, Any]) -> str:
    return json.dumps(payload)


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def mns_json(body: str, *, as_object: bool = False) -> str:
    message: Any = json.loads(body) if as_object else body
    return json.dumps(
        {
            "TopicOwner": "1234567890",
            "TopicName": "imm-events",
            "Subscriber": "1234567890",
            "SubscriptionName": "airflow",
            "MessageId": "MSG-1",
            "Message": message,
            "MessageMD5": "ABCDEF",
            "MessageTag": "",
            "PublishTime": "1542189080663",
        }
    )


def mns_xml(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Notification xmlns="http://mns.aliyuncs.com/doc/v1/">'
        "<TopicOwner>1234567890</TopicOwner><TopicName>imm-events</TopicName>"
        "<Subscriber>1234567890</Subscriber><SubscriptionName>airflow</SubscriptionName>"
        f"<MessageId>MSG-1</MessageId><Message>{escape(body)}</Message>"
        "<MessageMD5>ABCDEF</MessageMD5><MessageTag></MessageTag><PublishTime>1542189080663</PublishTime>"
        "</Notification>"
    )


PAYLOAD_SHAPES: dict[str, Callable[[dict[str, Any]], str]] = {
    "envelope": envelope,
    "eventbridge": eventbridge,
    "flat": flat,
}
WRAPPERS: dict[str, Callable[[str], str]] = {
    "simplified": lambda body: body,
    "json": mns_json,
    "json-object": lambda body: mns_json(body, as_object=True),
    "json-base64-message": lambda body: mns_json(b64(body)),
    "xml": mns_xml,
    "xml-base64-message": lambda body: mns_xml(b64(body)),
}
OUTER: dict[str, Callable[[str], str | bytes]] = {
    "text": lambda body: body,
    "bytes": lambda body: body.encode("utf-8"),
    "base64-text": b64,
    "base64-bytes": lambda body: b64(body).encode("ascii"),
    "base64-wrapped-lines": lambda body: "\n".join(
        b64(body)[i : i + 76] for i in range(0, len(b64(body)), 76)
    ),
}
COMBINATIONS = list(itertools.product(PAYLOAD_SHAPES, WRAPPERS, OUTER))


def build(payload: dict[str, Any], shape: str, wrapper: str, outer: str) -> str | bytes:
    return OUTER[outer](WRAPPERS[wrapper](PAYLOAD_SHAPES[shape](payload)))


# --- Every documented shape ---------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "wrapper", "outer"), COMBINATIONS)
def test_every_shape_yields_the_same_notification(shape: str, wrapper: str, outer: str) -> None:
    note = parse_notification(build(imm_payload(), shape, wrapper, outer))
    assert note is not None
    assert note.task_id == "MediaConvert-db7faf5a-1111"
    assert note.task_type == "MediaConvert"
    assert note.project == "test-project"
    assert note.status is NotificationStatus.SUCCEEDED and note.succeeded
    assert (note.code, note.message) == ("", "")
    assert note.start_time == datetime(2024, 8, 20, 7, 3, 7, 360000, tzinfo=timezone.utc)
    assert note.end_time == datetime(2024, 8, 20, 7, 3, 8, 662060, tzinfo=timezone.utc)
    assert note.user_data == '{"run": "r1"}'
    assert note.request_id == "F9F8-REQ"
    assert note.payload["Targets"] == [{"URI": "oss://out/a.ts"}]
    assert not note.legacy
    assert note.event_id == (None if shape == "flat" else "25E-1uBJUMOshisffTNk8Nr3GIj****")
    assert note.message_id == (None if wrapper == "simplified" else "MSG-1")


def test_failure_carries_code_and_message() -> None:
    payload = imm_payload(Status="Failed", Code="InvalidArgument", Message="The source is not a video.")
    note = parse_notification(mns_json(envelope(payload)))
    assert note is not None
    assert note.status is NotificationStatus.FAILED and not note.succeeded
    assert (note.code, note.message) == ("InvalidArgument", "The source is not a video.")


def test_payload_event_id_and_tags_are_lifted_when_present() -> None:
    payload = imm_payload(EventId="EV-9", Tags={"dag": "nightly", "n": 3})
    note = parse_notification(envelope(payload))
    assert note is not None
    assert note.event_id == "EV-9"
    assert note.tags == {"dag": "nightly"}


def test_missing_optional_fields_have_defaults() -> None:
    payload = {"TaskId": "T-1", "Status": "Failed"}
    note = parse_notification(json.dumps(payload))
    assert note == ImmNotification(
        task_id="T-1", task_type=None, project=None, status=NotificationStatus.FAILED
    )
    assert note is not None and note.user_data is None and note.start_time is None


def test_body_serialised_twice_is_understood() -> None:
    body = envelope(imm_payload())
    assert parse_notification(json.dumps(body)) == parse_notification(body)


def test_byte_order_mark_and_surrounding_whitespace() -> None:
    body = "\ufeff \n" + envelope(imm_payload()) + "\n "
    assert parse_notification(body) == parse_notification(envelope(imm_payload()))
    assert parse_notification(body.encode("utf-8")) is not None


def test_xml_message_id_without_namespace_and_with_cdata() -> None:
    cdata = f"<![CDATA[{envelope(imm_payload())}]]>"
    body = f"<Notification><MessageId>M2</MessageId><Message>{cdata}</Message></Notification>"
    note = parse_notification(body)
    assert note is not None and note.message_id == "M2"


def test_duplicates_compare_equal_and_records_are_frozen() -> None:
    first = parse_notification(mns_json(envelope(imm_payload())))
    second = parse_notification(mns_json(envelope(imm_payload())))
    assert first is not None and first == second and hash(first) == hash(second)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.task_id = "other"  # type: ignore[misc]


# --- The 2017 API's message -------------------------------------------------------------------------


def legacy(code: str = "NoError", task_id: str = "723f6489-2e91-4475-93a2-41bbedf76d1f") -> dict[str, Any]:
    return {
        "Message": {
            "events": [
                {
                    "eventName": "FormatConvertJob:JobFinished",
                    "eventSource": "acs:imm",
                    "eventTime": "2018-11-14T09:51:20.342Z",
                    "eventVersion": "1.0",
                    "imm": {"code": code, "pageCount": "5", "percent": "100", "taskId": task_id},
                }
            ]
        },
        "MessageId": "MSG-V1",
        "MessageMD5": "...",
        "PublishTime": "1542189080663",
        "TopicName": "imm-v1",
    }


def test_legacy_success_is_matched_by_task_id_only() -> None:
    note = parse_notification(json.dumps(legacy()))
    assert note is not None
    assert note.legacy
    assert note.task_id == "723f6489-2e91-4475-93a2-41bbedf76d1f"
    assert (note.task_type, note.project) == (None, None)
    assert note.status is NotificationStatus.SUCCEEDED and note.code == ""
    assert note.end_time == datetime(2018, 11, 14, 9, 51, 20, 342000, tzinfo=timezone.utc)
    assert note.message_id == "MSG-V1"


def test_legacy_failure_keeps_its_code() -> None:
    note = parse_notification(b64(json.dumps(legacy(code="ConvertError"))))
    assert note is not None and note.status is NotificationStatus.FAILED and note.code == "ConvertError"


def test_legacy_with_message_as_a_string_and_in_xml() -> None:
    inner = json.dumps(legacy()["Message"])
    assert parse_notification(mns_json(inner)) is not None
    assert parse_notification(mns_xml(inner)) is not None


@pytest.mark.parametrize(
    "events",
    [
        [],
        [{"imm": {"code": "NoError"}}],
        [{"imm": {"taskId": "t"}}],
        [{"eventSource": "acs:mts", "imm": {}}],
        "x",
    ],
)
def test_legacy_without_a_usable_event(events: Any) -> None:
    assert parse_notification(json.dumps({"Message": {"events": events}, "MessageId": "m"})) is None


# --- What does not belong -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "null",
        "42",
        "[]",
        '"just a string"',
        "hello world",
        '{"TaskId": "T-1"}',
        json.dumps(imm_payload(Status="Running")),
        json.dumps(imm_payload(Status="Cancelled")),
        json.dumps(imm_payload(Status=None)),
        json.dumps(imm_payload(TaskId="")),
        json.dumps(imm_payload(TaskId=123)),
        json.dumps(imm_payload(TaskId=_DROP)),
        envelope(imm_payload(TaskId=_DROP)),
        envelope(imm_payload(Status="Queued")),
        json.dumps({"source": "acs.oss", "type": "oss:ObjectCreated:PutObject", "data": imm_payload()}),
        json.dumps({"source": "acs.imm", "type": "imm:Task:MediaConvert", "content": "not json"}),
        json.dumps({"source": "acs.imm", "content": "[1, 2]"}),
        json.dumps({"source": "acs.imm", "content": 42}),
        json.dumps({"id": "x", "type": "mns:Topic:SendMessage", "data": {"messageBody": "hi"}}),
        mns_json("not json at all"),
        mns_json("{truncated"),
        mns_json(b64("plain words")),
        json.dumps({"Message": None, "MessageId": "m"}),
        mns_xml("<<<"),
        '<Notification xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageId>m</MessageId></Notification>',
        f"<Other><Message>{escape(envelope(imm_payload()))}</Message></Other>",
        "<Notification><Message>",
        b64("hello world, this is not an IMM message"),
        "eyJ",  # base64 of a truncated '{"'
    ],
)
def test_not_an_imm_notification(body: str) -> None:
    assert parse_notification(body) is None


@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage", bytes(range(256)), b"\x80"])
def test_non_utf8_bytes(body: bytes) -> None:
    assert parse_notification(body) is None


def test_non_text_input_is_not_a_notification() -> None:
    assert parse_notification(None) is None  # type: ignore[arg-type]
    assert parse_notification(12) is None  # type: ignore[arg-type]


def test_deep_nesting_does_not_overflow() -> None:
    assert parse_notification("[" * 100_000) is None
    assert parse_notification('{"a":' * 100_000) is None
    deep = envelope(imm_payload())
    for _ in range(20):
        deep = b64(deep)
    assert parse_notification(deep) is None  # beyond any real wrapping depth


def test_xml_entity_declarations_are_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<Notification><Message>&lol2;</Message></Notification>"
    )
    assert parse_notification(bomb) is None


def test_other_producer_with_the_same_field_names_in_its_own_envelope() -> None:
    body = json.dumps({"source": "acs.mts", "content": json.dumps(imm_payload())})
    assert parse_notification(body) is None
    assert parse_notification(json.dumps({"type": "mts:Job", "data": imm_payload()})) is None


# --- base64 detection -------------------------------------------------------------------------------


def test_plain_json_whose_values_look_like_base64_is_read_as_json() -> None:
    payload = imm_payload(TaskId="QUJDRA==", UserData="eyJhIjogMX0=")
    note = parse_notification(flat(payload))
    assert note is not None and note.task_id == "QUJDRA==" and note.user_data == "eyJhIjogMX0="


def test_url_safe_base64_is_accepted() -> None:
    # '?' and '>' make the standard alphabet emit '/' and '+', which the URL-safe one writes as '_' and '-'.
    body = envelope(imm_payload(UserData="???>>>"))
    encoded = base64.urlsafe_b64encode(body.encode()).decode()
    assert "-" in encoded or "_" in encoded
    assert parse_notification(encoded) == parse_notification(body)


@pytest.mark.parametrize("body", ["QUJD", "QUJDRA==", "////", "AAAA", "QUJDRA=", "QUJDRA==="])
def test_base64_of_something_else_is_not_a_notification(body: str) -> None:
    assert parse_notification(body) is None


# --- Timestamps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-12-24T03:01:41.662060377Z", datetime(2021, 12, 24, 3, 1, 41, 662060, tzinfo=timezone.utc)),
        ("2024-08-20T07:03:07.36Z", datetime(2024, 8, 20, 7, 3, 7, 360000, tzinfo=timezone.utc)),
        ("2024-08-20T07:03:07.999999999Z", datetime(2024, 8, 20, 7, 3, 7, 999999, tzinfo=timezone.utc)),
        ("2024-08-20T07:03:07Z", datetime(2024, 8, 20, 7, 3, 7, tzinfo=timezone.utc)),
        ("2024-08-20T07:03:07", datetime(2024, 8, 20, 7, 3, 7, tzinfo=timezone.utc)),
        ("2024-08-20 07:03:07.5+08:00", datetime(2024, 8, 19, 23, 3, 7, 500000, tzinfo=timezone.utc)),
        ("2024-08-20T07:03:07-0530", datetime(2024, 8, 20, 12, 33, 7, tzinfo=timezone.utc)),
    ],
)
def test_timestamps(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed is not None and parsed.tzinfo is not None
    assert parsed == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-08-20T25:00:00Z",
        "2024-08-20T07:03:07.1234567890Z",
        "2024-08-20T07:03:07+24:00",
        "1724133063161",
        None,
        1724133063161,
    ],
)
def test_bad_timestamps(text: object) -> None:
    assert parse_timestamp(text) is None


def test_bad_time_does_not_lose_the_notification() -> None:
    note = parse_notification(envelope(imm_payload(StartTime="soon", EndTime=17)))
    assert note is not None and note.start_time is None and note.end_time is None


@settings(max_examples=200)
@given(st.datetimes(timezones=st.just(timezone.utc)), st.integers(0, 999))
def test_nanosecond_timestamps_truncate_to_microseconds(when: datetime, nanos: int) -> None:
    text = when.replace(tzinfo=None).isoformat(timespec="microseconds") + f"{nanos:03d}Z"
    assert parse_timestamp(text) == when


@settings(max_examples=100)
@given(st.datetimes(), st.integers(-23 * 60, 23 * 60))
def test_offsets_are_honoured(when: datetime, minutes: int) -> None:
    sign = "-" if minutes < 0 else "+"
    text = when.isoformat(timespec="microseconds") + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    expected = when.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    assert parse_timestamp(text) == expected


# --- Properties ---------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_ID = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(lambda s: s == s.strip())
_SHAPES = st.sampled_from(COMBINATIONS)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    _SHAPES,
    _ID,
    st.sampled_from(["MediaConvert", "OfficeConversion", "FaceClustering", "PointCloudCompress"]),
    _TEXT,
    st.sampled_from(["Succeeded", "Failed"]),
    _TEXT,
    _TEXT,
    _TEXT,
)
def test_fields_survive_every_shape(
    combo: tuple[str, str, str],
    task_id: str,
    task_type: str,
    project: str,
    status: str,
    code: str,
    message: str,
    user_data: str,
) -> None:
    payload = imm_payload(
        TaskId=task_id, TaskType=task_type, ProjectName=project, Status=status, Code=code, Message=message,
        UserData=user_data,
    )  # fmt: skip
    note = parse_notification(build(payload, *combo))
    assert note is not None
    assert (note.task_id, note.task_type, note.status.value) == (task_id, task_type, status)
    assert note.project == (project or None)
    assert (note.code, note.message, note.user_data) == (code, message, user_data)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(_SHAPES)
def test_base64_never_changes_the_answer(combo: tuple[str, str, str]) -> None:
    shape, wrapper, _outer = combo
    plain = WRAPPERS[wrapper](PAYLOAD_SHAPES[shape](imm_payload()))
    assert parse_notification(b64(plain)) == parse_notification(plain) != None  # noqa: E711


def _bodies() -> st.SearchStrategy[str]:
    def render(combo: tuple[str, str, str], status: str) -> str:
        body = build(imm_payload(Status=status), *combo)
        return body.decode("utf-8") if isinstance(body, bytes) else body

    return st.builds(render, _SHAPES, st.sampled_from(["Succeeded", "Failed"])).map(str.strip)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies(), st.data())
def test_every_strict_prefix_of_a_body_is_rejected(body: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(body) - 1))
    prefix = body[:cut]
    # A base64 prefix that happens to end on a 4-character boundary decodes to a JSON prefix: still rejected.
    assert parse_notification(prefix) is None


_MUTATIONS = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 20)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.text(max_size=5)),
    st.tuples(st.just("replace"), st.integers(0, 10_000), st.characters()),
    st.tuples(
        st.just("swap-quote"), st.integers(0, 10_000), st.sampled_from(['"', "\\", "{", "}", "<", "="])
    ),
)


def _mutate(body: str, mutations: list[tuple[str, int, Any]]) -> str:
    for kind, position, arg in mutations:
        at = position % (len(body) + 1)
        if kind == "delete":
            body = body[:at] + body[at + arg :]
        elif kind == "insert":
            body = body[:at] + arg + body[at:]
        else:
            body = body[:at] + arg + body[at + 1 :]
    return body


def _sane(note: ImmNotification | None) -> bool:
    return note is None or (
        isinstance(note.task_id, str)
        and bool(note.task_id)
        and isinstance(note.status, NotificationStatus)
        and isinstance(note.code, str)
        and isinstance(note.message, str)
        and (note.start_time is None or note.start_time.tzinfo is not None)
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies(), st.lists(_MUTATIONS, min_size=1, max_size=4))
def test_mutated_bodies_never_raise(body: str, mutations: list[tuple[str, int, Any]]) -> None:
    mutated = _mutate(body, mutations)
    assert _sane(parse_notification(mutated))
    assert _sane(parse_notification(mutated.encode("utf-8", "surrogatepass")))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        ["TaskId", "Status", "TaskType", "ProjectName", "Code", "Message", "StartTime", "UserData", "Tags"]
    ),
    _JSON,
    st.sampled_from(list(PAYLOAD_SHAPES)),
    st.sampled_from(list(WRAPPERS)),
)
def test_any_value_in_any_payload_field_never_raises(
    field: str, value: Any, shape: str, wrapper: str
) -> None:
    note = parse_notification(build(imm_payload(**{field: value}), shape, wrapper, "text"))
    assert _sane(note)
    if field == "TaskId" and not (isinstance(value, str) and value):
        assert note is None
    if field == "Status" and value not in (
        "Succeeded",
        "Failed",
        "succeeded",
        "failed",
        "SUCCEEDED",
        "FAILED",
    ):
        assert note is None


@settings(max_examples=500)
@given(st.one_of(st.text(), st.binary()))
@example("{")
@example("<")
@example('"')
@example("<Notification><Message>e30=</Message></Notification>")
@example(b"\xef\xbb\xbf")
def test_arbitrary_input_never_raises(body: str | bytes) -> None:
    assert _sane(parse_notification(body))


@settings(max_examples=300)
@given(_JSON)
def test_arbitrary_json_never_raises(value: Any) -> None:
    assert _sane(parse_notification(json.dumps(value)))
    assert _sane(parse_notification(mns_json(json.dumps(value))))
    assert _sane(parse_notification(json.dumps({"source": "acs.imm", "content": json.dumps(value)})))
