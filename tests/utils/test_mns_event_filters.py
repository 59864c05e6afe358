"""Watcher filters as pure logic: each kind selects exactly what a plain statement of its rule does,
through every wrapper a topic delivers in; bodies never make it raise; bad fields are named."""

from __future__ import annotations

import base64
import fnmatch
import json
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_imm.utils.mns_event_filters import MAX_BODY_CHARS, EventFilter, EventFilterError
from tests.utils.fuzz import CHARACTERS

NAMES = ["ObjectCreated:PutObject", "ObjectCreated:CopyObject", "ObjectRemoved:DeleteObject"]
PATTERNS = ["ObjectCreated:*", "ObjectRemoved:*", *NAMES]
KEY_PARTS = st.sampled_from(["inbox/", "out/", "a", "b.docx", ".pdf", "x/y", "é", "*"])
KEYS = st.lists(KEY_PARTS, min_size=1, max_size=5).map("".join)


def wrap(body: str, how: str) -> str:
    """``body`` as a topic may deliver it."""
    if how == "base64":
        return base64.b64encode(body.encode()).decode()
    if how == "json":
        return json.dumps({"TopicOwner": "1", "TopicName": "t", "Message": body, "MessageId": "M"})
    if how == "xml":
        return f"<Notification><MessageId>M</MessageId><Message>{escape(body)}</Message></Notification>"
    return body


WRAPS = st.sampled_from(["plain", "base64", "json", "xml"])
#: JSON with the keys the parsers look for, in any arrangement.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(CHARACTERS, max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["events", "eventSource", "eventName", "oss", "bucket", "object", "key", "name"])
            | st.sampled_from(["Message", "TaskId", "Status", "content", "data"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def oss_message(bucket: str, key: str, event: str) -> str:
    return json.dumps(
        {
            "events": [
                {
                    "eventName": event,
                    "eventSource": "acs:oss",
                    "eventTime": "2026-11-29T12:00:00.000Z",
                    "oss": {"bucket": {"name": bucket}, "object": {"key": key, "size": 7, "eTag": "ET"}},
                }
            ]
        }
    )


def expected_oss(f: dict[str, Any], bucket: str, key: str, event: str) -> bool:
    """The rule, stated plainly."""
    events = f.get("events", ["ObjectCreated:*"])
    return (
        (f.get("bucket") in (None, bucket))
        and key.startswith(f.get("prefix", ""))
        and key.endswith(f.get("suffix", ""))
        and (f.get("glob") is None or fnmatch.fnmatchcase(key, f["glob"]))
        and any(p == event or (p.endswith(":*") and event.split(":")[0] == p[:-2]) for p in events)
    )


OSS_FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "bucket": st.sampled_from(["docs", "other"]),
        "prefix": st.sampled_from(["", "inbox/", "out/"]),
        "suffix": st.sampled_from([".docx", ".pdf", "y"]),
        "glob": st.sampled_from(["*.docx", "inbox/*", "*/*", "?*"]),
        "events": st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    OSS_FILTERS, st.sampled_from(["docs", "other"]), KEYS, st.sampled_from(NAMES), WRAPS, st.text(max_size=8)
)
def test_oss_filter_selects_exactly_what_its_rule_says(
    fields: dict[str, Any], bucket: str, key: str, event: str, how: str, message_id: str
) -> None:
    chosen = EventFilter.from_kwargs("oss", **fields)
    records = chosen.select(wrap(oss_message(bucket, key, event), how), message_id)
    if not expected_oss(fields, bucket, key, event):
        assert records == []
        return
    assert records == [
        {
            "source": "oss",
            "bucket": bucket,
            "key": key,
            "size": 7,
            "etag": "ET",
            "event": event,
            "time": "2026-11-29T12:00:00.000Z",
            "message_id": message_id,
        }
    ]


TASK_TYPES = ["OfficeConversion", "FileCompression"]
IMM_FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "task_types": st.lists(st.sampled_from(TASK_TYPES), max_size=2),
        "projects": st.lists(st.sampled_from(["p1", "p2"]), max_size=2),
        "statuses": st.lists(st.sampled_from(["Succeeded", "Failed"]), max_size=2),
        "tags": st.dictionaries(st.sampled_from(["team", "job"]), st.sampled_from(["a", "b"]), max_size=2),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    IMM_FILTERS,
    st.sampled_from(TASK_TYPES),
    st.sampled_from(["p1", "p2"]),
    st.sampled_from(["Succeeded", "Failed"]),
    st.dictionaries(st.sampled_from(["team", "job"]), st.sampled_from(["a", "b"]), max_size=2),
    WRAPS,
)
def test_imm_filter_selects_exactly_what_its_rule_says(
    fields: dict[str, Any], task_type: str, project: str, status: str, tags: dict[str, str], how: str
) -> None:
    payload = {"ProjectName": project, "TaskId": "T1", "TaskType": task_type, "Status": status, "Tags": tags}
    records = EventFilter.from_kwargs("imm", **fields).select(wrap(json.dumps(payload), how), "m")
    wanted = (
        (not fields.get("task_types") or task_type in fields["task_types"])
        and (not fields.get("projects") or project in fields["projects"])
        and (not fields.get("statuses") or status in fields["statuses"])
        and all(tags.get(k) == v for k, v in fields.get("tags", {}).items())
    )
    assert [r["task_id"] for r in records] == (["T1"] if wanted else [])
    if wanted:
        assert records[0]["status"] == status and records[0]["tags"] == tags


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(CHARACTERS, max_size=200),
        JSON_VALUES.map(json.dumps),
        st.text(max_size=50).map(lambda t: wrap(t, "json")),
    ),
    st.sampled_from(["oss", "imm", "raw"]),
)
def test_no_body_makes_a_filter_raise_and_only_raw_selects_what_is_not_an_event(
    body: str, source: str
) -> None:
    records = EventFilter.from_kwargs(source).select(body, "m")
    if source == "raw":
        assert records == [{"source": "raw", "message_id": "m", "body": body}]
    else:
        assert all(r["source"] == source for r in records)


def test_an_imm_notification_is_not_an_oss_event_and_the_reverse() -> None:
    imm = json.dumps({"TaskId": "T", "Status": "Succeeded", "TaskType": "OfficeConversion"})
    oss = oss_message("docs", "k", "ObjectCreated:PutObject")
    legacy = json.dumps({"events": [{"eventSource": "acs:imm", "imm": {"taskId": "T", "code": "NoError"}}]})
    assert EventFilter.from_kwargs("oss").select(imm, "m") == []
    assert EventFilter.from_kwargs("oss").select(legacy, "m") == []
    assert EventFilter.from_kwargs("imm").select(oss, "m") == []


@pytest.mark.parametrize("source", ["oss", "imm", "raw"])
def test_an_oversized_body_is_selected_by_no_filter(source: str) -> None:
    body = oss_message("docs", "k" * MAX_BODY_CHARS, "ObjectCreated:PutObject")
    assert EventFilter.from_kwargs(source).select(body, "m") == []


@pytest.mark.parametrize(
    ("source", "fields", "field"),
    [
        ("oss", {"bucket": ""}, "bucket"),
        ("oss", {"bucket": 3}, "bucket"),
        ("oss", {"prefix": "p" * 2000}, "prefix"),
        ("oss", {"events": []}, "events"),
        ("oss", {"events": ["ObjectMoved:*"]}, "events"),
        ("oss", {"task_types": ["X"]}, "task_types"),
        ("imm", {"statuses": "Running"}, "statuses"),
        ("imm", {"tags": {"a": 1}}, "tags"),
        ("imm", {"bucket": "docs"}, "bucket"),
        ("raw", {"prefix": "x"}, "prefix"),
        ("kafka", {}, "source"),
    ],
)
def test_bad_fields_are_named_with_what_they_take(source: str, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(EventFilterError) as caught:
        EventFilter.from_kwargs(source, **fields)
    assert caught.value.field == field
    assert len(str(caught.value)) < 400


@settings(max_examples=200, deadline=None)
@given(st.one_of(OSS_FILTERS.map(lambda f: ("oss", f)), IMM_FILTERS.map(lambda f: ("imm", f))))
def test_kwargs_round_trip_and_do_not_depend_on_order(kind_fields: tuple[str, dict[str, Any]]) -> None:
    kind, fields = kind_fields
    built = EventFilter.from_kwargs(kind, **fields)
    assert EventFilter.from_kwargs(**built.to_kwargs()) == built
    reordered = {k: list(reversed(v)) if isinstance(v, list) else v for k, v in reversed(fields.items())}
    assert EventFilter.from_kwargs(kind, **reordered).to_kwargs() == built.to_kwargs()
    json.dumps(built.to_kwargs())
